"""Rate limits per IP, per phone and per user (THROTTLE_RATES), kept in a cache every worker shares."""

import json
import secrets
import socket
import subprocess
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tokens import issue_token
from tests.servers import REPO, call, gunicorn, production_env

pytestmark = pytest.mark.django_db  # throttles and codes live in the database

THROTTLED_60 = {"detail": "Request was throttled. Expected available in 60 seconds."}


@pytest.fixture
def rates(settings):
    """Set some THROTTLE_RATES for this test; the others keep their defaults."""

    def rates(**scopes):
        settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **scopes}

    return rates


def register(api_client, phone_number, **extra):
    return api_client.post("/api/auth/register", {"phone_number": phone_number, "first_name": "Ada"}, **extra)


def test_register_is_limited_per_ip(rates, api_client):
    rates(register_ip="3/min")
    for n in range(3):
        assert register(api_client, f"+1650253000{n}").status_code == 200

    response = register(api_client, "+16502530009")

    assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert response["Retry-After"] == "60"
    assert register(api_client, "+16502530009", REMOTE_ADDR="192.0.2.7").status_code == 200  # another caller


def test_x_forwarded_for_does_not_escape_the_ip_limit(rates, api_client):
    rates(register_ip="2/min")
    for n in range(2):
        assert register(api_client, f"+1650253000{n}", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code == 200

    response = register(api_client, "+16502530009", HTTP_X_FORWARDED_FOR="198.51.100.99")

    assert (response.status_code, response.json()) == (429, THROTTLED_60)


def test_register_is_limited_per_phone_however_it_is_written(rates, api_client):
    rates(register_phone="2/min")
    assert register(api_client, "+16502530001", REMOTE_ADDR="192.0.2.1").status_code == 200
    assert register(api_client, "+1 (650) 253-0001", REMOTE_ADDR="192.0.2.2").status_code == 200

    response = register(api_client, "+1.650.253.0001", REMOTE_ADDR="192.0.2.3")

    assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert register(api_client, "+16502530002", REMOTE_ADDR="192.0.2.3").status_code == 200


def test_otp_request_is_limited_per_ip(rates, request_code, sms_outbox):
    rates(otp_ip="2/min")
    assert request_code("+16502530001").status_code == 200
    assert request_code("+16502530002").status_code == 200

    response = request_code("+16502530003")

    assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert response["Retry-After"] == "60"
    assert len(sms_outbox) == 2


def test_otp_request_is_limited_per_phone_across_ips(rates, settings, request_code, sms_outbox):
    rates(otp_phone="2/hour")
    settings.OTP_RESEND_SECONDS = 0  # only the throttle stands in the way
    assert request_code(REMOTE_ADDR="192.0.2.1").status_code == 200
    assert request_code(REMOTE_ADDR="192.0.2.2").status_code == 200

    response = request_code(REMOTE_ADDR="192.0.2.3")

    assert response.status_code == 429
    assert response.json() == {"detail": "Request was throttled. Expected available in 3600 seconds."}
    assert response["Retry-After"] == "3600"
    assert len(sms_outbox) == 2


def test_the_user_endpoints_are_limited_per_user(rates, api_client, make_user):
    rates(user="2/min")
    ada, grace = issue_token(make_user()).token, issue_token(make_user()).token
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {ada}"}
    assert api_client.get("/api/auth/user", **bearer).status_code == 200
    assert api_client.get("/api/auth/user", **bearer).status_code == 200

    for response in (api_client.get("/api/auth/user", **bearer), api_client.delete("/api/auth/logout", **bearer)):
        assert (response.status_code, response.json()) == (429, THROTTLED_60)
    assert api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {grace}").status_code == 200


def test_a_rate_of_none_turns_a_limit_off(rates, api_client):
    rates(register_ip="none", register_phone="none")

    assert [register(api_client, "+16502530001").status_code for _ in range(40)] == [200] * 40


def test_validate_token_is_not_throttled_and_its_hot_path_touches_no_cache(rates, settings, validate, user):
    rates(**{scope: "1/min" for scope in settings.THROTTLE_RATES})
    token = issue_token(user).token

    with CaptureQueriesContext(connection) as queries:
        answers = [validate(token) for _ in range(5)]

    assert [(a.status_code, a.json()["valid"]) for a in answers] == [(200, True)] * 5
    assert len(queries) == 5  # one per call: the user
    assert not [q for q in queries.captured_queries if "kriya_cache" in q["sql"]]


def test_throttle_rates_come_from_the_environment_over_the_defaults():
    env = production_env(THROTTLE_RATES="otp_ip=5/min,user=none")
    code = "import django; django.setup(); from django.conf import settings; print(json.dumps(settings.THROTTLE_RATES))"

    output = subprocess.run(
        [sys.executable, "-c", f"import json; {code}"], cwd=REPO, capture_output=True, text=True, check=True,
        env={**env, "DJANGO_SETTINGS_MODULE": "kriya.settings"},
    ).stdout

    assert json.loads(output) == {
        "register_ip": "30/min", "register_phone": "10/min", "otp_ip": "5/min", "otp_phone": "10/hour", "user": "none",
        "refresh_ip": "60/min", "refresh_session": "10/min", "account_ip": "30/min",
    }


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize("cache", ["database", "redis"])
def test_two_server_processes_share_one_limit(cache, tmp_path):
    database = f"sqlite:///{tmp_path / 'kriya.sqlite3'}"
    if cache == "redis":
        if not redis_reachable():
            pytest.skip("no Redis on 127.0.0.1:6379")
        cache_url = "redis://127.0.0.1:6379/15"
    else:
        cache_url = "dbcache://kriya_cache"
    env = production_env(DATABASE_URL=database, CACHE_URL=cache_url, THROTTLE_RATES="register_ip=3/min", NUM_PROXIES="1")
    if cache == "database":  # migrate alone creates the cache table
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    # A client address of our own: no other test or run shares this limit, even in a shared Redis.
    client = {"X-Forwarded-For": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}

    def register(base):
        status, headers, body = call(base, "POST", "/api/auth/register", b"{}", client)
        return status, headers.get("Retry-After"), json.loads(body)

    required = (400, None, {"phone_number": ["This field is required."]})  # counted, and answered without the database
    throttled = (429, "60", THROTTLED_60)
    with gunicorn(env, tmp_path / "a.log") as first, gunicorn(env, tmp_path / "b.log") as second:
        assert [register(first), register(second), register(first)] == [required] * 3
        assert [register(second), register(first)] == [throttled] * 2
