"""Issue and check Kriya's JWTs. Plain functions over PyJWT; callers translate InvalidToken."""

import base64
import functools
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from django.conf import settings
from django.db import connection
from django.utils import timezone

from .models import Session, User

MAX_TOKEN_LENGTH = 4096  # Kriya's tokens are about 400 characters
REQUIRED_CLAIMS = ["user_id", "phone_number", "token_version", "exp", "iat", "iss", "jti"]
# What validation needs and the response shows; nothing else is loaded on the hot path.
USER_FIELDS = ("id", "phone_number", "first_name", "last_name", "email", "created_at", "token_version", "is_active")
SESSION_FIELDS = ("revoked_at", "expires_at")  # what makes a session's access tokens acceptable


# Each refusal's reason, mapped to the few outcomes metrics count (accounts/metrics.py); any other is "invalid".
REASON_OUTCOMES = {
    "Token has been revoked": "revoked",
    "Token has expired": "expired",
    "Token is malformed": "malformed",
    "Token was signed with an unknown key": "unknown_key",
    "Token signature is invalid": "bad_signature",
    "User not found": "unknown_user",
    "User account is disabled": "disabled",
    "Session has been revoked": "revoked",  # one device signed out: a revocation like any other
    "Session has expired": "expired",
    "Session not found": "unknown_user",  # no such session of that user (or no such user)
}


class InvalidToken(Exception):
    """The token must not be accepted; reason is safe to show to the caller."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason

    @property
    def outcome(self) -> str:
        return REASON_OUTCOMES.get(self.reason, "invalid")


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: uuid.UUID
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class VerifiedToken:
    user: User
    session_id: uuid.UUID | None  # None for tokens issued before sessions existed
    expires_at: int  # the exp claim, epoch seconds


def key_id(secret: str) -> str:
    """A short public fingerprint of a signing key, sent as the token's `kid` header; never the key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _keys_by_id(current: str, previous: tuple[str, ...]) -> dict[str, str]:
    return {key_id(key): key for key in (*previous, current) if key}


def _unverified_kid(token: str):
    """The header's kid, read only to choose the key; jwt.decode then checks the whole token, header
    included. (jwt.get_unverified_header would decode and check every segment a second time.)"""
    header = token.partition(".")[0]
    try:
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("kid")
    except (ValueError, AttributeError, RecursionError):
        return None  # not a JWT: jwt.decode says so


def verification_key(token: str) -> str:
    """The key that must have signed token: the current one or a previous one still trusted (rotation)."""
    kid = _unverified_kid(token)
    if not isinstance(kid, str):  # none, or one jwt.decode refuses
        return settings.JWT_SECRET_KEY
    keys = _keys_by_id(settings.JWT_SECRET_KEY, tuple(settings.JWT_PREVIOUS_SECRET_KEYS))
    if kid not in keys:
        raise InvalidToken("Token was signed with an unknown key")
    return keys[kid]


def token_lifetime(now: datetime, session: Session | None) -> tuple[datetime, datetime]:
    """When a token issued now is issued and expires: whole seconds, as in the JWT."""
    issued_at = now.replace(microsecond=0)
    expires_at = issued_at + timedelta(hours=settings.TOKEN_EXPIRY_HOURS)
    if session is not None:  # a token never outlives its session
        expires_at = min(expires_at, session.expires_at.replace(microsecond=0))
    return issued_at, expires_at


def issue_token(user: User, *, session: Session | None = None, now: datetime | None = None,
                jti: uuid.UUID | None = None) -> IssuedToken:
    """A signed access token; jti when its record was written with that id beforehand."""
    issued_at, expires_at = token_lifetime(now or timezone.now(), session)
    jti = jti or uuid.uuid4()
    payload = {
        "user_id": str(user.pk),
        "phone_number": user.phone_number,
        "token_version": user.token_version,
        "exp": expires_at,
        "iat": issued_at,
        "iss": settings.JWT_ISSUER,
        "jti": str(jti),
    }
    if session is not None:
        payload["sid"] = str(session.pk)
    secret = settings.JWT_SECRET_KEY
    token = jwt.encode(payload, secret, algorithm=settings.JWT_ALGORITHM, headers={"kid": key_id(secret)})
    return IssuedToken(token=token, jti=jti, issued_at=issued_at, expires_at=expires_at)


