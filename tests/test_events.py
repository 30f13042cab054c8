"""Auth events: one JSON line each on `kriya.auth`, with masked phone, IP and request id, never a secret."""

import json

import pytest
from django.urls import reverse

from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db




def register(api_client, **headers):
    return api_client.post("/api/auth/register", {"phone_number": "+1 650 253 0001", "first_name": "Ada"}, **headers)


def test_registering_then_logging_in_logs_one_event_each_with_masked_phone_ip_and_request_id(api_client, events):
    first = register(api_client, HTTP_X_REQUEST_ID="req-1")
    second = register(api_client)

    registered, first_session, logged_in, second_session = events()
    for session, response in ((first_session, first), (second_session, second)):
        assert session["event"] == "session_created"
        assert session["session_id"] == response.json()["session_id"]
        assert session["request_id"] == response["X-Request-ID"]
    user_id = first.json()["user"]["id"]
    assert {key: registered[key] for key in ("event", "user_id", "phone", "ip", "request_id")} == {
        "event": "registered", "user_id": user_id, "phone": "+1650***0001", "ip": "127.0.0.1", "request_id": "req-1"}
    assert registered["time"].endswith("+00:00")
    assert logged_in["event"] == "logged_in"
    assert logged_in["request_id"] == second["X-Request-ID"]
    for response in (first, second):
        assert response.json()["token"] not in json.dumps(events())


def test_a_failed_validation_is_an_event_with_its_reason_and_no_token(api_client, api_key, user, events):
    token = issue_token(user).token
    api_client.post("/api/auth/validate-token", {"token": token + "x"}, HTTP_X_API_KEY=api_key)

    (event,) = events()
    assert event["event"] == "validate_failed"
    assert event["reason"] == "Token signature is invalid"
    assert token not in json.dumps(event) and api_key not in json.dumps(event)


def test_logout_and_an_admin_revoke_are_events(api_client, user, events, django_user_model, client):
    token = issue_token(user).token
    api_client.delete("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {token}")
    admin = django_user_model.objects.create_superuser("+16502530099", "a-strong-pass-123", first_name="Admin")
    client.force_login(admin)
    client.post(reverse("admin:accounts_user_changelist"), {"action": "revoke_tokens", "_selected_action": [user.pk]})

    logged_out, revoked = events()
    assert (logged_out["event"], logged_out["user_id"]) == ("logged_out", str(user.pk))
    assert (revoked["event"], revoked["user_id"], revoked["admin_id"]) == ("admin_revoked", str(user.pk), str(admin.pk))


def test_a_throttled_request_is_an_event(api_client, settings, events):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register_ip": "1/min"}
    register(api_client)
    assert register(api_client).status_code == 429

    assert [event["event"] for event in events()] == ["registered", "session_created", "throttled"]
    assert events()[-1]["path"] == "/api/auth/register"


def test_the_callers_request_id_is_echoed_and_a_malformed_one_replaced(api_client):
    assert api_client.get("/health", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"] == "abc-123"
    replaced = api_client.get("/health", HTTP_X_REQUEST_ID="bad id\twith spaces")["X-Request-ID"]
    assert replaced != "bad id\twith spaces" and len(replaced) == 32
