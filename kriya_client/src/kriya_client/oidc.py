"""Sign in from a browser with OpenID Connect against Kriya: authorization code with PKCE, state and nonce.

GET <login>?next=/path   redirects to Kriya's authorize endpoint (from Kriya's discovery document);
GET <callback>           exchanges the code server to server, verifies the ID token against Kriya's JWKS, finds
                         or creates the local user (KRIYA_ADAPTER), signs them in (login()), links the session to
                         the token's sid (so a logout at Kriya ends it), and redirects to next (same origin only)
                         or KRIYA_LOGIN_REDIRECT_URL.
Errors (Kriya down, sign-up closed, denied, an expired attempt) land on a plain page with a link back, never a
JSON body or a 500. Needs PyJWT with its crypto extra and requests (Plane has both).

Settings: KRIYA_OIDC_CLIENT_ID, KRIYA_OIDC_CLIENT_SECRET (a confidential client; empty for a public one),
KRIYA_OIDC_ISSUER (default KRIYA_BACKEND_URL), KRIYA_OIDC_REDIRECT_URI (default: the callback's absolute URL),
KRIYA_OIDC_SCOPES ("openid profile phone"), KRIYA_LOGIN_REDIRECT_URL ("/").
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import threading
import time

import jwt
import requests
from django.conf import settings
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views import View

from .adapter import get_adapter
from .django import log_in
from .errors import KriyaUnavailable, SignUpClosed

logger = logging.getLogger("kriya_client")

PENDING = "kriya_oidc_pending"  # the session key of the sign-ins under way: {state: {verifier, nonce, next}}
MAX_PENDING = 5  # a few tabs at once; older attempts are dropped
DISCOVERY_SECONDS = 3600

_providers: dict[str, tuple[float, dict, jwt.PyJWKClient]] = {}
_lock = threading.Lock()


class SignInFailed(Exception):
    """A sign-in that cannot finish: status and a sentence for the person."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def setting(name: str, default=None):
    return getattr(settings, name, default)


def provider() -> tuple[dict, jwt.PyJWKClient]:
    """Kriya's discovery document and a JWKS client for its keys (per process, re-read hourly)."""
    issuer = (setting("KRIYA_OIDC_ISSUER") or setting("KRIYA_BACKEND_URL") or "").rstrip("/")
    cached = _providers.get(issuer)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    try:
        response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=float(setting("KRIYA_TIMEOUT", 5)))
        response.raise_for_status()
        document = response.json()
        keys = jwt.PyJWKClient(document["jwks_uri"], cache_keys=True, lifespan=DISCOVERY_SECONDS,
                               timeout=int(setting("KRIYA_TIMEOUT", 5)))
    except (requests.RequestException, ValueError, KeyError, TypeError):
        raise KriyaUnavailable("Kriya's OpenID Connect discovery could not be read") from None
    with _lock:
        _providers[issuer] = (time.monotonic() + DISCOVERY_SECONDS, document, keys)
    return document, keys


def redirect_uri(request) -> str:
    return setting("KRIYA_OIDC_REDIRECT_URI") or request.build_absolute_uri(reverse("kriya-oidc-callback"))


def authorization_url(request, next_url: str) -> str:
    """Where to send the browser: Kriya's authorize endpoint, with PKCE (S256), state and nonce kept in the session."""
    document, _ = provider()
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    pending = dict(request.session.get(PENDING) or {})
    while len(pending) >= MAX_PENDING:
        pending.pop(next(iter(pending)))
    pending[state] = {"verifier": verifier, "nonce": nonce, "next": next_url}
    request.session[PENDING] = pending
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": setting("KRIYA_OIDC_CLIENT_ID"),
                       "redirect_uri": redirect_uri(request),
                       "scope": setting("KRIYA_OIDC_SCOPES", "openid profile phone"), "state": state,
                       "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
    return f"{document['authorization_endpoint']}?{query}"