def decode_token(token: str) -> dict:
    """Verify signature, algorithm, issuer, expiry and claims; return the payload."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("Token is malformed")
    payload = _decode(token)
    check_lifetime(payload)
    return payload


def check_lifetime(payload: dict) -> None:
    """exp and iat as Kriya issues them: whole seconds, at most TOKEN_EXPIRY_HOURS apart.

    PyJWT accepts any value int() takes ("1700000000", 1.7e9); a validly signed token must not carry one
    into arithmetic (validate-token's max-age), nor live longer than the service would ever issue it for.
    """
    for claim in ("exp", "iat"):
        if type(payload[claim]) is not int:  # not bool, float or str
            raise InvalidToken(f"Token has an invalid '{claim}' claim")
    if payload["exp"] - payload["iat"] > settings.TOKEN_EXPIRY_HOURS * 3600:
        raise InvalidToken("Token lifetime is longer than allowed")


def _decode(token: str) -> dict:
    try:
        return jwt.decode(
            token,
            verification_key(token),
            algorithms=[settings.JWT_ALGORITHM],  # pinned: no "none", no algorithm chosen by the token
            issuer=settings.JWT_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("Token has expired") from None
    except jwt.InvalidIssuerError:
        raise InvalidToken("Token has an invalid issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"Token is missing the '{exc.claim}' claim") from None
    except jwt.ImmatureSignatureError:
        raise InvalidToken("Token is not yet valid") from None
    except jwt.InvalidAlgorithmError:
        raise InvalidToken("Token algorithm is not allowed") from None
    except jwt.InvalidSignatureError:
        raise InvalidToken("Token signature is invalid") from None
    except jwt.DecodeError:
        raise InvalidToken("Token is malformed") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("Token is invalid") from None
    except RecursionError:  # JSON nested thousands deep, which PyJWT does not catch
        raise InvalidToken("Token is malformed") from None


@functools.cache
def _lookup(with_session: bool):
    """Django's compiled SELECT for validation, its columns split by model, and its converters.

    Compiled once per process, so validate-token skips the ORM's query compiler (which cost more than the
    query itself), and the unchanging SQL lets psycopg prepare the statement. A token bound to a session
    reads the user through a join on the session: still one query.
    """
    if with_session:
        query = Session.objects.select_related("user").only("user", *SESSION_FIELDS, *(f"user__{f}" for f in USER_FIELDS))
        # By the session's primary key alone: with the user's id too, PostgreSQL's generic plan for the
        # prepared statement may walk the user's every session. The user is checked below.
        query = query.filter(pk=uuid.UUID(int=1))
    else:
        query = User.objects.only(*USER_FIELDS).filter(pk=uuid.UUID(int=2))
    compiler = query.order_by().query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    prep = User._meta.pk.get_db_prep_value
    expected = [prep(uuid.UUID(int=1 if with_session else 2), connection)]
    if list(params) != expected:  # the parameters are bound by position below
        raise RuntimeError(f"unexpected parameters in the validation query: {params}")
    columns = [column for column, _, _ in compiler.select]
    fields = [(column.target.model is User, column.target.attname) for column in columns]
    # Converters turn SQLite's text UUIDs and timestamps into Python values; PostgreSQL needs none.
    return sql, fields, compiler, compiler.get_converters(columns)


def _fetch(user_id: uuid.UUID, session_id: uuid.UUID | None) -> tuple[User, dict] | None:
    """The user's validation fields, and its session's when session_id is given; None when there is no row."""
    sql, fields, compiler, converters = _lookup(session_id is not None)
    prep = User._meta.pk.get_db_prep_value
    params = [prep(user_id if session_id is None else session_id, connection)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = next(compiler.apply_converters([row], converters))
    user_names, user_values, session = [], [], {}
    for (of_user, name), value in zip(fields, row):
        if of_user:
            user_names.append(name)
            user_values.append(value)
        else:
            session[name] = value
    return User.from_db(connection.alias, user_names, user_values), session


def _claim_uuid(payload: dict, claim: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(payload[claim]))
    except ValueError:
        raise InvalidToken(f"Token has an invalid '{claim}' claim") from None


def verify_token(token: str) -> VerifiedToken:
    """The active user a token belongs to, and its session, with one query; or raise InvalidToken."""
    payload = decode_token(token)
    user_id = _claim_uuid(payload, "user_id")
    session_id = _claim_uuid(payload, "sid") if "sid" in payload else None
    version = payload["token_version"]
    if type(version) is not int:
        raise InvalidToken("Token has an invalid 'token_version' claim")
    found = _fetch(user_id, session_id)
    if found is None or found[0].pk != user_id:  # a session of someone else is no session of this user's
        raise InvalidToken("User not found" if session_id is None else "Session not found")
    user, session = found
    if not user.is_active:
        raise InvalidToken("User account is disabled")
    if user.token_version != version:
        raise InvalidToken("Token has been revoked")
    if session_id is not None:
        if session["revoked_at"] is not None:
            raise InvalidToken("Session has been revoked")
        if session["expires_at"] <= timezone.now():
            raise InvalidToken("Session has expired")
    return VerifiedToken(user=user, session_id=session_id, expires_at=payload["exp"])


def user_for_token(token: str) -> User:
    """Return the active user a token belongs to, with one query, or raise InvalidToken."""
    return verify_token(token).user
