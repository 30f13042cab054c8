"""Browser sign-in by OpenID Connect (kriya_client.oidc) against a stand-in provider that checks PKCE and signs
RS256 ID tokens; the end-to-end test against Kriya's own provider comes with it."""

import pytest

pytest.importorskip("cryptography", reason="kriya_client.oidc needs PyJWT's crypto extra: pip install 'PyJWT[crypto]'")

from urllib.parse import parse_qs, urlsplit  # noqa: E402

from conftest import wait_for  # noqa: E402
from django.contrib.sessions.models import Session  # noqa: E402
from django.test import Client  # noqa: E402
from fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDC  # noqa: E402
from planelike.models import User  # noqa: E402

from kriya_client import django as kriya_django  # noqa: E402
from kriya_client import oidc  # noqa: E402
from kriya_client.models import SignedInSession  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

SID = "44444444-4444-4444-4444-444444444444"


@pytest.fixture
def provider(rp):
    fake = FakeOIDC()
    rp.KRIYA_OIDC_ISSUER = fake.url
    rp.KRIYA_OIDC_CLIENT_ID, rp.KRIYA_OIDC_CLIENT_SECRET = CLIENT_ID, CLIENT_SECRET
    rp.KRIYA_LOGIN_REDIRECT_URL = "/welcome"
    oidc._providers.clear()
    yield fake
    fake.close()
    oidc._providers.clear()


def start(browser, next_url="/api/session-me"):
    response = browser.get("/auth/kriya/login/", {"next": next_url})
    assert response.status_code == 302
    return response["Location"]


def finish(browser, callback_url):
    url = urlsplit(callback_url)
    return browser.get(f"{url.path}?{url.query}")


def test_a_browser_signs_in_with_pkce_state_and_nonce_and_lands_on_next(kriya, provider):
    ada = kriya.add_user()
    browser = Client()
    authorize = start(browser)
    query = parse_qs(urlsplit(authorize).query)
    assert query["redirect_uri"] == ["http://testserver/auth/kriya/callback/"]
    assert query["scope"] == ["openid profile phone"]
    assert len(query["state"][0]) >= 40 and len(query["nonce"][0]) >= 40 and len(query["code_challenge"][0]) == 43

    response = finish(browser, provider.approve(authorize, ada, SID))
    assert (response.status_code, response["Location"]) == (302, "/api/session-me")
    assert browser.get("/api/session-me").status_code == 200
    user = User.objects.get()
    assert (user.first_name, user.mobile_number) == ("Ada", "+16502530001")
    row = SignedInSession.objects.get()
    assert (row.kriya_user_id, row.kriya_session_id) == (ada["id"], SID)


def test_a_logout_of_that_kriya_session_ends_the_browser_session(kriya, provider):
    ada = kriya.add_user()
    client = kriya_django.get_client()
    wait_for(lambda: client.follower.polled_at is not None)
    browser = Client()
    finish(browser, provider.approve(start(browser), ada, SID))
    assert browser.get("/api/session-me").status_code == 200

    kriya.revoke_session(ada, SID)
    wait_for(lambda: not Session.objects.exists(), timeout=2)
    assert browser.get("/api/session-me").status_code == 403


def test_next_on_another_site_lands_on_the_configured_page(kriya, provider):
    browser = Client()
    response = finish(browser, provider.approve(start(browser, "https://evil.example/x"), kriya.add_user(), SID))
    assert response["Location"] == "/welcome"


def page(response, status, sentence):
    assert response.status_code == status
    assert response["Content-Type"] == "text/html; charset=utf-8"
    text = response.content.decode()
    assert sentence in text and 'href="/auth/kriya/login/"' in text
    return text


def test_a_state_that_is_unknown_or_used_twice_is_a_page_not_a_sign_in(kriya, provider):
    browser = Client()
    callback = provider.approve(start(browser), kriya.add_user(), SID)
    page(Client().get(urlsplit(callback).path + "?" + urlsplit(callback).query), 400, "expired or was already used")
    assert finish(browser, callback).status_code == 302
    page(finish(browser, callback), 400, "expired or was already used")


def test_an_id_token_for_another_client_or_with_another_nonce_is_refused(kriya, provider):
    ada = kriya.add_user()
    for override in ({"aud": "someone-else"}, {"nonce": "replayed"}, {"iss": "https://elsewhere.example"}):
        provider.claims_override = override
        browser = Client()
        page(finish(browser, provider.approve(start(browser), ada, SID)), 400, "could not be verified")
    assert not User.objects.exists() and not SignedInSession.objects.exists()


def test_kriya_down_is_a_503_page_at_the_start_and_at_the_callback(kriya, provider):
    browser = Client()
    authorize = start(browser)
    provider.down = True
    page(finish(browser, provider.approve(authorize, kriya.add_user(), SID)), 503, "cannot be reached")
    oidc._providers.clear()
    page(Client().get("/auth/kriya/login/"), 503, "cannot be reached")


def test_closed_sign_up_and_a_refusal_at_kriya_are_pages(kriya, provider, rp):
    rp.KRIYA_ADAPTER = "test_django.ClosedAdapter"
    browser = Client()
    page(finish(browser, provider.approve(start(browser), kriya.add_user(), SID)), 403, "Sign-up is closed")
    browser = Client()
    state = parse_qs(urlsplit(start(browser)).query)["state"][0]
    page(browser.get("/auth/kriya/callback/", {"error": "access_denied", "state": state}), 403, "cancelled")
    assert not User.objects.exists()


def test_without_a_client_id_the_login_is_a_page_saying_so(kriya, provider, rp):
    rp.KRIYA_OIDC_CLIENT_ID = ""
    page(Client().get("/auth/kriya/login/"), 503, "not set up here yet")
