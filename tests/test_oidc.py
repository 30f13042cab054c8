"""Kriya as an OpenID Connect provider, in this process: discovery, the code flow with PKCE, the ID token and its
claims, and every request the spec says to refuse. Tests/test_oidc_live.py runs a real client against gunicorn."""

import os
import subprocess
import sys
from datetime import timedelta

import jwt
import pytest
import time_machine
from authlib.jose import JsonWebKey, JsonWebToken
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import Application, Grant

from accounts.models import OidcSessionLink, RevocationEvent, Session, User
from tests.oidc_fixtures import OTHER_REDIRECT_URI, REDIRECT_URI, callback_params
from tests.servers import REPO

pytestmark = pytest.mark.django_db


def id_token_claims(body: dict, rp) -> dict:
    """The ID token verified against the JWKS, as a relying party verifies it."""
    keys = JsonWebKey.import_key_set(Client().get("/oauth/jwks").json())
    claims = JsonWebToken(["RS256"]).decode(body["id_token"], keys)
    claims.validate()
    assert claims["aud"] == rp.client_id and claims["iss"] == "http://testserver"
    return dict(claims)


def signed_in(sign_in, rp, **options):
    """(browser, callback params, PKCE verifier) after a whole sign-in."""
    browser = Client()
    path, verifier = rp.authorize_path(state="state-1", nonce="nonce-1")
    return browser, callback_params(sign_in(browser, path, **options)), verifier


def test_discovery_says_code_flow_pkce_s256_and_rs256_only():
    document = Client().get("/.well-known/openid-configuration").json()

    assert document["issuer"] == "http://testserver"
    assert {name: document[name] for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint",
                                              "jwks_uri", "revocation_endpoint", "end_session_endpoint")} == {
        "authorization_endpoint": "http://testserver/oauth/authorize",
        "token_endpoint": "http://testserver/oauth/token",
        "userinfo_endpoint": "http://testserver/oauth/userinfo",
        "jwks_uri": "http://testserver/oauth/jwks",
        "revocation_endpoint": "http://testserver/oauth/revoke",
        "end_session_endpoint": "http://testserver/oauth/logout",
    }
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"sub", "sid", "amr", "phone_number", "phone_number_verified"} <= set(document["claims_supported"])


def test_the_issuer_is_oidc_issuer_when_set(settings):
    from oauth2_provider.settings import oauth2_settings

    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": "https://kriya.example.com"}
    try:
        document = Client().get("/.well-known/openid-configuration").json()
    finally:
        oauth2_settings.reload()
    assert document["issuer"] == "https://kriya.example.com"
    assert document["token_endpoint"] == "https://kriya.example.com/oauth/token"
    assert document["revocation_endpoint"] == "https://kriya.example.com/oauth/revoke"


def test_a_new_number_signs_in_and_the_id_token_carries_kriya_claims(sign_in, rp):
    browser, params, verifier = signed_in(sign_in, rp)
    assert params["state"] == "state-1" and params["iss"] == "http://testserver"

    response = rp.exchange(params["code"], verifier)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    claims = id_token_claims(body, rp)
    user = User.objects.get(phone_number="+919876543210")
    session = Session.objects.get(user=user)
    assert {name: claims[name] for name in ("sub", "nonce", "phone_number", "phone_number_verified", "given_name",
                                            "name", "amr", "sid", "auth_time")} == {
        "sub": str(user.pk), "nonce": "nonce-1", "phone_number": "+919876543210", "phone_number_verified": True,
        "given_name": "Asha", "name": "Asha", "amr": ["sms"], "sid": str(session.pk),
        "auth_time": int(session.created_at.timestamp()),
    }
    assert "email" not in claims and "family_name" not in claims  # none on file: not sent empty
    assert session.device_name == "Browser sign-in"

    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == str(user.pk) and userinfo.json()["phone_number"] == "+919876543210"
    assert userinfo.headers["Cache-Control"] == "no-store" and response.headers["Cache-Control"] == "no-store"


