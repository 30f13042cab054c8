"""Kriya under gunicorn (DEBUG=False) and a relying party written with Authlib (tests/oidc_rp.py): discovery, PKCE,
the code exchange, the ID token verified against the JWKS, userinfo; then every request the spec says to refuse,
over real HTTP. Codes come from a fake SMS provider that Kriya's webhook sender posts to."""

import re

import pytest
import requests
from django.db import connection
from oauth2_provider.settings import oauth2_settings

from accounts import oidc
from accounts.models import RevocationEvent, Session
from tests.oidc_rp import OidcRelyingParty
from tests.otp_fixtures import code_in
from tests.servers import gunicorn, production_env

PHONE = "+919876543210"


def signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def database_url(tmp_path) -> str:
    if connection.vendor == "postgresql":
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    import subprocess
    import sys

    from tests.servers import REPO

    url = f"sqlite:///{tmp_path / 'kriya.sqlite3'}"
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO,
                   env=production_env(DATABASE_URL=url), check=True)
    return url


@pytest.fixture
def kriya(transactional_db, tmp_path, provider, settings, monkeypatch):
    """Kriya's base URL under gunicorn, texting codes to the fake provider; this process writes to its database and
    signs Kriya JWTs with its key."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the relying party talks to Kriya over loopback http
    url = database_url(tmp_path)
    if url.startswith("sqlite"):  # this process registers the clients: in the server's database
        settings.DATABASES["default"]["NAME"] = url.removeprefix("sqlite:///")
        connection.close()
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"]}
    oauth2_settings.reload()
    env = production_env(DATABASE_URL=url, OIDC_RSA_PRIVATE_KEY=signing_key(), OIDC_ALLOW_HTTP_REDIRECT_URIS="True",
                         SMS_BACKEND="webhook", SMS_WEBHOOK_URL=provider.url + "/sms", SMS_WEBHOOK_SECRET="s" * 32,
                         OTP_MAX_ATTEMPTS_PER_REQUESTER="5", JWT_SECRET_KEY=settings.JWT_SECRET_KEY,
                         PLANE_API_KEY=settings.PLANE_API_KEYS[0],
                         # Threads, as the public pool runs: Chromium's idle preconnections would hold sync workers.
                         GUNICORN_THREADS="4")
    with gunicorn(env, tmp_path / "kriya.log", workers=2) as base:
        yield base
    oauth2_settings.reload()


@pytest.fixture
def relying_party(kriya):
    rp = OidcRelyingParty(kriya)
    with rp.running():
        yield rp


def register(rp, name, *, public=False, first_party=True):
    from tests.oidc_rp import Client

    client = Client(name, "", None, rp.base)
    application, secret = oidc.create_client(name=name, redirect_uris=[client.redirect_uri], public=public,
                                             first_party=first_party,
                                             post_logout_redirect_uris=[client.post_logout_redirect_uri])
    client.client_id, client.client_secret = application.client_id, secret
    rp.clients[name] = client
    return client


class PageBrowser:
    """A person on Kriya's pages with a plain HTTP client: follows redirects, keeps cookies, fills the forms."""

    def __init__(self, provider):
        self.http = requests.Session()
        self.provider = provider

    def submit(self, response, data, action=None):
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
        url = response.url if action is None else requests.compat.urljoin(response.url, action)
        return self.http.post(url, data={"csrfmiddlewaretoken": token, **data}, timeout=15)

    def sign_in(self, start_url, phone=PHONE, first_name="Asha"):
        page = self.http.get(start_url, timeout=15)
        assert "/signin" in page.url, page.url
        page = self.submit(page, {"phone": phone})
        assert page.url.endswith("/signin/code"), page.text[:500]
        page = self.submit(page, {"code": code_in(self.provider.texts()[-1]), "remember": "on"})
        if page.url.endswith("/signin/name"):
            page = self.submit(page, {"first_name": first_name})
        return page


def test_an_authlib_relying_party_signs_a_new_number_in(kriya, relying_party, provider):
    plane = register(relying_party, "plane")
    metadata = relying_party.metadata
    assert metadata["issuer"] == kriya and metadata["code_challenge_methods_supported"] == ["S256"]

    page = PageBrowser(provider).sign_in(f"{relying_party.base}/plane/login")

    assert page.status_code == 200 and 'id="signed-in"' in page.text, (page.text[:500], relying_party.errors)
    claims, userinfo = plane.signed_in["claims"], plane.signed_in["userinfo"]
    session = Session.objects.get(user__phone_number=PHONE)
    assert claims["sub"] == str(session.user_id) == userinfo["sub"]
    assert claims["phone_number"] == PHONE == userinfo["phone_number"]
    assert claims["phone_number_verified"] is True and claims["amr"] == ["sms"]
    assert claims["sid"] == str(session.pk) and claims["given_name"] == "Asha"
    assert PHONE in provider.requests[-1]["body"]  # the code went to the number, through the provider


