"""The floor: validate-token with no framework, as a plain WSGI app (gunicorn floor:application).

It does the work Kriya's validate-token must do and nothing else: parse the JSON body, check
X-API-Key in constant time, decode the JWT with PyJWT (same secret, algorithm, issuer and required
claims), load the user's columns with one primary-key SELECT over a persistent psycopg 3 connection
per worker, and answer the same JSON. bench/run.py compares Kriya's req/s and latency with it.

Configured by the environment bench/run.py passes: JWT_SECRET_KEY, JWT_ALGORITHM, PLANE_API_KEY
(comma-separated) and DATABASE_URL.
"""

import hmac
import json
import os
import uuid

import jwt
import psycopg

JWT_SECRET_KEY = os.environ["JWT_SECRET_KEY"]
JWT_ALGORITHM = os.environ.get("JWT_ALGORITHM", "HS256")
JWT_ISSUER = "kriya-auth"  # kriya.settings.JWT_ISSUER (bench/run.py's probe fails if they differ)
REQUIRED_CLAIMS = ["user_id", "phone_number", "token_version", "exp", "iat", "iss", "jti"]
API_KEYS = [key.encode() for key in os.environ["PLANE_API_KEY"].split(",") if key]
DATABASE_URL = os.environ["DATABASE_URL"]
MAX_BODY = 16 * 1024
USER_SQL = (
    "SELECT id, phone_number, first_name, last_name, email, created_at, token_version, is_active"
    " FROM users WHERE id = %s"
)

_conn = None  # one per worker process, opened on first use (after gunicorn forks)


def _fetch_user(user_id):
    global _conn
    for attempt in (1, 2):  # a connection the server dropped is reopened once
        try:
            if _conn is None or _conn.closed:
                # UTC so created_at renders as DRF renders it; autocommit as Django runs.
                _conn = psycopg.connect(DATABASE_URL, autocommit=True, options="-c TimeZone=UTC")
            return _conn.execute(USER_SQL, (user_id,)).fetchone()
        except psycopg.OperationalError:
            _conn = None
            if attempt == 2:
                raise


def _answer(start_response, status, body):
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()  # DRF's compact JSON
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _invalid(reason):
    return {"valid": False, "user": None, "message": reason}


def _validate(token):
    try:
        payload = jwt.decode(
            token, JWT_SECRET_KEY, algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER, options={"require": REQUIRED_CLAIMS}
        )
        user_id = uuid.UUID(str(payload["user_id"]))
    except (jwt.InvalidTokenError, ValueError):
        return _invalid("Token is invalid")
    row = _fetch_user(user_id)
    if row is None:
        return _invalid("User not found")
    id_, phone, first, last, email, created_at, version, active = row
    if not active:
        return _invalid("User account is disabled")
    if version != payload["token_version"]:
        return _invalid("Token has been revoked")
    created = created_at.isoformat()
    user = {
        "id": str(id_),
        "phone_number": phone,
        "first_name": first,
        "last_name": last,
        "email": email,
        "created_at": created[:-6] + "Z" if created.endswith("+00:00") else created,  # as DRF does
    }
    return {"valid": True, "user": user, "message": "Token is valid"}


def application(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"].rstrip("/") != "/api/auth/validate-token":
        return _answer(start_response, "404 Not Found", {"detail": "Not found."})
    presented = environ.get("HTTP_X_API_KEY", "").encode()
    # Compare with every key without stopping at a match, as Kriya's HasPlaneAPIKey does.
    if not presented or not any([hmac.compare_digest(presented, key) for key in API_KEYS]):
        return _answer(start_response, "403 Forbidden", {"detail": "Invalid API key"})
    try:
        body = json.loads(environ["wsgi.input"].read(min(int(environ.get("CONTENT_LENGTH") or 0), MAX_BODY)))
        token = body["token"]
        if not isinstance(token, str) or not token:
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _answer(start_response, "400 Bad Request", {"token": ["This field is required."]})
    try:
        return _answer(start_response, "200 OK", _validate(token))
    except psycopg.Error:
        return _answer(start_response, "503 Service Unavailable", {"detail": "Service temporarily unavailable"})