def test_scopes_decide_the_claims_and_email_is_never_verified(sign_in, make_user, make_rp):
    user = make_user("+919876543210", first_name="Ada", last_name="Lovelace", email="ada@example.com")
    rp = make_rp()
    browser = Client()
    path, verifier = rp.authorize_path(scope="openid email")
    body = rp.exchange(callback_params(sign_in(browser, path))["code"], verifier).json()

    claims = id_token_claims(body, rp)

    assert claims["sub"] == str(user.pk)
    assert (claims["email"], claims["email_verified"]) == ("ada@example.com", False)
    assert not {"phone_number", "given_name", "family_name", "name"} & set(claims)


def test_a_browser_sign_in_is_a_kriya_session_in_the_sessions_list(sign_in, rp, api_client):
    signed_in(sign_in, rp)
    user = User.objects.get(phone_number="+919876543210")
    browser_session = Session.objects.get(user=user)

    token = api_client.post("/api/auth/register", {"phone_number": "+919876543210"}).json()["token"]
    listed = api_client.get("/api/auth/sessions", HTTP_AUTHORIZATION=f"Bearer {token}").json()["sessions"]

    assert str(browser_session.pk) in [session["id"] for session in listed]


def test_refresh_works_while_the_kriya_session_lives_and_is_refused_once_it_is_revoked(sign_in, rp, api_client):
    _, params, verifier = signed_in(sign_in, rp)
    tokens = rp.exchange(params["code"], verifier).json()
    sid = id_token_claims(tokens, rp)["sid"]

    refreshed = rp.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert id_token_claims(refreshed.json(), rp)["sid"] == sid

    # The person ends the browser's session from another device, through the API.
    token = api_client.post("/api/auth/register", {"phone_number": "+919876543210"}).json()["token"]
    assert api_client.delete(f"/api/auth/sessions/{sid}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200

    refused = rp.token(grant_type="refresh_token", refresh_token=refreshed.json()["refresh_token"])
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"
    userinfo = Client().get("/oauth/userinfo", HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access_token']}")
    assert userinfo.status_code == 401


def test_a_replayed_refresh_token_ends_its_family(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)
    first = rp.exchange(params["code"], verifier).json()
    second = rp.token(grant_type="refresh_token", refresh_token=first["refresh_token"]).json()

    replayed = rp.token(grant_type="refresh_token", refresh_token=first["refresh_token"])

    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    assert rp.token(grant_type="refresh_token", refresh_token=second["refresh_token"]).status_code == 400


@pytest.mark.parametrize("verifier_case", ["missing", "wrong"])
def test_the_code_needs_its_pkce_verifier(sign_in, rp, verifier_case):
    _, params, verifier = signed_in(sign_in, rp)

    response = rp.exchange(params["code"], None if verifier_case == "missing" else verifier[:-2] + "xy")

    assert response.status_code == 400
    assert response.json()["error"] in {"invalid_grant", "invalid_request"}
    assert set(response.json()) <= {"error", "error_description"}  # no token of any kind


def test_an_authorization_request_without_pkce_or_with_plain_is_refused(rp, sign_in):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])  # signed in: the refusal is the request's, not the sign-in's

    for extra in ({"code_challenge": None, "code_challenge_method": None}, {"code_challenge_method": "plain"},
                  {"code_challenge_method": None}):  # no method means plain (RFC 7636 4.3)
        path, _ = rp.authorize_path(**extra)
        response = browser.get(path)
        assert response.status_code == 302
        params = callback_params(response)
        assert params["error"] == "invalid_request" and "code" not in params


