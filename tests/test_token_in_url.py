"""?token= only where the earlier service's clients send it (GET /api/auth/user, DELETE /api/auth/logout):
everywhere else a token in the URL is refused with a 400 naming the header, and nothing changes."""

import uuid

import pytest

from accounts.models import Session, User

pytestmark = pytest.mark.django_db

REFUSED = {"detail": "Send the token in the Authorization: Bearer header; ?token= is accepted only on "
                     "GET /api/auth/user and DELETE /api/auth/logout"}


@pytest.fixture
def signed_in(api_client, user, sms_outbox):
    """Ada on a phone and a laptop: the laptop's token, and the phone's session id."""
    phone = api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()
    laptop = api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()
    return {"token": laptop["token"], "other_session": phone["session_id"]}


REFUSED_CALLS = {
    "PATCH user": lambda c, q, s: c.patch(f"/api/auth/user{q}", {"first_name": "Eve"}),
    "DELETE user": lambda c, q, s: c.delete(f"/api/auth/user{q}"),
    "DELETE user/": lambda c, q, s: c.delete(f"/api/auth/user/{q}"),
    "phone change": lambda c, q, s: c.post(f"/api/auth/user/phone{q}", {"phone_number": "+16502530099"}),
    "phone verify": lambda c, q, s: c.post(f"/api/auth/user/phone/verify{q}", {"phone_number": "+16502530099",
                                                                             "code": "123456"}),
    "session delete": lambda c, q, s: c.delete(f"/api/auth/sessions/{s['other_session']}{q}"),
    "sessions": lambda c, q, s: c.get(f"/api/auth/sessions{q}"),  # new in Kriya: no earlier client sends it
}


@pytest.fixture
def nothing_changed(user, signed_in, sms_outbox):
    """After the test: Ada's name, account and sessions as they were, and no text sent."""
    yield
    assert User.objects.get(pk=user.pk).first_name == "Ada"
    assert Session.objects.filter(user=user, revoked_at__isnull=True).count() == 2
    assert list(sms_outbox) == []


@pytest.mark.parametrize("name", REFUSED_CALLS)
def test_a_token_in_the_url_of_any_other_endpoint_is_refused_naming_the_header(api_client, signed_in, nothing_changed,
                                                                               name):
    response = REFUSED_CALLS[name](api_client, f"?token={signed_in['token']}", signed_in)

    assert (response.status_code, response.json()) == (400, REFUSED)
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", REFUSED_CALLS)
def test_it_is_refused_even_beside_a_valid_bearer_header(api_client, signed_in, nothing_changed, name):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in['token']}")

    response = REFUSED_CALLS[name](api_client, f"?scope=x&token={signed_in['token']}", signed_in)

    assert (response.status_code, response.json()) == (400, REFUSED)


def test_a_worthless_token_in_the_url_is_refused_the_same_way(api_client, signed_in, nothing_changed):
    response = api_client.patch("/api/auth/user?token=not-a-token", {"first_name": "Eve"})

    assert (response.status_code, response.json()) == (400, REFUSED)


def test_the_same_calls_with_the_header_work(api_client, signed_in, user):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {signed_in['token']}")

    assert api_client.get("/api/auth/sessions").status_code == 200
    assert api_client.patch("/api/auth/user", {"first_name": "Augusta"}).json()["first_name"] == "Augusta"
    assert api_client.delete(f"/api/auth/sessions/{signed_in['other_session']}").status_code == 200
    assert api_client.delete(f"/api/auth/sessions/{uuid.uuid4()}").status_code == 404


def test_get_user_still_takes_the_token_from_the_url(api_client, signed_in, user, user_json):
    response = api_client.get(f"/api/auth/user?token={signed_in['token']}")

    assert (response.status_code, response.json()) == (200, user_json(user))
    assert api_client.head(f"/api/auth/user?token={signed_in['token']}").status_code == 200


def test_logout_still_takes_the_token_from_the_url(api_client, signed_in, validate):
    response = api_client.delete(f"/api/auth/logout?token={signed_in['token']}")

    assert (response.status_code, response.json()) == (200, {"success": True, "message": "Logged out successfully"})
    assert validate(signed_in["token"]).json()["valid"] is False
