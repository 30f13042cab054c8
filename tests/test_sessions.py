"""Per-device sessions: sign-in creates one, refresh tokens rotate, reuse is caught, one device is signed out alone."""

import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import AuditToken, RotatedRefreshToken, Session, User
from accounts.tokens import issue_token
from tests.conftest import session_fields

pytestmark = pytest.mark.django_db

PHONE = "+16502530001"


@pytest.fixture(autouse=True)
def throttles_off(settings):
    """The refresh throttles have their own tests below, with their own rates."""
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    return time_machine


@pytest.fixture
def sign_in(api_client, user):
    """Sign Ada in on a device; return the JSON answer."""

    def sign_in(device_name=None, **headers):
        body = {"phone_number": PHONE}
        if device_name is not None:
            body["device_name"] = device_name
        response = api_client.post("/api/auth/register", body, **headers)
        assert response.status_code == 200, response.json()
        return response.json()

    return sign_in


@pytest.fixture
def refresh(api_client):
    def refresh(refresh_token, **headers):
        return api_client.post("/api/auth/token/refresh", {"refresh_token": refresh_token}, **headers)

    return refresh




def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def as_json_time(value):
    return value.isoformat().replace("+00:00", "Z")


# Signing in

def test_signing_in_creates_a_session_with_the_device_ip_and_user_agent(sign_in, user):
    body = sign_in(device_name="Ada's Pixel", HTTP_USER_AGENT="KriyaApp/2.1")

    session = Session.objects.get()
    assert (session.user, session.device_name, session.ip_address, session.user_agent) == (
        user, "Ada's Pixel", "127.0.0.1", "KriyaApp/2.1")
    assert body["session_id"] == str(session.pk)
    assert session.expires_at - session.created_at == timedelta(days=90)
    assert session.idle_expires_at - session.created_at == timedelta(days=30)
    assert AuditToken.objects.get().session == session
    assert session_fields(body)["refresh_expires_at"] == body["refresh_expires_at"]


def test_each_sign_in_is_its_own_session_with_its_own_refresh_token(sign_in):
    first, second = sign_in(), sign_in()

    assert first["session_id"] != second["session_id"]
    assert first["refresh_token"] != second["refresh_token"]
    assert Session.objects.count() == 2


def test_the_refresh_token_is_stored_only_as_its_sha256(sign_in):
    body = sign_in()

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM sessions")
        row = cursor.fetchone()
    assert all(body["refresh_token"] not in str(value) for value in row)
    assert Session.objects.get().refresh_token_hash == hashlib.sha256(body["refresh_token"].encode()).hexdigest()


def test_a_device_name_must_be_a_short_string(api_client, user):
    for bad, message in ((123, "Must be a string."), ("x" * 101, "Ensure this field has no more than 100 characters.")):
        response = api_client.post("/api/auth/register", {"phone_number": PHONE, "device_name": bad})
        assert response.status_code == 400
        assert response.json() == {"device_name": [message]}
    assert not Session.objects.exists()


# Refresh

def test_refresh_rotates_the_refresh_token_and_issues_a_new_access_token(sign_in, refresh, validate, clock, user_json, user):
    first = sign_in()
    clock.shift(3600)

    response = refresh(first["refresh_token"])

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "message": "Token refreshed",
        "token": body["token"],
        "user": user_json(user),
        "expires_at": as_json_time(datetime.fromtimestamp(claims(body["token"])["exp"], UTC)),
        **session_fields(body),
    }
    assert body["session_id"] == first["session_id"]
    assert body["refresh_token"] != first["refresh_token"]
    assert body["token"] != first["token"]
    assert claims(body["token"])["sid"] == first["session_id"]
    assert body["refresh_expires_at"] == "2026-12-25T11:00:00Z"  # idle expiry moved: 30 days from the refresh
    assert validate(body["token"]).json()["valid"] is True
    assert validate(first["token"]).json()["valid"] is True  # the earlier access token lives until it expires
    assert refresh(body["refresh_token"]).status_code == 200  # the new one works in turn


