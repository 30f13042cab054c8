from drf_spectacular.extensions import OpenApiAuthenticationExtension


def document_paths_without_trailing_slash(endpoints, **kwargs):
    """Routes accept an optional trailing slash; document the form clients call (/api/auth/register)."""
    return [(path.rstrip("/") or "/", regex, method, callback) for path, regex, method, callback in endpoints]


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "bearerJWT"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
