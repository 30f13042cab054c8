"""Per-device sessions and their rotating refresh tokens. No DRF.

A refresh token is an opaque 256-bit secret, stored only as its SHA-256. Each refresh exchanges it for its
successor, HMAC(key, token): a client that retries within REFRESH_REUSE_SECONDS (its answer was lost, or two
of its requests raced) is given the same successor, so the session keeps exactly one live refresh token.
A rotated token presented later than that is taken as stolen, and its whole session is revoked.
"""

import base64
import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.sql import InsertQuery, UpdateQuery
from django.utils import timezone
from django.utils.crypto import salted_hmac

from .models import AuditToken, RotatedRefreshToken, Session, User
from .tokens import USER_FIELDS, IssuedToken, issue_token, token_lifetime

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


def _new_session(*, user: User | None, ip_address: str | None, user_agent: str, device_name: str, now: datetime):
    """A session not yet written, and its refresh token."""
    refresh_token = secrets.token_urlsafe(32)
    session = Session(
        id=uuid.uuid4(), user=user, refresh_token_hash=hash_refresh_token(refresh_token), device_name=device_name,
        created_at=now, last_used_at=now, expires_at=now + timedelta(days=settings.SESSION_MAX_DAYS),
        ip_address=ip_address, user_agent=user_agent,
    )
    session.idle_expires_at = _idle_expiry(session, now)
    return session, refresh_token


def start_session(*, user: User, ip_address: str | None, user_agent: str, device_name: str = "") -> SessionTokens:
    """A new session for user with its first access and refresh tokens, written in one statement."""
    now = timezone.now()
    session, refresh_token = _new_session(user=user, ip_address=ip_address, user_agent=user_agent,
                                          device_name=device_name, now=now)
    access = issue_token(user, session=session, now=now)
    _write_together(session, _record(session, access, ip_address=ip_address, user_agent=user_agent))
    return SessionTokens(user=user, session=session, access=access, refresh_token=refresh_token)


def sign_in(*, phone_number: str, ip_address: str | None, user_agent: str, device_name: str = "") -> tuple[User | None, SessionTokens | None]:
    """Start a session for a known phone's user: (user, tokens); (user, None) if the user is deactivated;
    (None, None) for an unknown phone.

    On PostgreSQL the user is read and, if active, the session and its token record written by one
    statement: one round trip and one commit, the common sign-in's whole cost in the database.
    """
    if connection.vendor != "postgresql":
        user = User.objects.filter(phone_number=phone_number).first()
        if user is None or not user.is_active:
            return user, None
        return user, start_session(user=user, ip_address=ip_address, user_agent=user_agent, device_name=device_name)
    now = timezone.now()
    session, refresh_token = _new_session(user=None, ip_address=ip_address, user_agent=user_agent,
                                          device_name=device_name, now=now)
    jti = uuid.uuid4()
    issued_at, expires_at = token_lifetime(now, session)
    record = AuditToken(session=session, jti=jti, issued_at=issued_at, expires_at=expires_at, ip_address=ip_address,
                        user_agent=user_agent)
    statement = _sign_in_statement()
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, [phone_number, *statement.params(session), *statement.params(record)])
        row = cursor.fetchone()
    if row is None:
        return None, None
    user = User.from_db(connection.alias, LOADED_USER_FIELDS, row)
    if not user.is_active:  # the statement wrote nothing
        return user, None
    session.user = user
    access = issue_token(user, session=session, now=now, jti=jti)
    return user, SessionTokens(user=user, session=session, access=access, refresh_token=refresh_token)


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
    if connection.vendor == "postgresql":
        tokens = _rotate(refresh_token, token_hash, now, ip_address=ip_address, user_agent=user_agent)
        if tokens is not None:
            return tokens
    # Not a live session's current token (or not PostgreSQL): find out which case it is, under the row lock.
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


def _rotate(refresh_token: str, token_hash: str, now: datetime, *, ip_address: str | None, user_agent: str) -> SessionTokens | None:
    """The common refresh in one statement: rotate a live session's current token, record the rotated one and
    the new access token. None when the token is not a live session's current one (the statement wrote nothing).

    Two refreshes of one token queue on the session's row lock; the second no longer matches the rotated
    hash when it gets the row, and takes the slow path as a retry."""
    successor = _successor(refresh_token)
    jti = uuid.uuid4()
    issued_at, expires_at = token_lifetime(now, None)  # capped at the session's end by the statement
    rotated = RotatedRefreshToken(token_hash=token_hash, rotated_at=now)
    record = AuditToken(jti=jti, issued_at=issued_at, expires_at=expires_at, ip_address=ip_address, user_agent=user_agent)
    statement = _refresh_statement()
    params = [hash_refresh_token(successor), now, now + timedelta(days=settings.REFRESH_TOKEN_IDLE_DAYS),
              token_hash, now, now, *statement.params(rotated), *statement.params(record)]
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    count = len(statement.session_columns)
    session = Session.from_db(connection.alias, statement.session_columns, row[:count])
    session.user = User.from_db(connection.alias, LOADED_USER_FIELDS, row[count:])
    access = issue_token(session.user, session=session, now=now, jti=jti)
    return SessionTokens(user=session.user, session=session, access=access, refresh_token=successor)