def test_each_refresh_is_recorded_as_an_audit_token_of_the_session(sign_in, refresh):
    first = sign_in()
    second = refresh(first["refresh_token"], HTTP_USER_AGENT="KriyaApp/2.2").json()

    record = AuditToken.objects.get(jti=claims(second["token"])["jti"])
    assert (str(record.session_id), record.user_agent) == (first["session_id"], "KriyaApp/2.2")
    assert AuditToken.objects.filter(session_id=first["session_id"]).count() == 2


def test_the_record_of_each_access_token_has_its_id_times_and_version(sign_in, refresh, settings, clock, user):
    settings.SESSION_MAX_DAYS = 1  # the session ends before a refreshed token would: the token is cut short
    User.objects.filter(pk=user.pk).update(token_version=3)
    first = sign_in()
    clock.shift(timedelta(hours=20, microseconds=654321))
    second = refresh(first["refresh_token"]).json()

    for body in (first, second):
        token = claims(body["token"])
        record = AuditToken.objects.get(jti=token["jti"])
        assert (record.token_version, str(record.session_id), str(record.user_id)) == (3, first["session_id"], str(user.pk))
        assert (record.issued_at.timestamp(), record.expires_at.timestamp()) == (token["iat"], token["exp"])
    session = Session.objects.get()
    assert claims(second["token"])["exp"] == int(session.expires_at.timestamp())  # not 24 hours after the refresh


def test_a_retry_within_the_reuse_interval_gets_the_same_new_refresh_token(sign_in, refresh, clock, validate):
    first = sign_in()
    rotated = refresh(first["refresh_token"]).json()
    clock.shift(settings.REFRESH_REUSE_SECONDS)

    retried = refresh(first["refresh_token"])  # the first answer was lost on the way

    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == rotated["refresh_token"]
    assert retried.json()["session_id"] == first["session_id"]
    assert validate(retried.json()["token"]).json()["valid"] is True
    assert Session.objects.get().revoked_at is None
    assert refresh(rotated["refresh_token"]).status_code == 200  # still the session's one live token


def test_a_rotated_token_presented_after_the_interval_revokes_the_whole_session(sign_in, refresh, clock, validate, events):
    first = sign_in()
    rotated = refresh(first["refresh_token"]).json()
    clock.shift(settings.REFRESH_REUSE_SECONDS + 1)

    response = refresh(first["refresh_token"])  # a thief replaying the stolen token, or the victim after the thief

    assert response.status_code == 401
    assert response.json() == {"detail": "Refresh token has already been used"}
    session = Session.objects.get()
    assert (session.revoked_reason, session.revoked_at) == ("refresh_token_reused", timezone.now())
    assert refresh(rotated["refresh_token"]).json() == {"detail": "Session has been revoked"}
    for token in (first["token"], rotated["token"]):
        assert validate(token).json() == {"valid": False, "user": None, "message": "Session has been revoked"}
    reuse = [event for event in events() if event["event"] == "refresh_reuse_detected"]
    assert [(event["session_id"], event["phone"]) for event in reuse] == [(first["session_id"], "+1650***0001")]
    assert first["refresh_token"] not in json.dumps(events())


def test_a_token_two_rotations_back_within_the_interval_still_finds_the_session(sign_in, refresh, clock):
    first = sign_in()
    second = refresh(first["refresh_token"]).json()
    third = refresh(second["refresh_token"]).json()

    assert refresh(first["refresh_token"]).json()["refresh_token"] == third["refresh_token"]


@pytest.mark.parametrize("body, status, answer", [
    ({"refresh_token": "not-a-token"}, 401, {"detail": "Invalid refresh token"}),
    ({"refresh_token": ""}, 400, {"refresh_token": ["This field may not be blank."]}),
    ({"refresh_token": 42}, 400, {"refresh_token": ["Must be a string."]}),
    ({"refresh_token": "x" * 257}, 400, {"refresh_token": ["Ensure this field has no more than 256 characters."]}),
    ({}, 400, {"refresh_token": ["This field is required."]}),
])
def test_a_bad_refresh_token_is_refused_clearly(api_client, body, status, answer):
    response = api_client.post("/api/auth/token/refresh", body)

    assert (response.status_code, response.json()) == (status, answer)


