"""Rate limits per IP, per phone and per user (THROTTLE_RATES): exact counts per fixed window, which every
worker shares, and what the throttles do when their store is down."""

import json
import secrets
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ThrottleCount
from accounts.tokens import issue_token
from tests.servers import REPO, free_port, production_env

pytestmark = pytest.mark.django_db  # throttles and codes live in the database

THROTTLED_60 = {"detail": "Request was throttled. Expected available in 60 seconds."}
WINDOW_START = "2026-11-26 10:00:00+00:00"  # windows are aligned to the clock: a minute's and an hour's start here


@pytest.fixture(autouse=True)
def window_start(time_machine):
    """Each test starts as a window does, so a full window (Retry-After: 60) lies ahead."""
    time_machine.move_to(WINDOW_START, tick=True)
    return time_machine


@pytest.fixture
def rates(settings):
    """Set some THROTTLE_RATES for this test; the others keep their defaults."""

    def rates(**scopes):
        settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **scopes}

    return rates


def register(api_client, phone_number, code=None, **extra):
    body = {"phone_number": phone_number, "first_name": "Ada", **({"code": code} if code else {})}
    return api_client.post("/api/auth/register", body, **extra)


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


def test_retry_after_counts_down_to_the_end_of_the_window_and_then_the_count_starts_again(rates, api_client, time_machine):
    rates(register_ip="2/min")
    time_machine.move_to("2026-11-26 10:00:45+00:00", tick=False)
    assert [register(api_client, f"+1650253000{n}").status_code for n in range(2)] == [200, 200]

    response = register(api_client, "+16502530009")

    assert response.status_code == 429
    assert response.json() == {"detail": "Request was throttled. Expected available in 15 seconds."}
    assert response["Retry-After"] == "15"
    time_machine.move_to("2026-11-26 10:00:59.5+00:00", tick=False)
    assert register(api_client, "+16502530009")["Retry-After"] == "1"
    time_machine.move_to("2026-11-26 10:01:00+00:00", tick=False)  # a fixed window: all of it comes back at once
    assert [register(api_client, f"+1650253001{n}").status_code for n in range(3)] == [200, 200, 429]


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
    assert not [q for q in queries.captured_queries if "kriya_cache" in q["sql"] or "throttle_counts" in q["sql"]]


def test_each_limit_costs_one_query_on_the_database(rates, api_client, monkeypatch):
    rates(register_ip="30/min", register_phone="10/min")
    monkeypatch.setattr("accounts.throttling.PURGE_CHANCE", 0)  # a new window's row sometimes also purges old ones

    with CaptureQueriesContext(connection) as queries:
        assert register(api_client, "+16502530001").status_code == 200

    counted = [q["sql"] for q in queries.captured_queries if "throttle_counts" in q["sql"]]
    assert len(counted) == 2 and all(sql.startswith("INSERT") for sql in counted), counted


def test_counting_in_a_new_window_sometimes_purges_the_rows_of_finished_windows(rates, api_client, monkeypatch):
    rates(register_ip="30/min", register_phone="none")
    monkeypatch.setattr("accounts.throttling.PURGE_CHANCE", 1)  # every new row purges, instead of 1 in 50
    ThrottleCount.objects.create(key="throttle_register_ip_203.0.113.9:1", hits=7, window_end=int(time.time()) - 1)
    ThrottleCount.objects.create(key="throttle_register_ip_203.0.113.9:9", hits=1, window_end=int(time.time()) + 60)

    assert register(api_client, "+16502530001").status_code == 200

    assert sorted(ThrottleCount.objects.values_list("key", flat=True)) == [
        "throttle_register_ip_127.0.0.1:29928120", "throttle_register_ip_203.0.113.9:9"]


