from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse


def document_paths_without_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; document the form clients call (/api/auth/register)."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "bearerJWT"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


# Error bodies Kriya can answer with, for the OpenAPI document (schemathesis checks responses against it).
DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
FIELD_ERRORS = {  # {"field": ["message"]}, or {"detail": "..."} for a body that is not JSON
    "type": "object",
    "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
}


def error_responses(*codes: int) -> dict:
    """OpenAPI responses for the given error statuses, plus those every JSON endpoint can give."""
    responses = {code: OpenApiResponse(DETAIL) for code in (*codes, 405, 413, 415, 429, 503)}
    responses[400] = OpenApiResponse(FIELD_ERRORS, description="Invalid input, named by field")
    return responses
