from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse


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

# What each error status means, and a body it comes with, as clients see them.
ERRORS = {
    400: ("Invalid input: each field names what is wrong with it", {"phone_number": ["Enter a valid phone number."]}),
    401: ("No usable token: missing, malformed, expired or revoked", {"detail": "Token has been revoked"}),
    403: ("Forbidden", {"detail": "You do not have permission to perform this action."}),
    404: ("Not found", {"detail": "Session not found."}),
    405: ("This method is not allowed on this path", {"detail": 'Method "GET" not allowed.'}),
    409: ("The phone number belongs to another account", {"detail": "This phone number belongs to another account."}),
    410: ("This cursor's events were purged: drop every cached answer and start again without a cursor",
          {"detail": "This cursor is older than the retained revocations: drop every cached answer and start again "
                     "without one."}),
    413: ("The request body is too large (16 KiB by default)", {"detail": "Request body is too large."}),
    415: ("The body is not JSON (send Content-Type: application/json)",
          {"detail": 'Unsupported media type "text/plain" in request.'}),
    429: ("Too many requests: the Retry-After header says how many seconds to wait",
          {"detail": "Request was throttled. Expected available in 42 seconds."}),
    503: ("Temporarily unavailable (the database is unreachable); try again shortly",
          {"detail": "Service temporarily unavailable"}),
}


def error_responses(*codes: int, **descriptions: tuple[str, dict]) -> dict:
    """OpenAPI responses for the given error statuses, plus those every JSON endpoint can give.

    A keyword such as forbidden=("Wrong X-API-Key", {"detail": "Invalid API key"}) gives that status this
    endpoint's own description and example (bad_request, unauthorized, forbidden, unavailable).
    """
    named = {"bad_request": 400, "unauthorized": 401, "forbidden": 403, "unavailable": 503}
    own = {named[name]: value for name, value in descriptions.items()}
    responses = {}
    for code in sorted({*codes, 400, 405, 413, 415, 429, 503}):
        description, body = own.get(code, ERRORS[code])
        example = OpenApiExample(f"{code}", value=body, response_only=True, status_codes=[str(code)])
        responses[code] = OpenApiResponse(FIELD_ERRORS if code == 400 else DETAIL, description=description, examples=[example])
    return responses


# Realistic examples, shown by /docs and /redoc. Swagger UI's "Try it out" sends the first request example
# as it stands, so it must work against a fresh Kriya (tests/test_docs.py sends each one).
ADA = {
    "id": "5b0f7d1e-4c3a-4f1e-9a57-2f0c6c1d8e42",
    "phone_number": "+16502530001",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "created_at": "2026-01-15T09:30:00Z",
}
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoiNWIwZjdkMWUtNGMzYS00ZjFlLTlhNTctMmYwYzZjMWQ4ZTQyIn0."
    "3q2-7wQz1bX3Qy0c5M3v2mJ8iY0dOqk1nE4b6H9sLxA"
)

REFRESH_TOKEN = "Zq3vX8cT1mN0bK7pL2sR9wY4eH6uJ5aD0fG3iQ8oV1k"
SESSION_ID = "8c6e2f14-93b7-4d0a-b5e1-7a2c9d3f6b80"

REGISTER_EXAMPLES = [
    OpenApiExample("A new phone number", request_only=True, value={
        "phone_number": "+16502530001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}),
    OpenApiExample("Logging in again", request_only=True, value={"phone_number": "+16502530001"},
                   description="A known phone number: the profile fields are not needed, and never changed."),
    OpenApiExample("With a verification code", request_only=True,
                   value={"phone_number": "+16502530001", "first_name": "Ada", "code": "482913"},
                   description="When phone verification is on: the code texted by POST /api/auth/otp/request."),
    OpenApiExample("Registered", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Registration successful", "token": JWT, "user": ADA,
        "expires_at": "2026-01-16T09:30:00Z", "refresh_token": REFRESH_TOKEN,
        "refresh_expires_at": "2026-02-14T09:30:00Z", "session_id": SESSION_ID}),
]
VALIDATE_EXAMPLES = [
    OpenApiExample("A token", request_only=True, value={"token": JWT}),
    OpenApiExample("Valid", response_only=True, status_codes=["200"],
                   value={"valid": True, "user": ADA, "message": "Token is valid"}),
    OpenApiExample("Revoked", response_only=True, status_codes=["200"],
                   value={"valid": False, "user": None, "message": "Token has been revoked"}),
]
USER_EXAMPLES = [OpenApiExample("The user", response_only=True, status_codes=["200"], value=ADA)]
LOGOUT_EXAMPLES = [OpenApiExample("Logged out", response_only=True, status_codes=["200"],
                                  value={"success": True, "message": "Logged out successfully"})]
OTP_EXAMPLES = [
    OpenApiExample("A phone number", request_only=True, value={"phone_number": "+16502530001"}),
    OpenApiExample("Sent", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}),
]
HEALTH_EXAMPLES = [
    OpenApiExample("Healthy", response_only=True, status_codes=["200"], value={"status": "healthy", "database": "ok"}),
    OpenApiExample("Database down", response_only=True, status_codes=["503"],
                   value={"status": "unhealthy", "database": "unavailable"}),
]

