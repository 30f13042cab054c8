import time

import pytest
from fake_kriya import API_KEY, FakeKriya

from kriya_client import KriyaClient, MemoryCache
from kriya_client import django as kriya_django


@pytest.fixture
def kriya():
    fake = FakeKriya()
    yield fake
    fake.close()


@pytest.fixture
def make_client(kriya):
    clients = []

    def make_client(**options):
        client = KriyaClient(kriya.url, API_KEY, timeout=2, **options)
        clients.append(client)
        return client

    yield make_client
    for client in clients:
        client.close()


@pytest.fixture
def following(make_client):
    """A client whose follower has polled once, so its cache is trusted; polls continue in a thread."""

    def following(poll_seconds=0.05, **options):
        hooks = hooks_of(options)
        options.setdefault("cache", MemoryCache(max_staleness=1))
        client = make_client(**options)
        follower = client.follow_revocations(poll_seconds=poll_seconds, **hooks)
        wait_for(lambda: follower.polled_at is not None)
        return client

    return following


def hooks_of(options):
    return {name: options.pop(name) for name in ("on_revoked", "on_reset") if name in options}


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def rp(kriya, settings):
    """The Django relying party pointed at the fake Kriya, with a fresh client per test."""
    settings.KRIYA_BACKEND_URL = kriya.url
    yield settings
    for client in kriya_django._clients.values():
        client.close()
    kriya_django._clients.clear()
