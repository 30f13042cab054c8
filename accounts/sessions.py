"""Per-device sessions and their rotating refresh tokens. No DRF.

A refresh token is an opaque 256-bit secret, stored only as its SHA-256. Each refresh exchanges it for its
successor, HMAC(key, token): a client that retries within REFRESH_REUSE_SECONDS (its answer was lost, or two
of its requests raced) is given the same successor, so the session keeps exactly one live refresh token.
A rotated token presented later than that is taken as stolen, and its whole session is revoked.
"""

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import AuditToken, RotatedRefreshToken, Session, User
from .tokens import IssuedToken, issue_token

SUCCESSORS_SEARCHED = 5  # how many rotations a retry may lag behind and still find the session's token


class InvalidRefreshToken(Exception):
    """The refresh token must not be accepted; reason is safe to show to the caller."""

    def __init__(self, reason: str, *, reuse: bool = False, session: Session | None = None):
        super().__init__(reason)
        self.reason = reason
        self.reuse = reuse  # a rotated token came back too late: the session was revoked
        self.session = session


@dataclass(frozen=True)
class SessionTokens:
    """What a sign-in or a refresh hands the client: an access token and the session's refresh token."""

    user: User
    session: Session
    access: IssuedToken
    refresh_token: str


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _successor(token: str) -> str:
    digest = salted_hmac("kriya.refresh-token", token, algorithm="sha256").digest()  # keyed by SECRET_KEY
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _idle_expiry(session: Session, now: datetime) -> datetime:
    return min(now + timedelta(days=settings.REFRESH_TOKEN_IDLE_DAYS), session.expires_at)


def _record(session: Session, access: IssuedToken, *, ip_address: str | None, user_agent: str) -> AuditToken:
    return AuditToken(
        user_id=session.user_id,
        session=session,
        jti=access.jti,
        token_version=session.user.token_version,
        issued_at=access.issued_at,
        expires_at=access.expires_at,
        ip_address=ip_address,
        user_agent=user_agent,
    )


def start_session(*, user: User, ip_address: str | None, user_agent: str, device_name: str = "") -> SessionTokens:
    """A new session for user with its first access and refresh tokens, written in one statement."""
    now = timezone.now()
    refresh_token = secrets.token_urlsafe(32)
    session = Session(
        id=uuid.uuid4(), user=user, refresh_token_hash=hash_refresh_token(refresh_token), device_name=device_name,
        created_at=now, last_used_at=now, expires_at=now + timedelta(days=settings.SESSION_MAX_DAYS),
        ip_address=ip_address, user_agent=user_agent,
    )
    session.idle_expires_at = _idle_expiry(session, now)
    access = issue_token(user, session=session, now=now)
    _write_together(session, _record(session, access, ip_address=ip_address, user_agent=user_agent))
    return SessionTokens(user=user, session=session, access=access, refresh_token=refresh_token)


def _write_together(*rows, update=None) -> None:
    """INSERT new rows of several models, and UPDATE a queryset with values (update=(queryset, values)),
    in one statement on PostgreSQL: one round trip, atomic by itself. Elsewhere, in one transaction.
    Round trips, and the commit's wait, are most of what a sign-in or a refresh costs."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for row in rows:
                row.save(force_insert=True)
            if update is not None:
                update[0].update(**update[1])
        return
    statements = []
    for row in rows:
        meta = row._meta
        query = InsertQuery(type(row))
        query.insert_values([field for field in meta.local_concrete_fields if field is not meta.auto_field], [row])
        [statement] = query.get_compiler(connection=connection).as_sql()
        statements.append(statement)
    if update is not None:
        queryset, values = update
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(values)
        statements.append(query.get_compiler(connection=connection).as_sql())
    # Data-modifying WITH clauses all run; Django's foreign keys are checked at commit, when every row is in.
    *first, (sql, params) = statements
    if first:
        sql = "WITH " + ", ".join(f"q{n} AS ({part})" for n, (part, _) in enumerate(first)) + " " + sql
        params = [param for _, part_params in first for param in part_params] + list(params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _check_live(session: Session, now: datetime) -> None:
    if session.revoked_at is not None:
        raise InvalidRefreshToken("Session has been revoked")
    if min(session.expires_at, session.idle_expires_at) <= now:
        raise InvalidRefreshToken("Session has expired")
    if not session.user.is_active:
        raise InvalidRefreshToken("User account is disabled")


def _locked_session(**lookup) -> Session | None:
    # Only the session row is locked: validate-token and logout never wait on a refresh.
    return Session.objects.select_for_update(of=("self",)).select_related("user").filter(**lookup).first()


def refresh_session(*, refresh_token: str, ip_address: str | None, user_agent: str) -> SessionTokens:
    """Exchange a refresh token for a new access token and the session's next refresh token.

    Raises InvalidRefreshToken; with reuse=True the session has been revoked (and that is committed).
    """
    now = timezone.now()
    token_hash = hash_refresh_token(refresh_token)
    with transaction.atomic():
        session = _locked_session(refresh_token_hash=token_hash)
        rotated = []
        if session is not None:  # the session's current token: rotate it
            _check_live(session, now)
            successor = _successor(refresh_token)
            rotated.append(RotatedRefreshToken(token_hash=token_hash, session=session, rotated_at=now))
            session.refresh_token_hash = hash_refresh_token(successor)
        else:
            session, successor = _retried(token_hash, refresh_token, now)
        if successor is not None:
            session.last_used_at = now
            session.idle_expires_at = _idle_expiry(session, now)
            access = issue_token(session.user, session=session, now=now)
            changes = {name: getattr(session, name) for name in ("refresh_token_hash", "last_used_at", "idle_expires_at")}
            record = _record(session, access, ip_address=ip_address, user_agent=user_agent)
            _write_together(*rotated, record, update=(Session.objects.filter(pk=session.pk), changes))
    if successor is None:  # raised only now, so that the revocation above is committed
        raise InvalidRefreshToken("Refresh token has already been used", reuse=True, session=session)
    return SessionTokens(user=session.user, session=session, access=access, refresh_token=successor)


def _retried(token_hash: str, refresh_token: str, now: datetime) -> tuple[Session, str | None]:
    """An already rotated token: within the reuse interval, the session's current token; later, theft,
    which revokes the session (no successor)."""
    rotated = RotatedRefreshToken.objects.filter(token_hash=token_hash).first()
    if rotated is None:
        raise InvalidRefreshToken("Invalid refresh token")
    session = _locked_session(pk=rotated.session_id)
    _check_live(session, now)
    if now - rotated.rotated_at > timedelta(seconds=settings.REFRESH_REUSE_SECONDS):
        Session.objects.filter(pk=session.pk).revoke(reason="refresh_token_reused", now=now)
        return session, None
    successor = refresh_token
    for _ in range(SUCCESSORS_SEARCHED):
        successor = _successor(successor)
        if hash_refresh_token(successor) == session.refresh_token_hash:
            return session, successor
    raise InvalidRefreshToken("Refresh token has already been used")


def live_sessions(user: User, *, limit: int = 100):
    return Session.objects.live().filter(user=user).order_by("-created_at")[:limit]


def session_for_refresh_token(refresh_token: str) -> uuid.UUID | None:
    """The session a refresh token belongs to (current or rotated), for per-session rate limits."""
    token_hash = hash_refresh_token(refresh_token)
    session_id = Session.objects.filter(refresh_token_hash=token_hash).values_list("id", flat=True).first()
    if session_id is None:
        session_id = RotatedRefreshToken.objects.filter(token_hash=token_hash).values_list("session_id", flat=True).first()
    return session_id