def test_throttle_rates_come_from_the_environment_over_the_defaults():
    env = production_env(THROTTLE_RATES="otp_ip=5/min,user=none")
    code = "import django; django.setup(); from django.conf import settings; print(json.dumps(settings.THROTTLE_RATES))"

    output = subprocess.run(
        [sys.executable, "-c", f"import json; {code}"], cwd=REPO, capture_output=True, text=True, check=True,
        env={**env, "DJANGO_SETTINGS_MODULE": "kriya.settings"},
    ).stdout

    assert json.loads(output) == {
        "register_ip": "30/min", "register_phone": "10/min", "otp_ip": "5/min", "otp_phone": "10/hour",
        "otp_country": "100/hour", "otp_prefix": "20/hour", "user": "none", "refresh_ip": "60/min",
        "refresh_session": "10/min", "account_ip": "30/min",
    }


def test_a_worker_counting_in_the_database_never_loads_the_redis_client():
    # A Redis client is about 7 MiB of each worker's memory: only a Redis cache should bring it in.
    code = ("from kriya.wsgi import application; from django.urls import get_resolver; get_resolver().url_patterns; "
            "from accounts import throttling, views; import sys; print('redis' in sys.modules)")

    output = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
        env=production_env(CACHE_URL="dbcache://kriya_cache"),
    ).stdout

    assert output.strip() == "False"


def test_redis_counts_exactly_too(rates, use_redis, redis_url, api_client):
    use_redis(redis_url)
    rates(register_ip="3/min")
    client = {"REMOTE_ADDR": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}  # a shared Redis

    answers = [register(api_client, f"+1650253000{n}", **client) for n in range(5)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429]
    assert answers[3]["Retry-After"] == "60"


# When the store of the counts cannot be reached: register, user and logout go on unthrottled, otp/request
# (every code an SMS paid for) stops.
UNAVAILABLE = {"detail": "Rate limiting is temporarily unavailable. Please try again later."}
WARNING = "Rate-limit store unreachable"


@pytest.fixture
def redis_down(use_redis):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there: connection refused


def test_with_redis_down_register_user_and_logout_fail_open_with_one_warning(redis_down, api_client, caplog):
    answers = [register(api_client, f"+1650253000{n}") for n in range(3)]
    token = answers[0].json()["token"]
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    answers += [api_client.get("/api/auth/user", **bearer), api_client.delete("/api/auth/logout", **bearer)]

    assert [answer.status_code for answer in answers] == [200] * 5
    warnings = [record for record in caplog.records if WARNING in record.getMessage()]
    assert len(warnings) == 1, warnings
    assert warnings[0].levelname == "WARNING"
    assert warnings[0].getMessage().startswith(f"{WARNING} (ConnectionError): register_ip requests are let through")


def test_with_redis_down_otp_request_fails_closed_and_texts_nothing(redis_down, request_code, sms_outbox):
    response = request_code()

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert response["Retry-After"] == "30"
    assert response["Content-Type"] == "application/json"
    assert sms_outbox == []


def test_a_hung_redis_costs_one_socket_timeout_then_is_skipped_for_a_while(use_redis, hung_server, api_client, request_code, sms_outbox):
    use_redis(hung_server)  # 0.5 s socket timeouts, as CACHE_TIMEOUT_SECONDS sets in production

    started = time.monotonic()
    first = register(api_client, "+16502530001")
    first_took = time.monotonic() - started
    started = time.monotonic()
    answers = [register(api_client, "+16502530002"), request_code()]
    then_took = time.monotonic() - started

    assert first.status_code == 200
    assert 0.4 < first_took < 1.5  # one timeout: the phone's throttle skipped the store the IP's had just failed on
    assert [answer.status_code for answer in answers] == [200, 503]
    assert then_took < 0.4
    assert sms_outbox == []


def test_with_redis_down_the_database_limits_on_codes_still_hold(settings, sms_mode, request_code, texted_code, api_client, use_redis):
    settings.OTP_MAX_ATTEMPTS = 2
    assert request_code().status_code == 200
    code = texted_code()
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    use_redis(f"redis://127.0.0.1:{free_port()}/0")  # down from here on

    answers = [register(api_client, "+16502530001", data_code) for data_code in (wrong, wrong, code)]

    assert [(answer.status_code, answer.json()) for answer in answers] == [(400, {"detail": "Invalid or expired code"})] * 3
