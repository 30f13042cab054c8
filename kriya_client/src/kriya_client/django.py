"""Django glue: the client from settings, the user resolver, sign-in by token exchange, the revocation hooks.

Settings (only KRIYA_BACKEND_URL and KRIYA_API_KEY are required):
  KRIYA_BACKEND_URL, KRIYA_API_KEY        where Kriya answers, and one of its PLANE_API_KEY values
  KRIYA_TIMEOUT (5)                        seconds per request to Kriya
  KRIYA_CACHE ("memory")                   "memory" (per process) or the alias of a Django cache (e.g. "default")
  KRIYA_CACHE_MAX_ENTRIES (10000)          bound of the in-process cache
  KRIYA_CACHE_MAX_SECONDS (300)            no answer is reused longer, whatever Kriya's max-age
  KRIYA_REVOCATION_POLL_SECONDS (1)        how often the follower reads the feed
  KRIYA_MAX_STALENESS_SECONDS (5)          cached answers count only while the follower polled this recently
  KRIYA_FOLLOWER ("thread")                "thread": a daemon thread in each process; "command": a separate
                                           `manage.py kriya_follow_revocations` (needs a shared KRIYA_CACHE)
  KRIYA_ON_REVOKED                         dotted path of hook(event); default delete_revoked_sessions
  KRIYA_ON_RESET                           dotted path of hook() for a 410; default delete_all_signed_in_sessions
  KRIYA_USER_RESOLVER                      dotted path of resolver(kriya_user) -> local user; default find_or_create_user
  KRIYA_ADAPTER                            dotted path of the KriyaAdapter class (kriya_client.adapter): how users are
                                           found, created and signed in; Plane: kriya_client.plane.adapter.PlaneAdapter
  KRIYA_CACHE_LOCAL_USER (True)            keep the resolved local user with the cached answer (no query per request)
  KRIYA_PHONE_FIELD ("mobile_number")      the local user's field that receives the phone number, if the model has it
  KRIYA_EMAIL_DOMAIN ("phone.kriya.invalid")  domain of the synthetic email of email-keyed user models
  KRIYA_PLANE_BEARER (False)               Plane only: its base API views also take Kriya tokens (kriya_client.plane)
"""

from __future__ import annotations

import copy
import os
import threading

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.http import JsonResponse
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from .adapter import get_adapter
from .cache import DjangoCache, MemoryCache
from .client import KriyaClient
from .errors import KriyaUnavailable, SignUpClosed
from .tokens import unverified_claims


class DatabaseCursorStore:
    """The followers' cursor_store: one row of the kriya_client app's table, shared by every process."""

    name = "default"

    def load(self):
        from .models import FollowerCursor  # models need the app registry: imported when used

        return FollowerCursor.objects.filter(name=self.name).values_list("cursor", flat=True).first()

    def save(self, cursor):
        from .models import FollowerCursor

        # Not update_or_create(): its transaction reads before it writes, which SQLite refuses under contention.
        if not FollowerCursor.objects.filter(name=self.name).update(cursor=cursor):
            FollowerCursor.objects.get_or_create(name=self.name, defaults={"cursor": cursor})

    def close(self):
        """The follower stops: close the connection Django opened for its thread (nobody else would)."""
        from django.db import connection

        connection.close()

_clients: dict[int, KriyaClient] = {}  # one per process: a forked child must not share its parent's sockets
_lock = threading.Lock()


def setting(name: str, default=None):
    return getattr(settings, name, default)


def get_client(start_follower: bool | None = None) -> KriyaClient:
    """This process's KriyaClient, built from settings; with KRIYA_FOLLOWER="thread" its follower is running."""
    pid = os.getpid()
    client = _clients.get(pid)
    if start_follower is None and client is not None and client.follower is not None and client.follower._pid == pid:
        return client  # the hot path: this process's client, already following
    if client is None:
        with _lock:
            client = _clients.get(pid)
            if client is None:
                client = _clients[pid] = build_client()
    if start_follower is None:
        start_follower = setting("KRIYA_FOLLOWER", "thread") == "thread"
    if start_follower and (client.follower is None or client.follower._pid != pid):
        follow(client)
    return client


def build_client() -> KriyaClient:
    url, key = setting("KRIYA_BACKEND_URL"), setting("KRIYA_API_KEY")
    if not url or not key:
        raise ImproperlyConfigured("Set KRIYA_BACKEND_URL and KRIYA_API_KEY to use Kriya")
    staleness = float(setting("KRIYA_MAX_STALENESS_SECONDS", 5))
    max_seconds = float(setting("KRIYA_CACHE_MAX_SECONDS", 300))
    alias = setting("KRIYA_CACHE", "memory")
    if alias == "memory":
        cache = MemoryCache(max_entries=int(setting("KRIYA_CACHE_MAX_ENTRIES", 10000)), max_staleness=staleness)
    else:
        from django.core.cache import caches

        cache = DjangoCache(caches[alias], max_staleness=staleness, max_entry_seconds=max_seconds)
    if setting("KRIYA_FOLLOWER", "thread") == "command" and alias == "memory":
        raise ImproperlyConfigured('KRIYA_FOLLOWER="command" needs a shared KRIYA_CACHE (a Django cache alias)')
    client = KriyaClient(url, key, timeout=float(setting("KRIYA_TIMEOUT", 5)), cache=cache,
                         max_staleness=staleness, max_cache_seconds=max_seconds)
    client.cache_local_user = bool(setting("KRIYA_CACHE_LOCAL_USER", True))  # read once: not per request
    return client


