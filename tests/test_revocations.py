"""The revocation feed relying parties follow, and validate-token's cache hint."""

import random
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import RevocationEvent, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def throttles_off(settings):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


@pytest.fixture
def feed(api_client, api_key):
    def feed(expect=200, **params):
        response = api_client.get("/api/auth/revocations", params, HTTP_X_API_KEY=api_key)
        assert response.status_code == expect, response.json()
        return response.json()

    return feed


@pytest.fixture
def sign_in(api_client):
    def sign_in(user):
        return api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()

    return sign_in


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def as_json_time(value):
    return value.isoformat().replace("+00:00", "Z")


def test_without_a_cursor_the_feed_gives_where_to_start_and_no_events(feed, user):
    assert feed() == {"events": [], "cursor": "0"}
    user.revoke_tokens()

    start = feed()
    assert start == {"events": [], "cursor": str(RevocationEvent.objects.get().id)}
    assert feed(after=start["cursor"]) == {"events": [], "cursor": start["cursor"]}


def test_a_logout_is_an_event_for_the_whole_user_with_its_new_token_version(api_client, feed, user, sign_in):
    start = feed()["cursor"]
    token = sign_in(user)["token"]

    api_client.delete("/api/auth/logout", **bearer(token))

    event = RevocationEvent.objects.get()
    assert feed(after=start) == {
        "events": [{"id": event.id, "type": "logout", "user_id": str(user.pk), "session_id": None,
                    "token_version": 1, "at": as_json_time(event.at)}],
        "cursor": str(event.id),
    }


def test_one_session_revoked_is_an_event_naming_that_session(api_client, feed, user, sign_in):
    start = feed()["cursor"]
    phone, laptop = sign_in(user), sign_in(user)

    api_client.delete(f"/api/auth/sessions/{phone['session_id']}", **bearer(laptop["token"]))
    api_client.delete("/api/auth/logout?scope=others", **bearer(laptop["token"]))  # nothing else live: no event

    [event] = feed(after=start)["events"]
    assert (event["type"], event["user_id"], event["session_id"], event["token_version"]) == (
        "session_revoked", str(user.pk), phone["session_id"], 0)