def id_token_claims(request, code: str, attempt: dict) -> dict:
    """Exchange the code for tokens (server to server) and return the ID token's verified claims."""
    document, keys = provider()
    client_id, secret = setting("KRIYA_OIDC_CLIENT_ID"), setting("KRIYA_OIDC_CLIENT_SECRET") or ""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri(request),
            "code_verifier": attempt["verifier"], "client_id": client_id}
    try:
        response = requests.post(document["token_endpoint"], data=form, auth=(client_id, secret) if secret else None,
                                 timeout=float(setting("KRIYA_TIMEOUT", 5)))
    except requests.RequestException:
        raise KriyaUnavailable("Kriya's token endpoint could not be reached") from None
    if response.status_code >= 500:
        raise KriyaUnavailable(f"Kriya's token endpoint answered {response.status_code}")
    if response.status_code != 200:
        logger.warning("kriya_client: the code exchange was refused (%s)", response.status_code)
        raise SignInFailed(400, "This sign-in could not be completed. Please start again.")
    try:
        token = response.json()["id_token"]
        key = keys.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=client_id, issuer=document["issuer"],
                            leeway=60, options={"require": ["exp", "iat", "sub", "nonce"]})  # clocks differ a little
    except jwt.PyJWKClientConnectionError:
        raise KriyaUnavailable("Kriya's keys could not be read") from None
    except (ValueError, KeyError, TypeError, jwt.PyJWTError) as error:
        logger.warning("kriya_client: an ID token was refused: %s", type(error).__name__)
        raise SignInFailed(400, "This sign-in could not be verified. Please start again.") from None
    if not secrets.compare_digest(str(claims.get("nonce")), attempt["nonce"]):
        raise SignInFailed(400, "This sign-in could not be verified. Please start again.")
    return claims


def complete_sign_in(request, claims: dict):
    """The local user of the ID token's Kriya user, signed in, with the session recorded under the token's sid."""
    if not claims.get("phone_number"):
        raise SignInFailed(400, "Kriya did not share your phone number. Please start again and allow it.")
    kriya_user = {"id": claims["sub"], "phone_number": claims["phone_number"],
                  "first_name": claims.get("given_name", ""), "last_name": claims.get("family_name", "")}
    try:
        user = get_adapter().resolve_user(kriya_user)
    except SignUpClosed:
        raise SignInFailed(403, "Sign-up is closed here and this phone number has no account. "
                                "Ask an administrator for an invitation.") from None
    if user is None or not user.is_active:
        raise SignInFailed(403, "This account is disabled here.")
    # No token_version in an ID token: any user-wide revocation of this Kriya user ends the session.
    log_in(request, user, kriya_user_id=str(claims["sub"]), kriya_session_id=claims.get("sid"))
    return user


def safe_next(request, url: str | None) -> str:
    """next if it stays on this site, else the configured landing page."""
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return url
    return setting("KRIYA_LOGIN_REDIRECT_URL", "/")


def error_page(request, status: int, message: str) -> HttpResponse:
    """A plain page with the reason and a way back: never a JSON body or a 500."""
    again = reverse("kriya-oidc-login")
    body = format_html(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>Sign-in</title></head><body style="font-family:'
        'system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem"><h1>Sign-in did not finish</h1>'
        '<p>{}</p><p><a href="{}">Try again</a> · <a href="{}">Back</a></p></body></html>',
        message, again, setting("KRIYA_LOGIN_REDIRECT_URL", "/"))
    return HttpResponse(body, status=status, content_type="text/html; charset=utf-8")


class OIDCLoginView(View):
    """GET ?next=: to Kriya's sign-in, with PKCE, state and nonce."""

    def get(self, request):
        if not setting("KRIYA_OIDC_CLIENT_ID"):
            logger.error("kriya_client: set KRIYA_OIDC_CLIENT_ID (and the secret) to use the browser sign-in")
            return error_page(request, 503, "Signing in with your phone is not set up here yet.")
        try:
            return HttpResponseRedirect(authorization_url(request, request.GET.get("next", "")))
        except KriyaUnavailable:
            return error_page(request, 503, "The phone sign-in service cannot be reached right now. "
                                            "Please try again in a minute.")


class OIDCCallbackView(View):
    """GET ?code=&state= from Kriya: the session cookie, then next."""

    def get(self, request):
        pending = dict(request.session.get(PENDING) or {})
        attempt = pending.pop(request.GET.get("state", ""), None)
        if attempt is None:
            return error_page(request, 400, "This sign-in link has expired or was already used. Please start again.")
        request.session[PENDING] = pending  # one use per state
        if request.GET.get("error"):
            message = ("You cancelled the sign-in." if request.GET["error"] == "access_denied"
                       else "Kriya could not sign you in. Please start again.")
            return error_page(request, 400 if request.GET["error"] != "access_denied" else 403, message)
        try:
            complete_sign_in(request, id_token_claims(request, request.GET.get("code", ""), attempt))
        except KriyaUnavailable:
            return error_page(request, 503, "The phone sign-in service cannot be reached right now. "
                                            "Please try again in a minute.")
        except SignInFailed as failure:
            return error_page(request, failure.status, failure.message)
        return HttpResponseRedirect(safe_next(request, attempt["next"]))