def _retried(token_hash: str, refresh_token: str, now: datetime) -> tuple[Session, str | None]:
    """An already rotated token: within the reuse interval, the session's current token; later, theft,
    which revokes the session (no successor)."""
    rotated = RotatedRefreshToken.objects.filter(token_hash=token_hash).first()
    if rotated is None:
        raise InvalidRefreshToken("Invalid refresh token")
    session = _locked_session(pk=rotated.session_id)
    if session is None:  # deleted with its account since the rotated token was read
        raise InvalidRefreshToken("Invalid refresh token")
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


# --- SQL of the one-statement sign-in and refresh (PostgreSQL), built once per process from the models ---


@dataclass(frozen=True)
class _Statement:
    sql: str
    param_names: dict  # model -> the attributes whose values are parameters, in order
    session_columns: tuple = ()

    def params(self, row: models.Model) -> list:
        # The values as they are: every placeholder is cast to its column's type, which Django's per-field
        # preparation (a tenth of a sign-in's time) would only repeat. (A field whose Python value psycopg
        # cannot send as it is, a JSONField say, would need that preparation back.)
        return [getattr(row, name) for name in self.param_names[type(row)]]


def _placeholder(field: models.Field) -> str:
    # In INSERT ... SELECT, PostgreSQL does not take a parameter's type from its column: name it. Text for
    # strings, so that the column's own length check still applies.
    return "%s::text" if isinstance(field, models.CharField) else f"%s::{field.db_type(connection)}"


def _insert_select(model, source: str, derived: dict[str, str]) -> tuple[str, list[str]]:
    """INSERT INTO model's table SELECT ... FROM source, every column named: one in derived takes that SQL
    expression (of source's columns, and of the field's own value where it has a %s), any other its value.
    Returns the SQL and the attributes whose values are its parameters, in order."""
    meta = model._meta
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    values, names = [], []
    for field in fields:
        expression = derived.get(field.attname, _placeholder(field))
        values.append(expression)
        names += [field.attname] * expression.count("%s")
    columns = ", ".join(field.column for field in fields)
    return f"INSERT INTO {meta.db_table} ({columns}) SELECT {', '.join(values)} FROM {source}", names


# The user's columns these statements read, in the model's order (as Model.from_db() takes them).
LOADED_USER_FIELDS = tuple(field.attname for field in User._meta.concrete_fields if field.attname in USER_FIELDS)


@functools.cache
def _sign_in_statement() -> _Statement:
    """u: the phone's user; then, only if it is active, the new session and its first token record."""
    users = ", ".join(LOADED_USER_FIELDS)
    session, session_names = _insert_select(Session, "u WHERE u.is_active", {"user_id": "u.id"})
    record, record_names = _insert_select(AuditToken, "u WHERE u.is_active", {
        "user_id": "u.id", "token_version": "u.token_version",
    })
    sql = (f"WITH u AS (SELECT {users} FROM {User._meta.db_table} WHERE phone_number = %s), "
           f"s AS ({session}), t AS ({record}) SELECT {users} FROM u")
    return _Statement(sql, {Session: session_names, AuditToken: record_names})


@functools.cache
def _refresh_statement() -> _Statement:
    """s: the session whose current token this is, if live and its user active, rotated (its row locked);
    then the rotated token and the new access token's record. Answers the session's and the user's columns.
    Parameters: the new hash, now, the new idle expiry, the presented hash, now, now, then the two rows'."""
    sessions = Session._meta.db_table
    session_columns = tuple(field.attname for field in Session._meta.concrete_fields)
    returned = [f"{sessions}.{name}" for name in session_columns] + [f"u.{name} AS u_{name}" for name in LOADED_USER_FIELDS]
    update = (
        f"UPDATE {sessions} SET refresh_token_hash = %s::text, last_used_at = %s::timestamptz, "
        f"idle_expires_at = LEAST(%s::timestamptz, {sessions}.expires_at) FROM {User._meta.db_table} u "
        f"WHERE {sessions}.refresh_token_hash = %s::text AND {sessions}.revoked_at IS NULL "
        f"AND {sessions}.expires_at > %s::timestamptz AND {sessions}.idle_expires_at > %s::timestamptz "
        f"AND u.id = {sessions}.user_id AND u.is_active RETURNING {', '.join(returned)}"
    )
    rotated, rotated_names = _insert_select(RotatedRefreshToken, "s", {"session_id": "s.id"})
    record, record_names = _insert_select(AuditToken, "s", {
        "user_id": "s.user_id", "session_id": "s.id", "token_version": "s.u_token_version",
        # The access token never outlives its session (tokens.token_lifetime); JWT times are whole seconds.
        "expires_at": "LEAST(%s::timestamptz, date_trunc('second', s.expires_at))",
    })
    sql = f"WITH s AS ({update}), r AS ({rotated}), t AS ({record}) SELECT * FROM s"
    return _Statement(sql, {RotatedRefreshToken: rotated_names, AuditToken: record_names}, session_columns)


def live_sessions(user: User, *, limit: int = 100):
    return Session.objects.live().filter(user=user).order_by("-created_at")[:limit]


def session_for_refresh_token(refresh_token: str) -> uuid.UUID | None:
    """The session a refresh token belongs to (current or rotated), for per-session rate limits."""
    token_hash = hash_refresh_token(refresh_token)
    session_id = Session.objects.filter(refresh_token_hash=token_hash).values_list("id", flat=True).first()
    if session_id is None:
        session_id = RotatedRefreshToken.objects.filter(token_hash=token_hash).values_list("session_id", flat=True).first()
    return session_id