def test_a_refresh_token_unused_for_the_idle_period_stops_working(sign_in, refresh, clock):
    body = sign_in()
    clock.shift(timedelta(days=30))

    assert refresh(body["refresh_token"]).json() == {"detail": "Session has expired"}


def test_refreshing_keeps_a_session_alive_only_until_its_absolute_expiry(sign_in, refresh, clock, validate):
    body = sign_in()
    for _ in range(4):  # day 20, 40, 60, 80: each within the idle period of the one before
        clock.shift(timedelta(days=20))
        body = refresh(body["refresh_token"]).json()
        assert body["session_id"]
    assert body["refresh_expires_at"] == "2027-02-23T10:00:00Z"  # capped at the session's 90 days
    assert claims(body["token"])["exp"] <= datetime(2027, 2, 23, 10, tzinfo=UTC).timestamp()

    clock.shift(timedelta(days=10))
    assert refresh(body["refresh_token"]).json() == {"detail": "Session has expired"}


def test_an_access_token_never_outlives_its_session(sign_in, settings, clock, validate):
    settings.SESSION_MAX_DAYS = 1
    settings.TOKEN_EXPIRY_HOURS = 48
    body = sign_in()

    assert claims(body["token"])["exp"] - claims(body["token"])["iat"] == 24 * 3600
    clock.shift(timedelta(days=1))
    assert validate(body["token"]).json()["valid"] is False


def test_a_deactivated_user_cannot_refresh(sign_in, refresh, user):
    body = sign_in()
    user.is_active = False
    user.save()

    assert refresh(body["refresh_token"]).json() == {"detail": "User account is disabled"}


def test_after_a_global_logout_refresh_tokens_are_refused(api_client, sign_in, refresh):
    body = sign_in()
    api_client.delete("/api/auth/logout", **bearer(body["token"]))

    response = refresh(body["refresh_token"])
    assert (response.status_code, response.json()) == (401, {"detail": "Session has been revoked"})


# Validation stays one query

def test_validating_a_session_token_is_one_query_a_join(sign_in, validate, django_assert_num_queries):
    token = sign_in()["token"]

    with django_assert_num_queries(1) as queries:
        assert validate(token).json()["valid"] is True
    assert "JOIN" in queries.captured_queries[0]["sql"].upper()


def test_a_token_issued_before_sessions_keeps_working_on_its_version_alone(user, validate, api_client, django_assert_num_queries):
    token = issue_token(user).token
    assert "sid" not in claims(token)

    with django_assert_num_queries(1):
        assert validate(token).json()["valid"] is True
    assert api_client.get("/api/auth/user", **bearer(token)).status_code == 200


def test_a_token_naming_a_session_that_does_not_exist_or_is_someone_elses_is_refused(sign_in, forge_token, make_user, validate, user):
    other = make_user()
    for sid in ("00000000-0000-0000-0000-000000000000", sign_in()["session_id"]):
        token = forge_token(other if sid != "00000000-0000-0000-0000-000000000000" else user, sid=sid)
        assert validate(token).json() == {"valid": False, "user": None, "message": "Session not found"}
    assert validate(forge_token(user, sid="nope")).json()["message"] == "Token has an invalid 'sid' claim"


# The user's own devices

