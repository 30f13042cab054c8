"""Races that only a real server and database show: many threads at once against pytest-django's live_server."""

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from accounts.models import AuditToken, RotatedRefreshToken, Session, User
from accounts import otp
from accounts.sessions import hash_refresh_token
from accounts.tokens import issue_token

pytestmark = pytest.mark.postgres

THREADS = 20


@pytest.fixture(autouse=True)
def no_throttles(settings):
    # These tests are about races; twenty logins of one phone in a second is also what the per-phone
    # throttle exists to stop, and that has its own tests.
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


def call(url, method, body=None, headers=None):
    """(status, JSON body) of one request; an HTTP error is an answer, not an exception."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def all_at_once(function, arguments):
    """Run function(argument) in THREADS threads released together by a barrier; return the results in order."""
    barrier = threading.Barrier(len(arguments))

    def started_together(argument):
        barrier.wait()
        try:
            return function(argument)
        finally:
            connection.close()  # each thread's own connection, if it opened one

    with ThreadPoolExecutor(max_workers=len(arguments)) as pool:
        return list(pool.map(started_together, arguments))


def test_twenty_simultaneous_registrations_of_one_new_phone_make_one_user(live_server, settings):
    body = {"phone_number": "+1 (650) 253-0001", "first_name": "Ada"}

    answers = all_at_once(lambda _: call(f"{live_server.url}/api/auth/register", "POST", body), range(THREADS))

    assert [status for status, _ in answers] == [200] * THREADS, answers
    user = User.objects.get()
    assert user.phone_number == "+16502530001"
    assert sorted(body["message"] for _, body in answers) == ["Login successful"] * (THREADS - 1) + ["Registration successful"]
    assert {body["user"]["id"] for _, body in answers} == {str(user.pk)}
    tokens = [body["token"] for _, body in answers]
    assert len(set(tokens)) == THREADS
    assert AuditToken.objects.filter(user=user).count() == THREADS
    key = settings.PLANE_API_KEYS[0]
    for token in tokens:
        status, answer = call(f"{live_server.url}/api/auth/validate-token", "POST", {"token": token}, {"X-API-Key": key})
        assert (status, answer["valid"]) == (200, True)


def test_twenty_simultaneous_revocations_lose_no_increment(transactional_db, make_user):
    # Every thread holds its own copy of the user, loaded before any of them writes: a read-modify-write
    # (token_version += 1; save()) would store 1 twenty times. F() makes the database do the addition.
    user = make_user()
    copies = [User.objects.get(pk=user.pk) for _ in range(THREADS)]

    all_at_once(lambda copy: copy.revoke_tokens(), copies)

    user.refresh_from_db()
    assert user.token_version == THREADS


def test_twenty_simultaneous_logouts_each_count_and_leave_no_token_valid(live_server, make_user, validate):
    # Twenty tokens, all carrying version 0. A logout that authenticates before the first one commits still
    # revokes (200); the rest find their token revoked (401). Whatever the interleaving, each 200 must have
    # added exactly one to token_version: none lost, none extra.
    user = make_user()
    tokens = [issue_token(user).token for _ in range(THREADS)]

    answers = all_at_once(lambda token: call(f"{live_server.url}/api/auth/logout?token={token}", "DELETE"), tokens)

    logged_out = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status == 401]
    assert len(logged_out) + len(refused) == THREADS, answers
    assert logged_out and all(body == {"success": True, "message": "Logged out successfully"} for body in logged_out)
    assert all(body == {"detail": "Token has been revoked"} for body in refused)
    user.refresh_from_db()
    assert user.token_version == len(logged_out)
    assert all(validate(token).json()["valid"] is False for token in tokens)


def test_twenty_simultaneous_refreshes_of_one_token_leave_one_consistent_session(live_server, make_user, validate):
    # One wins the row lock and rotates; the others find the token rotated a moment ago (a retry within
    # REFRESH_REUSE_SECONDS) and are handed the same successor: the session keeps one live refresh token.
    user = make_user()
    _, signed_in = call(f"{live_server.url}/api/auth/register", "POST", {"phone_number": user.phone_number})
    url = f"{live_server.url}/api/auth/token/refresh"

    answers = all_at_once(lambda _: call(url, "POST", {"refresh_token": signed_in["refresh_token"]}), range(THREADS))

    assert [status for status, _ in answers] == [200] * THREADS, answers
    successors = {body["refresh_token"] for _, body in answers}
    assert len(successors) == 1
    session = Session.objects.get()
    assert (session.revoked_at, session.refresh_token_hash) == (None, hash_refresh_token(successors.pop()))
    assert RotatedRefreshToken.objects.filter(session=session).count() == 1
    assert AuditToken.objects.filter(session=session).count() == THREADS + 1
    assert all(validate(body["token"]).json()["valid"] is True for _, body in answers)
    status, body = call(url, "POST", {"refresh_token": answers[0][1]["refresh_token"]})
    assert status == 200 and body["session_id"] == str(session.pk)


def test_users_racing_to_claim_one_new_number_leave_exactly_one_winner(live_server, make_user):
    # Every racer holds a valid code for the number (texted to it once): the code is used once, and the
    # number's unique index stands behind that. Exactly one account moves; the others change nothing.
    racers = [make_user() for _ in range(10)]
    tokens = [call(f"{live_server.url}/api/auth/register", "POST", {"phone_number": u.phone_number})[1]["token"] for u in racers]
    code = otp.create_code(phone_number="+16502530999", purpose=otp.PHONE_CHANGE_NEW).code
    current = {u.phone_number: otp.create_code(phone_number=u.phone_number, purpose=otp.PHONE_CHANGE_OLD).code
               for u in racers}  # each racer also proves its own number

    answers = all_at_once(
        lambda pair: call(f"{live_server.url}/api/auth/user/phone/verify", "POST",
                          {"phone_number": "+16502530999", "code": code, "current_code": current[pair[0].phone_number]},
                          {"Authorization": f"Bearer {pair[1]}"}),
        list(zip(racers, tokens)),
    )

    statuses = sorted(status for status, _ in answers)
    assert statuses[0] == 200 and statuses.count(200) == 1, answers
    assert set(statuses[1:]) <= {400, 409}
    moved = [u for u in racers if User.objects.get(pk=u.pk).phone_number != u.phone_number]
    assert [User.objects.get(pk=u.pk).phone_number for u in moved] == ["+16502530999"]