def test_every_kind_of_revocation_writes_an_event(api_client, feed, make_user, sign_in, settings, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    start = feed()["cursor"]
    a, b, c = make_user(), make_user(), make_user()
    local = sign_in(a)
    api_client.delete("/api/auth/logout?scope=local", **bearer(local["token"]))
    call_command("revoke_tokens", b.phone_number)
    stolen = sign_in(c)
    api_client.post("/api/auth/token/refresh", {"refresh_token": stolen["refresh_token"]})
    time_machine.shift(settings.REFRESH_REUSE_SECONDS + 1)
    api_client.post("/api/auth/token/refresh", {"refresh_token": stolen["refresh_token"]})

    events = feed(after=start)["events"]
    assert [(e["type"], e["user_id"], e["session_id"]) for e in events] == [
        ("session_revoked", str(a.pk), local["session_id"]),
        ("admin_revoked", str(b.pk), None),
        ("session_revoked", str(c.pk), stolen["session_id"]),
    ]


def test_the_feed_pages_with_limit_and_the_cursor(feed, make_user):
    start = feed()["cursor"]
    users = [make_user() for _ in range(5)]
    for user in users:
        user.revoke_tokens()

    seen, cursor = [], start
    while page := feed(after=cursor, limit=2)["events"]:
        assert len(page) <= 2
        seen += [event["user_id"] for event in page]
        cursor = feed(after=cursor, limit=2)["cursor"]
    assert seen == [str(user.pk) for user in users]


def test_reading_the_feed_is_one_query(feed, user, django_assert_num_queries):
    cursor = feed()["cursor"]
    user.revoke_tokens()
    with django_assert_num_queries(1):
        assert len(feed(after=cursor)["events"]) == 1


def test_a_cursor_older_than_the_retention_is_gone(feed, make_user, settings, time_machine, capsys):
    first, second = make_user(), make_user()
    first.revoke_tokens()
    cursor = feed(after=0)["cursor"]
    time_machine.move_to(timezone.now() + timedelta(days=settings.REVOCATION_RETENTION_DAYS + 1))
    second.revoke_tokens()

    call_command("purge_revocations")

    assert "Removed 1 revocation event(s)" in capsys.readouterr().out
    body = feed(expect=410, after=cursor)
    assert body["detail"].startswith("This cursor is older than the retained revocations")
    feed(expect=410, after="987654")  # a cursor this Kriya never gave: start again too


@pytest.mark.parametrize("params, field", [({"after": "abc"}, "after"), ({"after": "-1"}, "after"),
                                           ({"after": "0", "limit": "0"}, "limit"), ({"after": "0", "limit": "1001"}, "limit"),
                                           ({"afer": "3"}, "afer")])
def test_a_malformed_cursor_or_limit_is_a_400_naming_it(feed, params, field):
    assert list(feed(expect=400, **params)) == [field]


def test_the_feed_needs_the_api_key(api_client):
    assert api_client.get("/api/auth/revocations").status_code == 403
    assert api_client.get("/api/auth/revocations", HTTP_X_API_KEY="wrong-key-0123456789").status_code == 403


def test_validate_token_may_be_cached_for_a_while_when_valid_and_never_otherwise(validate, user, settings, sign_in,
                                                                                 time_machine):
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    token = sign_in(user)["token"]

    assert validate(token)["Cache-Control"] == "private, max-age=60"
    settings.VALIDATION_CACHE_SECONDS = 600
    time_machine.shift(timedelta(hours=24) - timedelta(seconds=120))  # the token expires in two minutes
    assert validate(token)["Cache-Control"] == "private, max-age=120"  # never cached beyond its expiry
    assert validate(token + "x")["Cache-Control"] == "no-store"


# Commit order: a follower must never miss an event

@pytest.mark.postgres
def test_an_event_committing_after_a_later_one_started_is_never_skipped(transactional_db, make_user, feed):
    # Without the feed's lock, the first transaction would take id N, the second N+1 and commit first: a
    # follower reading then would move its cursor to N+1 and never see N. With it, the second waits.
    first, second = make_user(), make_user()
    start = feed()["cursor"]
    holding, release = threading.Event(), threading.Event()

    def slow_revocation():
        with transaction.atomic():
            first.revoke_tokens()
            holding.set()
            release.wait(10)
        connection.close()

    def quick_revocation():
        second.revoke_tokens()
        connection.close()

    slow = threading.Thread(target=slow_revocation)
    slow.start()
    assert holding.wait(10)
    quick = threading.Thread(target=quick_revocation)
    quick.start()
    quick.join(0.5)

    assert quick.is_alive()  # queued behind the uncommitted one
    assert feed(after=start) == {"events": [], "cursor": start}
    release.set()
    slow.join(10)
    quick.join(10)
    assert [event["user_id"] for event in feed(after=start)["events"]] == [str(first.pk), str(second.pk)]


@pytest.mark.postgres
def test_a_follower_polling_during_concurrent_revocations_sees_every_one(transactional_db, make_user, api_client, api_key):
    users = [make_user() for _ in range(12)]
    cursor = api_client.get("/api/auth/revocations", HTTP_X_API_KEY=api_key).json()["cursor"]
    seen, done = [], threading.Event()

    def revoke(user):
        with transaction.atomic():
            user.revoke_tokens()
            time.sleep(random.uniform(0, 0.05))  # commits land in any order of the transactions' starts
        connection.close()

    def follow():
        nonlocal cursor
        while True:
            finished = done.is_set()
            page = api_client.get("/api/auth/revocations", {"after": cursor}, HTTP_X_API_KEY=api_key).json()
            seen.extend(event["user_id"] for event in page["events"])
            cursor = page["cursor"]
            if finished and not page["events"]:
                break
            time.sleep(0.005)
        connection.close()

    follower = threading.Thread(target=follow)
    follower.start()
    writers = [threading.Thread(target=revoke, args=(user,)) for user in users]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    done.set()
    follower.join(30)

    assert sorted(seen) == sorted(str(user.pk) for user in users)
    assert len(seen) == len(set(seen))
    assert User.objects.filter(token_version=1).count() == len(users)


def test_purging_keeps_the_newest_event_so_a_follower_on_a_quiet_week_is_not_sent_away(feed, user, settings, time_machine):
    user.revoke_tokens()
    cursor = feed(after=0)["cursor"]
    time_machine.move_to(timezone.now() + timedelta(days=settings.REVOCATION_RETENTION_DAYS + 30))

    call_command("purge_revocations")

    assert feed(after=cursor) == {"events": [], "cursor": cursor}