def test_sessions_lists_the_live_sessions_newest_first_marking_the_current_one(api_client, sign_in, clock):
    phone = sign_in(device_name="Pixel", HTTP_USER_AGENT="KriyaApp/2.1")
    clock.shift(60)
    laptop = sign_in(device_name="Laptop")
    clock.shift(60)
    ended = sign_in(device_name="Old tablet")
    api_client.delete("/api/auth/logout?scope=local", **bearer(ended["token"]))

    response = api_client.get("/api/auth/sessions", **bearer(phone["token"]))

    assert response.status_code == 200
    session = Session.objects.get(pk=phone["session_id"])
    listed = response.json()["sessions"]
    assert [item["id"] for item in listed] == [laptop["session_id"], phone["session_id"]]
    assert [item["current"] for item in listed] == [False, True]
    assert listed[1] == {
        "id": phone["session_id"],
        "device_name": "Pixel",
        "ip_address": "127.0.0.1",
        "user_agent": "KriyaApp/2.1",
        "created_at": as_json_time(session.created_at),
        "last_used_at": as_json_time(session.last_used_at),
        "idle_expires_at": as_json_time(session.idle_expires_at),
        "expires_at": as_json_time(session.expires_at),
        "current": True,
    }


def test_sessions_needs_the_users_token(api_client):
    assert api_client.get("/api/auth/sessions").status_code == 401


def test_revoking_one_session_signs_out_that_device_only(api_client, sign_in, refresh, validate, events):
    lost_phone, laptop = sign_in(device_name="Lost phone"), sign_in(device_name="Laptop")

    response = api_client.delete(f"/api/auth/sessions/{lost_phone['session_id']}", **bearer(laptop["token"]))

    assert (response.status_code, response.json()) == (200, {"success": True, "message": "Session revoked"})
    assert validate(lost_phone["token"]).json() == {"valid": False, "user": None, "message": "Session has been revoked"}
    assert refresh(lost_phone["refresh_token"]).status_code == 401
    assert validate(laptop["token"]).json()["valid"] is True
    assert refresh(laptop["refresh_token"]).status_code == 200
    assert Session.objects.get(pk=lost_phone["session_id"]).revoked_reason == "user_revoked"
    revoked = [event for event in events() if event["event"] == "session_revoked"]
    assert [event["session_id"] for event in revoked] == [lost_phone["session_id"]]


def test_another_users_session_is_not_found_like_an_unknown_one(api_client, sign_in, make_user):
    mine = sign_in()
    someone = make_user()
    theirs = api_client.post("/api/auth/register", {"phone_number": someone.phone_number}).json()

    for session_id in (theirs["session_id"], "00000000-0000-0000-0000-000000000000"):
        response = api_client.delete(f"/api/auth/sessions/{session_id}", **bearer(mine["token"]))
        assert (response.status_code, response.json()) == (404, {"detail": "Session not found."})
    assert Session.objects.get(pk=theirs["session_id"]).revoked_at is None
    assert api_client.delete("/api/auth/sessions/not-a-uuid", **bearer(mine["token"])).status_code == 404


def test_revoking_a_session_twice_is_not_found_the_second_time(api_client, sign_in):
    a, b = sign_in(), sign_in()
    url = f"/api/auth/sessions/{a['session_id']}"

    assert api_client.delete(url, **bearer(b["token"])).status_code == 200
    assert api_client.delete(url, **bearer(b["token"])).status_code == 404


# Logout scopes

@pytest.mark.parametrize("query", ["", "?scope=global"])
def test_a_global_logout_ends_every_session_and_token(api_client, sign_in, validate, query, user):
    a, b = sign_in(), sign_in()
    legacy = issue_token(user).token

    assert api_client.delete(f"/api/auth/logout{query}", **bearer(a["token"])).json() == {
        "success": True, "message": "Logged out successfully"}

    for token in (a["token"], b["token"], legacy):
        assert validate(token).json()["message"] == "Token has been revoked"
    assert not Session.objects.live().exists()


def test_a_local_logout_ends_only_the_callers_session(api_client, sign_in, validate, refresh):
    a, b = sign_in(), sign_in()

    assert api_client.delete("/api/auth/logout?scope=local", **bearer(a["token"])).status_code == 200

    assert validate(a["token"]).json()["message"] == "Session has been revoked"
    assert refresh(a["refresh_token"]).status_code == 401
    assert validate(b["token"]).json()["valid"] is True


