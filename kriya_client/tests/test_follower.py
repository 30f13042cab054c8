"""The revocation follower: evictions by user and by session, hooks, paging, 410, staleness, in-flight answers."""

import threading
import time

import pytest
from conftest import wait_for
from django.core.cache import caches

from kriya_client import DjangoCache, KriyaUnavailable, MemoryCache


@pytest.fixture(params=["memory", "django"])
def cache(request):
    """Each behaviour holds for the in-process cache and for a Django cache (LocMemCache here)."""
    if request.param == "memory":
        return MemoryCache(max_staleness=1)
    django_cache = caches["default"]
    django_cache.clear()
    return DjangoCache(django_cache, max_staleness=1)


def test_a_logout_evicts_every_cached_token_of_the_user_only(kriya, following, cache):
    ada, bob = kriya.add_user(), kriya.add_user("+16502530002", "Bob")
    ada_tokens, bob_token = [kriya.issue(ada) for _ in range(3)], kriya.issue(bob)
    client = following(cache=cache)
    for token in [*ada_tokens, bob_token]:
        assert client.validate(token)

    kriya.logout(ada)
    wait_for(lambda: all(client.validate(token) is None for token in ada_tokens), timeout=2)
    calls = kriya.validate_calls
    assert client.validate(bob_token) == bob
    assert kriya.validate_calls == calls  # still cached


def test_a_session_revocation_evicts_that_sessions_tokens_only(kriya, following, cache):
    ada = kriya.add_user()
    phone, laptop = kriya.issue(ada, sid="11111111-1111-1111-1111-111111111111"), kriya.issue(ada)
    client = following(cache=cache)
    assert client.validate(phone) and client.validate(laptop)

    kriya.revoke_session(ada, "11111111-1111-1111-1111-111111111111")
    wait_for(lambda: client.validate(phone) is None, timeout=2)
    calls = kriya.validate_calls
    assert client.validate(laptop) == ada
    assert kriya.validate_calls == calls


def test_deactivation_evicts_the_user(kriya, following, cache):
    ada = kriya.add_user()
    token = kriya.issue(ada)
    client = following(cache=cache)
    assert client.validate(token)

    kriya.deactivate(ada)
    wait_for(lambda: client.validate(token) is None, timeout=2)


def test_the_hook_sees_every_event_in_order_across_pages(kriya, make_client):
    users = [kriya.add_user(f"+1650253{n:04d}") for n in range(5)]
    seen = []
    client = make_client()
    follower = client.follow_revocations(on_revoked=seen.append, start=False)
    follower.page_size = 2
    follower.poll()  # from the head: nothing yet

    for user in users:
        kriya.logout(user)
    kriya.revoke_session(users[0], "22222222-2222-2222-2222-222222222222")
    assert follower.poll() == 6
    assert [event["id"] for event in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1]["session_id"] == "22222222-2222-2222-2222-222222222222"
    assert follower.poll() == 0


def test_a_new_follower_starts_from_the_head_and_skips_history(kriya, make_client):
    kriya.logout(kriya.add_user())
    seen = []
    follower = make_client().follow_revocations(on_revoked=seen.append, start=False)

    assert follower.poll() == 0
    assert follower.cursor == "1"
    assert seen == []


class ListStore:
    def __init__(self):
        self.saved = []

    def load(self):
        return self.saved[-1] if self.saved else None

    def save(self, cursor):
        self.saved.append(cursor)


def test_a_restarted_follower_resumes_from_its_saved_cursor_and_misses_nothing(kriya, make_client):
    ada, bob = kriya.add_user(), kriya.add_user("+16502530002")
    store, seen = ListStore(), []
    first = make_client().follow_revocations(cursor_store=store, start=False)
    first.poll()
    kriya.logout(ada)
    first.poll()
    assert store.saved == ["0", "1"]

    kriya.logout(bob)  # while no follower runs
    second = make_client().follow_revocations(on_revoked=seen.append, cursor_store=store, start=False)
    assert second.poll() == 1
    assert [event["user_id"] for event in seen] == [bob["id"]]


def test_an_expired_cursor_drops_the_cache_and_starts_again_from_the_head(kriya, make_client, cache):
    ada = kriya.add_user()
    token = kriya.issue(ada)
    resets = []
    client = make_client(cache=cache)
    follower = client.follow_revocations(on_reset=lambda: resets.append(1), start=False)
    follower.poll()
    assert resets == []  # starting at the head is no reset: nothing was known before
    client.validate(token)
    client.validate(token)
    assert kriya.validate_calls == 1

    kriya.logout(kriya.add_user("+16502530002"))  # someone else
    kriya.purge()  # ... and the follower's cursor is older than the retention
    follower.poll()
    assert resets == [1]
    assert follower.cursor == "1"
    client.validate(token)
    assert kriya.validate_calls == 2  # the cache was dropped


def test_a_follower_that_cannot_poll_stops_the_cache_from_answering(kriya, following, cache):
    ada = kriya.add_user()
    token = kriya.issue(ada)
    client = following(cache=cache)  # max_staleness 1 s
    client.validate(token)
    client.validate(token)
    assert kriya.validate_calls == 1

    kriya.feed_down = True
    time.sleep(1.3)
    assert client.validate(token) == ada  # asked Kriya again
    assert kriya.validate_calls == 2
    kriya.down = True
    with pytest.raises(KriyaUnavailable):  # and fails closed
        client.validate(token)

    kriya.down = kriya.feed_down = False
    wait_for(lambda: client.validate(token) == ada, timeout=2)


def test_an_answer_in_flight_during_its_revocation_is_not_cached(kriya, following, cache):
    ada = kriya.add_user()
    token = kriya.issue(ada)
    client = following(cache=cache)
    kriya.validate_gate = threading.Event()
    answers = []
    asking = threading.Thread(target=lambda: answers.append(client.validate(token)))
    asking.start()
    assert kriya.deciding.wait(5)  # Kriya decided "valid" ...

    kriya.logout(ada)  # ... the logout commits and reaches the follower ...
    polls = client.follower.polled_at
    wait_for(lambda: client.follower.polled_at != polls and client.follower.cursor == "1")
    kriya.validate_gate.set()  # ... before the answer arrives
    asking.join(5)
    assert answers == [ada]

    kriya.validate_gate = None
    assert client.validate(token) is None  # Kriya was asked again, not the stale answer
    assert kriya.validate_calls == 2


def test_entries_cached_before_the_first_poll_are_not_trusted(kriya, make_client, cache):
    ada = kriya.add_user()
    token = kriya.issue(ada)
    client = make_client(cache=cache)
    client.validate(token)  # cached, but no follower has polled yet
    kriya.logout(ada)  # a revocation the new follower will not see: it starts from the head

    follower = client.follow_revocations(start=False)
    follower.poll()
    assert client.validate(token) is None


def test_stop_ends_the_follower_thread(kriya, following):
    client = following()
    thread = client.follower._thread
    client.follower.stop()
    assert not thread.is_alive()
