"""A relying party's side of the OpenID Connect flow against Kriya in this process (Django's test Client), and
the browser's side through the hosted sign-in pages with codes from the locmem outbox."""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.test import Client

from accounts import oidc
from tests.otp_fixtures import code_in

REDIRECT_URI = "https://rp.example/callback"
OTHER_REDIRECT_URI = "https://other-rp.example/callback"
FORM = "application/x-www-form-urlencoded"


@dataclass
class RelyingParty:
    client_id: str
    secret: str | None
    redirect_uri: str

    def authorize_path(self, *, scope="openid phone profile email", state=None, nonce=None, verifier=None, **extra):
        """The authorization request's path and the PKCE verifier that goes with it."""
        verifier = verifier or generate_token(48)
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri, "scope": scope,
            "state": state or generate_token(16), "nonce": nonce or generate_token(16),
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256", **extra,
        }
        return "/oauth/authorize?" + urlencode({name: value for name, value in params.items() if value is not None}), verifier

    def token(self, **fields):
        """POST to the token endpoint as this client (client_secret_post); the response."""
        credentials = {"client_id": self.client_id, **({"client_secret": self.secret} if self.secret else {})}
        return Client().post("/oauth/token", urlencode({**credentials, **fields}), content_type=FORM)

    def exchange(self, code, verifier, **overrides):
        return self.token(grant_type="authorization_code", code=code, redirect_uri=self.redirect_uri,
                          code_verifier=verifier, **overrides)


@pytest.fixture
def make_rp(db):
    def make_rp(name="Plane", redirect_uri=REDIRECT_URI, *, public=False, first_party=True, **options):
        client, secret = oidc.create_client(name=name, redirect_uris=[redirect_uri], public=public,
                                            first_party=first_party, **options)
        return RelyingParty(client.client_id, secret, redirect_uri)

    return make_rp


@pytest.fixture
def rp(make_rp):
    return make_rp()


def callback_params(response) -> dict:
    """The query of the redirect back to the relying party."""
    assert response.status_code == 302, response.content[:500]
    return {name: values[0] for name, values in parse_qs(urlsplit(response.headers["Location"]).query).items()}


@pytest.fixture
def sign_in(sms_outbox):
    """Walk a browser through the hosted pages from an authorization request; return the redirect response
    back to the relying party."""

    def sign_in(browser, authorize_path, phone="+919876543210", first_name="Asha", typed=None, remember=True):
        response = browser.get(authorize_path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/signin"), response
        assert browser.get(response.headers["Location"]).status_code == 200
        response = browser.post("/signin", {"phone": typed or phone})
        assert response.headers["Location"] == "/signin/code", response.content[:2000]
        code = code_in([message.body for message in sms_outbox if message.to == phone][-1])
        response = browser.post("/signin/code", {"code": code, **({"remember": "on"} if remember else {})})
        if response.headers["Location"] == "/signin/name":
            response = browser.post("/signin/name", {"first_name": first_name})
        assert response.headers["Location"].startswith("/oauth/authorize"), response
        return browser.get(response.headers["Location"])

    return sign_in


def error_text(response) -> str:
    match = re.search(r'<p class="error" id="error-text">([^<]*)</p>', response.content.decode())
    return match.group(1) if match else ""
