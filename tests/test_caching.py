"""No cache keeps an answer that carries a token, a code or personal data, errors included; validate-token's valid
answer keeps the `private, max-age` relying parties cache by."""

import uuid

import pytest
from django.urls import URLPattern

from accounts import sms, urls
from accounts.caching import PrivateAPIView
from accounts.views import ValidateTokenView
from tests.otp_fixtures import code_in

pytestmark = pytest.mark.django_db

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PHONE = "+16502530001"


def cache_headers(response):
    return {name: response.get(name) for name in NO_STORE}


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def signed_in(api_client, user, sms_outbox):
    """Ada signed in twice (a phone and a laptop): the laptop's register answer, and the phone's session id."""
    phone = api_client.post("/api/auth/register", {"phone_number": PHONE}).json()
    laptop = api_client.post("/api/auth/register", {"phone_number": PHONE}).json()
    return {**laptop, "other_session": phone["session_id"]}


# Each call: (its name, what it sends, the status it answers).
CALLS = [
    ("register", lambda c, s, k: c.post("/api/auth/register", {"phone_number": PHONE}), 200),
    ("register, invalid", lambda c, s, k: c.post("/api/auth/register", {"phone_number": "nope"}), 400),
    ("refresh", lambda c, s, k: c.post("/api/auth/token/refresh", {"refresh_token": s["refresh_token"]}), 200),
    ("refresh, unknown", lambda c, s, k: c.post("/api/auth/token/refresh", {"refresh_token": "x" * 43}), 401),
    ("get user", lambda c, s, k: c.get("/api/auth/user", **bearer(s["token"])), 200),
    ("get user, no token", lambda c, s, k: c.get("/api/auth/user"), 401),
    ("get user, bad token", lambda c, s, k: c.get("/api/auth/user", **bearer("x.y.z")), 401),
    ("patch user", lambda c, s, k: c.patch("/api/auth/user", {"first_name": "Augusta"}, **bearer(s["token"])), 200),
    ("patch user, invalid", lambda c, s, k: c.patch("/api/auth/user", {"email": "nope"}, **bearer(s["token"])), 400),
    ("put user", lambda c, s, k: c.put("/api/auth/user", {}, **bearer(s["token"])), 405),
    ("phone change", lambda c, s, k: c.post("/api/auth/user/phone", {"phone_number": "+16502530099"},
                                            **bearer(s["token"])), 200),
    ("phone verify, wrong code", lambda c, s, k: c.post("/api/auth/user/phone/verify",
                                                        {"phone_number": "+16502530099", "code": "000000"},
                                                        **bearer(s["token"])), 400),
    ("sessions", lambda c, s, k: c.get("/api/auth/sessions", **bearer(s["token"])), 200),
    ("session delete", lambda c, s, k: c.delete(f"/api/auth/sessions/{s['other_session']}", **bearer(s["token"])), 200),
    ("session delete, unknown", lambda c, s, k: c.delete(f"/api/auth/sessions/{uuid.uuid4()}", **bearer(s["token"])),
     404),
    ("otp request", lambda c, s, k: c.post("/api/auth/otp/request", {"phone_number": PHONE}), 200),
    ("otp request, invalid", lambda c, s, k: c.post("/api/auth/otp/request", {"phone_number": "nope"}), 400),
    ("revocations", lambda c, s, k: c.get("/api/auth/revocations", HTTP_X_API_KEY=k), 200),
    ("logout", lambda c, s, k: c.delete("/api/auth/logout", **bearer(s["token"])), 200),
    ("logout, bad token", lambda c, s, k: c.delete("/api/auth/logout", **bearer("x.y.z")), 401),
    ("account code", lambda c, s, k: c.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(s["token"])),
     200),
    ("delete user", lambda c, s, k: delete_account(c, s["token"]), 200),
]


def delete_account(client, token):
    client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(token))
    return client.delete("/api/auth/user", {"code": code_in(sms.outbox[-1].body)}, **bearer(token))


@pytest.mark.parametrize(("call", "status"), [(call, status) for _, call, status in CALLS],
                         ids=[name for name, _, _ in CALLS])
def test_answers_that_carry_tokens_codes_or_personal_data_are_never_stored(api_client, signed_in, api_key, call,
                                                                           status):
    response = call(api_client, signed_in, api_key)

    assert response.status_code == status, response.content
    assert cache_headers(response) == NO_STORE


def test_a_throttled_answer_is_not_stored_either(api_client, settings, signed_in):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "user": "1/min"}
    assert api_client.get("/api/auth/user", **bearer(signed_in["token"])).status_code == 200

    response = api_client.get("/api/auth/user", **bearer(signed_in["token"]))

    assert response.status_code == 429
    assert cache_headers(response) == NO_STORE


def test_validate_tokens_valid_answer_keeps_its_max_age_for_relying_parties(validate, signed_in, settings):
    settings.VALIDATION_CACHE_SECONDS = 60

    response = validate(signed_in["token"])

    assert response.json()["valid"] is True
    assert cache_headers(response) == {"Cache-Control": "private, max-age=60", "Pragma": None}


def test_validate_tokens_invalid_answer_is_not_stored(validate):
    response = validate("x.y.z")

    assert response.json()["valid"] is False
    assert cache_headers(response) == NO_STORE


def test_every_api_route_but_validate_token_is_a_private_view():
    """A view added later without the base class fails here, before it answers anyone."""
    views = {pattern.name: pattern.callback.view_class
             for pattern in urls.urlpatterns if isinstance(pattern, URLPattern)}

    public = {name for name, view in views.items() if not issubclass(view, PrivateAPIView)}

    assert public == {"validate-token"}
    assert views["validate-token"] is ValidateTokenView