def test_each_refusal_over_http_is_the_specs_answer_and_never_a_500(kriya, relying_party, provider):
    plane, grafana = register(relying_party, "plane"), register(relying_party, "grafana")
    browser = PageBrowser(provider)
    browser.sign_in(f"{relying_party.base}/plane/login")
    token_url = relying_party.metadata["token_endpoint"]

    def fresh_code(client):
        """A new authorization code for client, straight from the signed-in browser; and its verifier."""
        url = relying_party.login_url(client)
        state = re.search(r"state=([^&]+)", url).group(1)
        location = browser.http.get(url, allow_redirects=False, timeout=15).headers["Location"]
        assert location.startswith(client.redirect_uri), location
        return re.search(r"code=([^&]+)", location).group(1), client.pending.pop(state)[1]

    def exchange(client, code, verifier, redirect_uri=None):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or client.redirect_uri}
        if verifier is not None:
            data["code_verifier"] = verifier
        return requests.post(token_url, data=data, auth=(client.client_id, client.client_secret), timeout=15)

    # Wrong redirect URI: an error page at Kriya, no redirect anywhere.
    bad = relying_party.login_url(plane).replace("%2Fplane%2Fcallback", "%2Fplane%2Fcallback2")
    response = browser.http.get(bad, allow_redirects=False, timeout=15)
    assert response.status_code == 400 and "Location" not in response.headers

    # Missing, then wrong PKCE verifier.
    code, verifier = fresh_code(plane)
    assert exchange(plane, code, None).json()["error"] in {"invalid_request", "invalid_grant"}
    assert exchange(plane, code, verifier[:-3] + "abc").json()["error"] == "invalid_grant"

    # Reused code.
    code, verifier = fresh_code(plane)
    assert exchange(plane, code, verifier).status_code == 200
    reused = exchange(plane, code, verifier)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")

    # Another client's code.
    code, verifier = fresh_code(plane)
    stolen = exchange(grafana, code, verifier, redirect_uri=plane.redirect_uri)
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_grant")

    # A replayed callback (the same state again): Authlib's relying party has spent that state, Kriya the code.
    url = relying_party.login_url(plane)
    callback = browser.http.get(url, allow_redirects=False, timeout=15).headers["Location"]
    assert browser.http.get(callback, timeout=15).status_code == 200
    replay = browser.http.get(callback, timeout=15)
    assert replay.status_code == 500 and "KeyError" in relying_party.errors[-1]  # the RP refuses the unknown state
    state = re.search(r"state=([^&]+)", callback).group(1)
    with pytest.raises(Exception, match="invalid_grant"):
        relying_party.session(plane, state=state).fetch_token(token_url, authorization_response=callback,
                                                              code_verifier="x" * 48)

    # The Kriya session revoked: refreshing its OIDC tokens is refused.
    assert relying_party.refresh(plane).status_code == 200
    Session.objects.all().revoke(reason="admin_revoked")
    refused = relying_party.refresh(plane)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")


def test_rp_initiated_logout_over_http_ends_the_session_for_every_follower(kriya, relying_party, provider):
    plane = register(relying_party, "plane")
    browser = PageBrowser(provider)
    browser.sign_in(f"{relying_party.base}/plane/login")
    sid = plane.signed_in["claims"]["sid"]

    page = browser.http.get(f"{relying_party.base}/plane/logout", timeout=15)

    assert page.status_code == 200 and 'id="signed-out"' in page.text
    assert Session.objects.get(pk=sid).revoked_reason == "oidc_logout"
    assert RevocationEvent.objects.filter(session_id=sid, type="session_revoked").exists()


def test_the_kits_browser_sign_in_speaks_with_kriyas_provider(kriya, relying_party, provider, settings, rf):
    """kriya_client.oidc (what Plane runs) against the real provider: its authorization request, its code exchange
    and its ID token check (PyJWT against the JWKS), with the claims it reads."""
    from django.contrib.sessions.backends.db import SessionStore
    from kriya_client import oidc as kit

    client = register(relying_party, "kit")  # a callback on the relying party's port: its page is not needed
    settings.KRIYA_OIDC_ISSUER, settings.KRIYA_OIDC_REDIRECT_URI = kriya, client.redirect_uri
    settings.KRIYA_OIDC_CLIENT_ID, settings.KRIYA_OIDC_CLIENT_SECRET = client.client_id, client.client_secret
    request = rf.get("/auth/kriya/login")
    request.session = SessionStore()

    back = PageBrowser(provider).sign_in(kit.authorization_url(request, "/projects"))

    params = dict(part.split("=", 1) for part in back.url.split("?", 1)[1].split("&"))
    attempt = request.session[kit.PENDING][params["state"]]
    claims = kit.id_token_claims(request, params["code"], attempt)
    session = Session.objects.get(user__phone_number=PHONE)
    assert (claims["sub"], claims["sid"], claims["phone_number"], claims["given_name"]) == (
        str(session.user_id), str(session.pk), PHONE, "Asha")