def follow(client: KriyaClient, start: bool = True):
    """client's follower with the hooks from settings; started in a daemon thread unless start=False."""
    return client.follow_revocations(
        on_revoked=import_string(setting("KRIYA_ON_REVOKED", "kriya_client.django.delete_revoked_sessions")),
        on_reset=import_string(setting("KRIYA_ON_RESET", "kriya_client.django.delete_all_signed_in_sessions")),
        poll_seconds=float(setting("KRIYA_REVOCATION_POLL_SECONDS", 1)),
        start=start,
        cursor_store=DatabaseCursorStore() if apps.is_installed("kriya_client") else None,
    )


class RevocationFollowerMiddleware:
    """Starts this process's follower when the web server loads Django, before any request, then steps aside."""

    def __init__(self, get_response):
        if setting("KRIYA_FOLLOWER", "thread") == "thread":
            get_client()
        raise MiddlewareNotUsed


def authenticate_token(token: str):
    """The local user of a valid Kriya token, or None; raises KriyaUnavailable when Kriya cannot say."""
    client = get_client()
    entry = client.check(token)
    if entry is None:
        return None
    local = entry.local
    if local is None:
        local = import_string(setting("KRIYA_USER_RESOLVER", "kriya_client.django.find_or_create_user"))(entry.user)
        if local is None or not client.cache_local_user:
            return local if local is not None and local.is_active else None
        entry.local = local
        client.cache.attach(entry)  # the next request with this token needs no database query
    if not local.is_active:
        return None
    return own_copy(local)  # the cached instance is shared by threads: each request gets its own


def own_copy(instance):
    """A copy of a model instance that shares nothing mutable with it (copy.copy, in a third of the time)."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__ = instance.__dict__.copy()
    clone._state = copy.copy(instance._state)
    clone._state.fields_cache = {}
    return clone


def find_or_create_user(kriya_user: dict):
    """The default resolver: KRIYA_ADAPTER's resolve_user() (find, or create on first sign-in, or SignUpClosed)."""
    return get_adapter().resolve_user(kriya_user)


def sign_in(request, token: str):
    """Exchange a Kriya token for a Django session (login()); the local user, or None for an invalid token.

    The session is recorded with the token's Kriya user and session, so that a revocation ends it.
    """
    user = authenticate_token(token)
    if user is None:
        return None
    claims = unverified_claims(token)
    version = claims.get("token_version")
    log_in(request, user, kriya_user_id=str(claims.get("user_id")), kriya_session_id=claims.get("sid"),
           kriya_token_version=version if isinstance(version, int) and version >= 0 else 0)
    return user


def log_in(request, user, *, kriya_user_id: str, kriya_session_id: str | None, kriya_token_version: int = 0) -> None:
    """KRIYA_ADAPTER's login(), then the record a revocation ends the session by. No record, no session: a
    session that no revocation could reach must not outlive a failed write."""
    from .models import SignedInSession

    get_adapter().login(request, user)
    try:
        # Two statements, not update_or_create(): SQLite refuses a transaction that reads, then writes, under contention.
        SignedInSession.objects.filter(session_key=request.session.session_key).delete()
        SignedInSession.objects.create(session_key=request.session.session_key, user_id=str(user.pk),
                                       kriya_user_id=kriya_user_id, kriya_session_id=kriya_session_id or None,
                                       kriya_token_version=kriya_token_version)
    except Exception:
        request.session.flush()
        raise


SIGN_UP_CLOSED = "Sign-up is closed here and this phone number has no account: ask an administrator for an invitation"


@method_decorator(csrf_exempt, name="dispatch")
class SignInView(View):
    """POST with Authorization: Bearer <Kriya token> -> a Django session cookie.

    Not CSRF-protected, and safe: the token is read only from the Authorization header, which a
    cross-site form cannot set (and a cross-site fetch cannot send without a CORS preflight).
    """

    def post(self, request):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return JsonResponse({"detail": "Send the Kriya token as Authorization: Bearer <token>"}, status=401)
        try:
            user = sign_in(request, token.strip())
        except KriyaUnavailable:
            return JsonResponse({"detail": "Authentication service unavailable"}, status=503)
        except SignUpClosed:
            return JsonResponse({"detail": SIGN_UP_CLOSED}, status=403)
        if user is None:
            return JsonResponse({"detail": "Invalid or expired token"}, status=401)
        return JsonResponse({"id": str(user.pk), user.USERNAME_FIELD: getattr(user, user.USERNAME_FIELD)})


def delete_revoked_sessions(event: dict) -> None:
    """The default on_revoked hook: end the Django sessions signed in with the revoked Kriya user or session."""
    from .models import SignedInSession

    rows = SignedInSession.objects.filter(kriya_user_id=str(event.get("user_id")))
    if event.get("session_id"):
        rows = rows.filter(kriya_session_id=str(event["session_id"]))
    elif isinstance(event.get("token_version"), int):
        # Sessions signed in with a newer token (after this logout) stay: replaying an old event is harmless.
        rows = rows.filter(kriya_token_version__lt=event["token_version"])
    _delete_sessions(rows)


def delete_all_signed_in_sessions() -> None:
    """The default on_reset hook (the feed's cursor expired: revocations may have been missed)."""
    from .models import SignedInSession

    _delete_sessions(SignedInSession.objects.all())


def _delete_sessions(rows) -> None:
    from importlib import import_module

    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = list(rows.values_list("session_key", flat=True))
    for key in keys:
        store(session_key=key).delete()
    rows.model.objects.filter(session_key__in=keys).delete()