def test_a_reused_code_is_refused_and_revokes_what_it_gave(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)
    first = rp.exchange(params["code"], verifier)
    assert first.status_code == 200

    again = rp.exchange(params["code"], verifier)

    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_code_of_another_client_is_refused(sign_in, rp, make_rp):
    other = make_rp("Other app", OTHER_REDIRECT_URI)
    _, params, verifier = signed_in(sign_in, rp)

    response = other.exchange(params["code"], verifier)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert rp.exchange(params["code"], verifier).status_code == 200


def test_an_expired_code_is_refused(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        response = rp.exchange(params["code"], verifier)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_a_code_whose_kriya_session_was_revoked_before_the_exchange_is_refused(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)
    Session.objects.all().revoke(reason="admin_revoked")

    response = rp.exchange(params["code"], verifier)

    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback",
    REDIRECT_URI + "/",
    REDIRECT_URI + "?next=/",
    REDIRECT_URI.replace("https://rp.example", "https://rp.example:444"),
    REDIRECT_URI.upper(),
])
def test_a_redirect_uri_that_is_not_exactly_registered_gets_an_error_page_and_no_redirect(rp, redirect_uri):
    path, _ = rp.authorize_path(redirect_uri=redirect_uri)

    response = Client().get(path, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "This sign-in request cannot be completed" in response.content.decode()


def test_a_loopback_redirect_uri_must_match_its_port_too(make_rp, settings):
    rp = make_rp(redirect_uri="https://127.0.0.1:8443/callback")
    path, _ = rp.authorize_path(redirect_uri="https://127.0.0.1:9443/callback")

    assert Client().get(path).status_code == 400


@pytest.mark.parametrize("response_type", ["token", "id_token", "code id_token", "code token"])
def test_no_implicit_or_hybrid_flow(rp, response_type):
    path, _ = rp.authorize_path(response_type=response_type)

    response = Client().get(path)

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "#" not in response.headers["Location"]
        assert callback_params(response)["error"] in {"unsupported_response_type", "unauthorized_client"}


def test_an_unknown_client_gets_an_error_page(rp):
    path, _ = rp.authorize_path(client_id="no-such-client")

    response = Client().get(path)

    assert response.status_code == 400 and "Location" not in response.headers


def test_prompt_none_without_a_signed_in_browser_answers_login_required(rp):
    path, _ = rp.authorize_path(prompt="none", state="s-9")

    params = callback_params(Client().get(path))

    assert params["error"] == "login_required" and params["state"] == "s-9"


def test_prompt_none_signs_a_signed_in_browser_in_silently_but_never_skips_consent(sign_in, rp, make_rp):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    third = make_rp("Outline", OTHER_REDIRECT_URI, first_party=False)

    assert "code" in callback_params(browser.get(rp.authorize_path(prompt="none")[0]))
    assert callback_params(browser.get(third.authorize_path(prompt="none")[0]))["error"] == "consent_required"


def test_the_token_endpoint_refuses_a_wrong_client_secret_and_other_grants(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)

    wrong = Client().post("/oauth/token", {"grant_type": "authorization_code", "code": params["code"],
                                           "redirect_uri": REDIRECT_URI, "client_id": rp.client_id,
                                           "client_secret": "wrong", "code_verifier": verifier})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    for grant in ("client_credentials", "password"):
        response = rp.token(grant_type=grant, username="+919876543210", password="x")
        assert response.status_code in (400, 401)
        assert response.json()["error"] in {"unsupported_grant_type", "unauthorized_client", "invalid_grant"}
        assert "access_token" not in response.json()


def test_a_public_client_uses_pkce_alone(sign_in, make_rp):
    rp = make_rp(public=True)
    _, params, verifier = signed_in(sign_in, rp)

    assert rp.exchange(params["code"], verifier).status_code == 200


def test_a_third_party_client_asks_for_consent_and_cancel_returns_access_denied(sign_in, make_rp, rp):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    third = make_rp("Outline", OTHER_REDIRECT_URI, first_party=False)
    path, verifier = third.authorize_path(scope="openid phone", state="s-3")

    page = browser.get(path, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert "Sign in to Outline?" in page.content.decode() and "Your phone number" in page.content.decode()
    form = {field: page.context["form"].initial[field] for field in page.context["form"].initial if page.context["form"].initial[field]}

    denied = callback_params(browser.post(path, form))
    assert (denied["error"], denied["state"]) == ("access_denied", "s-3") and "code" not in denied
    allowed = callback_params(browser.post(path, {**form, "allow": "Authorize"}))
    assert third.exchange(allowed["code"], verifier).status_code == 200


def test_rp_initiated_logout_ends_the_kriya_session_and_writes_its_revocation_event(sign_in, rp, validate, api_client):
    browser, params, verifier = signed_in(sign_in, rp)
    tokens = rp.exchange(params["code"], verifier).json()
    sid = id_token_claims(tokens, rp)["sid"]
    Application.objects.filter(client_id=rp.client_id).update(post_logout_redirect_uris="https://rp.example/bye")
    api_token = api_client.post("/api/auth/register", {"phone_number": "+919876543210"}).json()["token"]

    response = browser.get("/oauth/logout", {"id_token_hint": tokens["id_token"],
                                             "post_logout_redirect_uri": "https://rp.example/bye", "state": "bye-1"})

    assert response.status_code == 302 and response.headers["Location"] == "https://rp.example/bye?state=bye-1"
    session = Session.objects.get(pk=sid)
    assert (session.state(), session.revoked_reason) == ("revoked", "oidc_logout")
    assert RevocationEvent.objects.filter(type="session_revoked", session_id=sid).count() == 1
    assert validate(api_token).json()["valid"] is True  # the API session is another session: still signed in
    assert rp.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"]).status_code == 400
    # The browser is signed out of Kriya too: the next sign-in asks for the phone again.
    again = browser.get(rp.authorize_path()[0])
    assert again.status_code == 302 and again.headers["Location"].startswith("/signin")


def test_logout_to_an_unregistered_address_is_refused_without_a_redirect(sign_in, rp):
    browser, params, verifier = signed_in(sign_in, rp)
    tokens = rp.exchange(params["code"], verifier).json()

    response = browser.get("/oauth/logout", {"id_token_hint": tokens["id_token"],
                                             "post_logout_redirect_uri": "https://evil.example/"})

    assert response.status_code == 400 and "Location" not in response.headers
    assert Session.objects.live().count() == 1


def test_the_link_follows_the_token_family(sign_in, rp):
    _, params, verifier = signed_in(sign_in, rp)
    rp.exchange(params["code"], verifier)

    link = OidcSessionLink.objects.get()

    assert link.token_family is not None and link.grant is None and not Grant.objects.exists()


def test_create_oidc_client_prints_the_id_and_the_secret_once(db):
    from django.core.management import call_command
    from io import StringIO

    out = StringIO()
    call_command("create_oidc_client", "Plane", "--redirect-uri", "https://plane.example.com/auth/kriya/callback",
                 "--first-party", stdout=out, stderr=StringIO())
    lines = dict(line.split("=", 1) for line in out.getvalue().split())
    client = Application.objects.get(client_id=lines["client_id"])

    assert (client.name, client.skip_authorization, client.algorithm, client.client_type) == (
        "Plane", True, "RS256", "confidential")
    assert lines["client_secret"] not in client.client_secret  # only its hash is kept
    assert client.redirect_uris == "https://plane.example.com/auth/kriya/callback"


def test_create_oidc_client_refuses_a_bad_redirect_uri():
    result = subprocess.run([sys.executable, "manage.py", "create_oidc_client", "Bad", "--redirect-uri", "ftp://x/cb"],
                            cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "DATABASE_URL": "sqlite:///:memory:"})
    assert result.returncode != 0 and "redirect_uris" in result.stderr


def rsa_pem(bits=2048) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def oidc_keys(settings):
    """Point the provider at keys of the test's choosing; django-oauth-toolkit's cached settings follow."""
    from oauth2_provider.settings import oauth2_settings

    def use(current, previous=()):
        settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEY": current,
                                    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": list(previous)}
        oauth2_settings.reload()

    yield use
    settings.OAUTH2_PROVIDER = settings.OAUTH2_PROVIDER  # restored by the fixture; reload what it restores
    oauth2_settings.reload()


def test_after_a_key_rotation_tokens_signed_with_the_previous_key_still_verify(sign_in, rp, oidc_keys):
    old, new = rsa_pem(), rsa_pem()
    oidc_keys(old)
    _, params, verifier = signed_in(sign_in, rp)
    old_tokens = rp.exchange(params["code"], verifier).json()

    oidc_keys(new, previous=[old])
    jwks = Client().get("/oauth/jwks").json()["keys"]
    new_tokens = rp.token(grant_type="refresh_token", refresh_token=old_tokens["refresh_token"]).json()

    assert len(jwks) == 2 and len({key["kid"] for key in jwks}) == 2
    old_kid, new_kid = (jwt.get_unverified_header(body["id_token"])["kid"] for body in (old_tokens, new_tokens))
    assert [key["kid"] for key in jwks] == [new_kid, old_kid]
    assert id_token_claims(old_tokens, rp)["sid"] == id_token_claims(new_tokens, rp)["sid"]
    assert all(set(key) == {"alg", "use", "kid", "kty", "n", "e"} for key in jwks)


def test_staff_register_clients_in_the_admin_in_kriyas_words(rp):
    staff = User.objects.create_superuser("+16502530009", password="a-strong-pass-for-the-test-1", first_name="Admin")
    browser = Client()
    browser.force_login(staff)

    index = browser.get("/admin/").content.decode()
    form = browser.get("/admin/oauth2_provider/application/add/").content.decode()
    listing = browser.get("/admin/oauth2_provider/application/").content.decode()

    assert "Sign in with Kriya (OpenID Connect)" in index and "Django" not in index
    assert "First-party client" in form and "ID token signature" in form
    assert rp.client_id in listing


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(("method", "path", "data"), [
    ("get", "/oauth/authorize", {}),
    ("get", "/oauth/authorize", {"client_id": "x" * 5000, "response_type": "code"}),
    ("get", "/oauth/authorize", {"response_type": "code", "client_id": "nope", "redirect_uri": "javascript:alert(1)"}),
    ("post", "/oauth/token", {}),
    ("post", "/oauth/token", {"grant_type": "authorization_code", "code": "nope", "client_id": "nope"}),
    ("post", "/oauth/token", {"grant_type": "refresh_token", "refresh_token": "\x00" * 10}),
    ("post", "/oauth/revoke", {"token": "nope"}),
    ("get", "/oauth/userinfo", {}),
    ("get", "/oauth/logout", {"id_token_hint": "garbage"}),
    ("get", "/oauth/logout", {"id_token_hint": "a.b.c"}),
    ("get", "/oauth/logout", {"id_token_hint": f"{b64(b'{}')}.{b64(b'not json')}.{b64(b'sig')}"}),
    ("get", "/oauth/logout", {"id_token_hint": b64(b'{"alg":"none"}') + "." + b64(b"[1]") + "."}),
    ("get", "/oauth/logout", {"post_logout_redirect_uri": "https://evil.example/"}),
    ("get", "/signin/code", {}),
    ("post", "/signin/code", {"code": "123456"}),
    ("post", "/signin", {"phone": "+" + "9" * 5000}),
])
def test_malformed_requests_get_an_answer_never_a_500(rp, method, path, data):
    client = Client(raise_request_exception=False)

    response = getattr(client, method)(path, data, HTTP_AUTHORIZATION="Bearer nope" if "userinfo" in path else "")

    assert response.status_code < 500, response.content[:300]
