"""KriyaClient against a fake Kriya: answers, caching by Cache-Control and exp, failures, one connection."""

import socket
import time

import pytest
from conftest import wait_for
from fake_kriya import make_token

from kriya_client import KriyaClient, KriyaError, KriyaUnavailable, MemoryCache, cache_seconds


def test_a_valid_token_gives_the_kriya_user_and_an_invalid_one_none(kriya, make_client):
    user = kriya.add_user()
    client = make_client()

    assert client.validate(kriya.issue(user)) == user
    assert client.validate(make_token(user["id"])) is None  # not issued by this Kriya
    assert client.validate("") is None
    assert client.validate("not a jwt") is None


def test_a_followed_client_answers_again_from_its_cache(kriya, following):
    user = kriya.add_user()
    token = kriya.issue(user)
    client = following()

    for _ in range(50):
        assert client.validate(token) == user
    assert kriya.validate_calls == 1


def test_without_a_follower_every_validation_asks_kriya(kriya, make_client):
    user = kriya.add_user()
    token = kriya.issue(user)
    client = make_client()

    for _ in range(3):
        assert client.validate(token) == user
    assert kriya.validate_calls == 3


@pytest.mark.parametrize("header", ["no-store", "private, no-cache", "private"])
def test_an_answer_kriya_does_not_let_be_reused_is_asked_again(kriya, following, header):
    user = kriya.add_user()
    token = kriya.issue(user)
    kriya.cache_control = header
    client = following()

    client.validate(token)
    client.validate(token)
    assert kriya.validate_calls == 2


def test_an_answer_is_reused_for_max_age_only(kriya, following):
    user = kriya.add_user()
    token = kriya.issue(user)
    kriya.max_age = 1
    client = following()

    client.validate(token)
    client.validate(token)
    assert kriya.validate_calls == 1
    time.sleep(1.1)
    client.validate(token)
    assert kriya.validate_calls == 2


def test_an_answer_is_never_reused_past_the_tokens_expiry(kriya, following):
    user = kriya.add_user()
    token = kriya.issue(user, exp=time.time() + 1)
    client = following()

    client.validate(token)
    client.validate(token)
    assert kriya.validate_calls == 1
    time.sleep(1.2)
    client.validate(token)
    assert kriya.validate_calls == 2


def test_cache_control_parsing():
    assert cache_seconds("private, max-age=60") == 60
    assert cache_seconds("max-age=5, private") == 5
    assert cache_seconds("no-store") == 0
    assert cache_seconds("private, max-age=60, no-cache") == 0
    assert cache_seconds("") == 0


def test_an_unreachable_kriya_is_unavailable_never_valid(kriya):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = KriyaClient(f"http://127.0.0.1:{port}", "key", timeout=1)

    with pytest.raises(KriyaUnavailable):
        client.validate(make_token("someone"))


def test_a_kriya_that_never_answers_is_unavailable_after_the_timeout():
    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        client = KriyaClient(f"http://127.0.0.1:{listener.getsockname()[1]}", "key", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(KriyaUnavailable):
            client.validate(make_token("someone"))
        assert time.monotonic() - started < 3


def test_a_failing_kriya_is_unavailable(kriya, make_client):
    user = kriya.add_user()
    kriya.down = True

    with pytest.raises(KriyaUnavailable):
        make_client().validate(kriya.issue(user))


def test_a_refused_api_key_is_an_error_not_an_invalid_token(kriya):
    client = KriyaClient(kriya.url, "wrong-key")

    with pytest.raises(KriyaError, match="KRIYA_API_KEY"):
        client.validate(kriya.issue(kriya.add_user()))


def test_validations_share_one_keep_alive_connection(kriya, make_client):
    user = kriya.add_user()
    client = make_client()

    for _ in range(20):
        client.validate(kriya.issue(user))
    assert kriya.validate_calls == 20
    assert len(kriya.connections) == 1


def test_the_memory_cache_is_bounded(kriya, following):
    user = kriya.add_user()
    cache = MemoryCache(max_entries=10, max_staleness=1)
    client = following(cache=cache)

    tokens = [kriya.issue(user) for _ in range(25)]
    for token in tokens:
        client.validate(token)
    assert len(cache) == 10
    client.validate(tokens[-1])  # the newest are kept
    assert kriya.validate_calls == 25
    client.validate(tokens[0])  # the oldest went
    assert kriya.validate_calls == 26