REFRESH_EXAMPLES = [
    OpenApiExample("A refresh token", request_only=True, value={"refresh_token": REFRESH_TOKEN}),
    OpenApiExample("Refreshed", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Token refreshed", "token": JWT, "user": ADA, "expires_at": "2026-01-17T08:00:00Z",
        "refresh_token": "p4Lw9eT2yU7iO1aS6dF3gH8jK0lZ5xC2vB9nM4qW7rE", "refresh_expires_at": "2026-02-15T08:00:00Z",
        "session_id": SESSION_ID}),
]
SESSIONS_EXAMPLES = [OpenApiExample("Two devices", response_only=True, status_codes=["200"], value={"sessions": [
    {"id": SESSION_ID, "device_name": "Ada's Pixel", "ip_address": "203.0.113.7", "user_agent": "KriyaApp/2.1 (Android 15)",
     "created_at": "2026-01-15T09:30:00Z", "last_used_at": "2026-01-17T08:00:00Z",
     "idle_expires_at": "2026-02-16T08:00:00Z", "expires_at": "2026-04-15T09:30:00Z", "current": True},
    {"id": "1d9b7a55-0e2c-4f63-8a41-6c5e3b2d7f19", "device_name": "Laptop", "ip_address": "198.51.100.23",
     "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "created_at": "2026-01-10T18:02:11Z",
     "last_used_at": "2026-01-16T21:40:05Z", "idle_expires_at": "2026-02-15T21:40:05Z",
     "expires_at": "2026-04-10T18:02:11Z", "current": False},
]})]
SESSION_REVOKED_EXAMPLES = [OpenApiExample("Signed out", response_only=True, status_codes=["200"],
                                           value={"success": True, "message": "Session revoked"})]
PROFILE_EXAMPLES = [
    OpenApiExample("A new name and email", request_only=True, value={"first_name": "Augusta", "email": "augusta@example.com"}),
    OpenApiExample("Updated", response_only=True, status_codes=["200"],
                   value={**ADA, "first_name": "Augusta", "email": "augusta@example.com"}),
]
DELETE_ACCOUNT_EXAMPLES = [
    OpenApiExample("With phone verification on: the code from POST /api/auth/user/code", request_only=True,
                   value={"code": "482913"}),
    OpenApiExample("Deleted", response_only=True, status_codes=["200"], value={"success": True, "message": "Account deleted"}),
]
PHONE_CHANGE_EXAMPLES = [
    OpenApiExample("The new number", request_only=True, value={"phone_number": "+16502530099"}),
    OpenApiExample("Sent", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}),
]
ACCOUNT_CODE_EXAMPLES = [
    OpenApiExample("A code to delete the account", request_only=True, value={"purpose": "delete_account"}),
    OpenApiExample("Sent", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}),
]
PHONE_VERIFY_EXAMPLES = [
    OpenApiExample("The two codes", request_only=True,
                   value={"phone_number": "+16502530099", "code": "482913", "current_code": "551207"}),
    OpenApiExample("Moved", response_only=True, status_codes=["200"], value={
        "success": True, "message": "Phone number changed. Sign in again with the new number.",
        "user": {**ADA, "phone_number": "+16502530099"}}),
]
REVOCATION_EXAMPLES = [
    OpenApiExample("Two revocations", response_only=True, status_codes=["200"], value={"events": [
        {"id": 42, "type": "logout", "user_id": ADA["id"], "session_id": None, "token_version": 3,
         "at": "2026-01-17T08:00:00Z"},
        {"id": 43, "type": "session_revoked", "user_id": ADA["id"], "session_id": SESSION_ID, "token_version": 3,
         "at": "2026-01-17T08:00:02Z"},
    ], "cursor": "43"}),
    OpenApiExample("Nothing new", response_only=True, status_codes=["200"], value={"events": [], "cursor": "43"}),
]
READY_EXAMPLES = [
    OpenApiExample("Ready", response_only=True, status_codes=["200"], value={"status": "ready", "database": "ok", "cache": "ok"}),
    OpenApiExample("Cache down", response_only=True, status_codes=["200"],
                   value={"status": "degraded", "database": "ok", "cache": "unavailable"}),
    OpenApiExample("Database down", response_only=True, status_codes=["503"],
                   value={"status": "unready", "database": "unavailable", "cache": "ok"}),
]
LIVE_EXAMPLES = [OpenApiExample("Alive", response_only=True, status_codes=["200"], value={"status": "alive"})]