def test_logout_of_the_others_keeps_only_the_callers_session(api_client, sign_in, validate):
    a, b, c = sign_in(), sign_in(), sign_in()

    assert api_client.delete("/api/auth/logout?scope=others", **bearer(b["token"])).status_code == 200

    assert validate(b["token"]).json()["valid"] is True
    for other in (a, c):
        assert validate(other["token"]).json()["message"] == "Session has been revoked"


def test_a_local_logout_with_a_token_from_before_sessions_is_global(api_client, sign_in, user, validate):
    session = sign_in()
    legacy = issue_token(user).token

    assert api_client.delete("/api/auth/logout?scope=local", **bearer(legacy)).status_code == 200

    assert validate(session["token"]).json()["valid"] is False


def test_an_unknown_logout_scope_is_a_400_that_revokes_nothing(api_client, sign_in, validate):
    body = sign_in()

    response = api_client.delete("/api/auth/logout?scope=everywhere", **bearer(body["token"]))

    assert response.status_code == 400
    assert response.json() == {"scope": ['"everywhere" is not a valid choice.']}
    assert validate(body["token"]).json()["valid"] is True


# Limits, events, retention

def test_refresh_is_limited_per_session_across_its_rotated_tokens(sign_in, refresh, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "refresh_session": "3/min"}
    body, other = sign_in(), sign_in()
    for _ in range(3):
        response = refresh(body["refresh_token"])
        assert response.status_code == 200
        body = response.json()

    response = refresh(body["refresh_token"])
    assert response.status_code == 429
    assert "Retry-After" in response
    assert refresh(other["refresh_token"]).status_code == 200  # another session has its own count


def test_refresh_is_limited_per_ip(api_client, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "refresh_ip": "2/min"}
    statuses = [api_client.post("/api/auth/token/refresh", {"refresh_token": f"guess-{n}"}).status_code for n in range(3)]

    assert statuses == [401, 401, 429]


def test_a_refresh_is_an_event_without_the_token(sign_in, refresh, events):
    body = sign_in()
    refreshed = refresh(body["refresh_token"]).json()

    [event] = [event for event in events() if event["event"] == "token_refreshed"]
    assert (event["session_id"], event["phone"]) == (body["session_id"], "+1650***0001")
    text = json.dumps(events())
    assert all(secret not in text for secret in (body["refresh_token"], refreshed["refresh_token"], refreshed["token"]))


def test_purge_removes_sessions_ended_long_ago_and_keeps_the_rest(sign_in, refresh, clock, capsys):
    old = sign_in()
    refresh(old["refresh_token"])
    clock.shift(timedelta(days=100))  # old has expired ten days ago
    recent = sign_in()

    call_command("purge_audit_tokens", "--older-than", "5")

    assert list(Session.objects.values_list("id", flat=True)) == [uuid.UUID(recent["session_id"])]
    assert not RotatedRefreshToken.objects.exists()
    assert "1 session" in capsys.readouterr().out


@pytest.mark.postgres
def test_a_sign_in_writes_no_index_that_nothing_reads():
    # Django's LIKE index beside the unique refresh hash, and tokens' own user_id index, which (user, -issued_at)
    # already serves: each would be one more index write per sign-in and per refresh.
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename IN ('sessions', 'tokens')")
        definitions = [definition for (definition,) in cursor.fetchall()]

    assert not [d for d in definitions if "varchar_pattern_ops" in d]
    assert [d for d in definitions if "tokens" in d and "(user_id" in d] == [
        "CREATE INDEX tokens_user_id_f8ec22_idx ON public.tokens USING btree (user_id, issued_at DESC)"]
    assert any("UNIQUE" in d and "(refresh_token_hash)" in d for d in definitions)


@pytest.mark.postgres
def test_a_sign_in_and_a_refresh_are_one_round_trip_each(sign_in, refresh, django_assert_num_queries):
    # Round trips, and the commit's wait, are most of what these cost: each is one statement.
    sign_in()
    with django_assert_num_queries(1):  # the user read, the session and its token record written
        body = sign_in()
    with django_assert_num_queries(1):  # the session rotated, the old token and the new record written
        assert refresh(body["refresh_token"]).status_code == 200
