"""GET /metrics: Prometheus' text format, for allowed addresses or the metrics key; what Kriya counts."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.tokens import issue_token
from tests.servers import REPO, TCPProxy, call, free_port, gunicorn, production_env

pytestmark = pytest.mark.django_db


def scrape(api_client, **extra) -> dict:
    """{(sample name, sorted labels): value} of one scrape from 127.0.0.1."""
    response = api_client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def counted(api_client):
    """counted(name, **labels) -> how much a sample grew since the test began (the registry outlives tests)."""
    before = scrape(api_client)

    def counted(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return scrape(api_client).get(key, 0) - before.get(key, 0)

    return counted


def test_metrics_are_prometheus_text_for_localhost(api_client):
    response = api_client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    for name in ("kriya_http_request_duration_seconds", "kriya_token_validations_total", "kriya_logins_total",
                 "kriya_otp_sends_total", "kriya_throttled_total", "kriya_database_errors_total",
                 "kriya_cache_errors_total"):
        assert f"# TYPE {name} " in text, name


def test_other_addresses_are_refused_without_the_metrics_key(api_client, settings):
    settings.METRICS_API_KEY = "metrics-key-for-tests-0123456789"
    outside = {"REMOTE_ADDR": "203.0.113.9"}

    refused = api_client.get("/metrics", **outside)
    wrong_key = api_client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-key", **outside)
    with_key = api_client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_API_KEY}", **outside)

    for response in (refused, wrong_key):
        assert (response.status_code, response.json()) == (403, {"detail": "You do not have permission to read the metrics."})
    assert with_key.status_code == 200


def test_the_allow_list_takes_networks_and_an_empty_key_never_matches(api_client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]

    assert api_client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert api_client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert api_client.get("/metrics", REMOTE_ADDR="11.1.2.3", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_a_request_through_an_undeclared_proxy_is_not_trusted_by_its_address(api_client, settings):
    # nginx on the same host connects from 127.0.0.1: without NUM_PROXIES every outside client would look local.
    assert api_client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert api_client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert api_client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200


def test_requests_are_timed_by_route_name_method_and_status_class_never_by_path(api_client, validate, user, counted):
    token = issue_token(user).token
    for _ in range(3):
        validate(token)
    validate(token, key="wrong-key")
    api_client.get("/api/auth/no-such-thing-4242")

    assert counted("kriya_http_request_duration_seconds_count", route="validate-token", method="POST", status="2xx") == 3
    assert counted("kriya_http_request_duration_seconds_count", route="validate-token", method="POST", status="4xx") == 1
    assert counted("kriya_http_request_duration_seconds_count", route="other", method="GET", status="4xx") == 1
    assert counted("kriya_http_request_duration_seconds_bucket", route="validate-token", method="POST", status="2xx",
                   le="+Inf") == 3
    assert "no-such-thing-4242" not in api_client.get("/metrics").content.decode()


def test_validations_are_counted_by_outcome(validate, user, make_user, forge_token, settings, counted):
    valid = issue_token(user).token
    revoked = issue_token(user).token
    expired = forge_token(user, exp=user.created_at - timedelta(hours=1), iat=user.created_at - timedelta(hours=2))
    unknown_key = forge_token(user, headers={"kid": "0123456789abcdef"})
    bad_signature = forge_token(user, key="another-key-that-is-at-least-32-characters")
    disabled_user = make_user(is_active=False)
    disabled = issue_token(disabled_user).token
    validate(valid)
    user.revoke_tokens()
    answers = [validate(token).json()["message"] for token in (revoked, expired, "not-a-jwt", unknown_key, bad_signature, disabled)]
    validate(forge_token(user, user_id="not-a-uuid"))
    disabled_user.delete()
    validate(disabled)

    assert answers == ["Token has been revoked", "Token has expired", "Token is malformed",
                       "Token was signed with an unknown key", "Token signature is invalid", "User account is disabled"]
    outcomes = ("valid", "revoked", "expired", "malformed", "unknown_key", "bad_signature", "disabled", "invalid",
                "unknown_user")
    assert [counted("kriya_token_validations_total", outcome=outcome) for outcome in outcomes] == [1] * len(outcomes)


def test_logins_codes_and_throttles_are_counted(api_client, settings, request_code, broken_sender, counted):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "register_phone": "2/min"}
    body = {"phone_number": "+16502530001", "first_name": "Ada"}
    statuses = [api_client.post("/api/auth/register", body).status_code for _ in range(3)]
    failed = request_code("+16502530002")
    settings.SMS_BACKEND = "locmem"
    sent = request_code("+16502530003")
    again = request_code("+16502530003")  # within OTP_RESEND_SECONDS: the database's own limit

    assert statuses == [200, 200, 429]
    assert [failed.status_code, sent.status_code, again.status_code] == [503, 200, 429]
    assert counted("kriya_logins_total", result="registered") == 1
    assert counted("kriya_logins_total", result="logged_in") == 1
    assert counted("kriya_otp_sends_total", result="failed") == 1
    assert counted("kriya_otp_sends_total", result="sent") == 1
    assert counted("kriya_throttled_total", scope="register_phone") == 1
    assert counted("kriya_throttled_total", scope="otp_code") == 1


def test_cache_errors_are_counted_by_scope_and_policy(api_client, use_redis, request_code, sms_outbox, counted):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")

    assert api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada"}).status_code == 200
    assert request_code().status_code == 503

    assert counted("kriya_cache_errors_total", scope="register_ip", policy="open") == 1
    assert counted("kriya_cache_errors_total", scope="register_phone", policy="open") == 1
    assert counted("kriya_cache_errors_total", scope="otp_ip", policy="closed") == 1


# Under gunicorn: every worker's counts in one answer, kept across worker restarts, fresh for each instance.

def live_count(base, route, status="2xx") -> float:
    status_code, _, body = call(base, "GET", "/metrics")
    assert status_code == 200
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "kriya_http_request_duration_seconds_count" and sample.labels == {
                    "route": route, "method": "POST", "status": status}:
                return sample.value
    return 0


def worker_pids(port: int) -> set[int]:
    """The workers of the gunicorn bound to port: the children of the process started with that --bind."""
    started = {}
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and f"127.0.0.1:{port}".encode() in (proc / "cmdline").read_bytes():
                started[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])  # its parent
    return {pid for pid, parent in started.items() if parent in started}


def test_metrics_under_gunicorn_add_up_every_worker_and_survive_restarts(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}", PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)

    def validate(base, token):
        body = json.dumps({"token": token}).encode()
        return call(base, "POST", "/api/auth/validate-token", body, {"X-API-Key": env["PLANE_API_KEY"]})[0]

    with gunicorn(env, tmp_path / "first.log", workers=2) as base:
        token = json.loads(call(base, "POST", "/api/auth/register", b'{"phone_number": "+16502530001", "first_name": "Ada"}')[2])["token"]
        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(lambda _: validate(base, token), range(20))) == [200] * 20
        port = int(base.rsplit(":", 1)[1])
        workers = worker_pids(port)
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGTERM)  # as max_requests recycles them
        deadline = time.monotonic() + 20
        while worker_pids(port) & workers or len(worker_pids(port)) < 2:
            assert time.monotonic() < deadline, "gunicorn did not replace its workers"
            time.sleep(0.2)
        assert [validate(base, token) for _ in range(10)] == [200] * 10

        assert live_count(base, "validate-token") == 30
        # The replacements carried on their predecessors' files: no new files per recycled worker. (Which worker
        # accepts a request is up to the kernel, so a slot that served none may have no histogram file yet.)
        files = {path.name for path in (tmp_path / "metrics").iterdir()}
        assert "histogram_worker0.db" in files or "histogram_worker1.db" in files
        assert files <= {"counter_worker0.db", "counter_worker1.db", "histogram_worker0.db", "histogram_worker1.db"}

    with gunicorn(env, tmp_path / "second.log", workers=2) as base:  # the same directory, a new instance
        assert live_count(base, "validate-token") == 0


@pytest.mark.postgres
def test_a_database_outage_shows_in_readiness_and_metrics_while_liveness_holds(transactional_db, tmp_path):
    proxy = TCPProxy(target_port=connection.settings_dict["PORT"] or 5432)
    proxy.restore()
    db = connection.settings_dict
    env = production_env(DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}", DATABASE_CONNECT_TIMEOUT="2")
    register = json.dumps({"phone_number": "+16502530001", "first_name": "Ada"}).encode()
    try:
        with gunicorn(env, tmp_path / "gunicorn.log") as base:
            status, _, body = call(base, "POST", "/api/auth/register", register)
            assert status == 200
            validate = json.dumps({"token": json.loads(body)["token"]}).encode()
            assert json.loads(call(base, "GET", "/health/ready")[2]) == {"status": "ready", "database": "ok", "cache": "ok"}

            proxy.cut()
            ready = call(base, "GET", "/health/ready")
            live = call(base, "GET", "/health/live")
            answers = [call(base, "POST", "/api/auth/register", register)[0],
                       call(base, "POST", "/api/auth/validate-token", validate, {"X-API-Key": env["PLANE_API_KEY"]})[0]]
            samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                       for family in text_string_to_metric_families(call(base, "GET", "/metrics")[2].decode())
                       for sample in family.samples}
    finally:
        proxy.cut()

    assert (ready[0], json.loads(ready[2])) == (503, {"status": "unready", "database": "unavailable", "cache": "unavailable"})
    assert (live[0], json.loads(live[2])) == (200, {"status": "alive"})
    assert answers == [503, 503]
    assert samples[("kriya_database_errors_total", ())] == 2
    assert samples[("kriya_cache_errors_total", (("policy", "open"), ("scope", "register_ip")))] == 1
    assert samples[("kriya_http_request_duration_seconds_count", (("method", "GET"), ("route", "health-ready"), ("status", "5xx")))] == 1


@pytest.mark.parametrize(
    "overrides, check_id, message",
    [
        ({"METRICS_API_KEY": "short-metrics-key"}, "kriya.E030", "METRICS_API_KEY must be at least 32 characters long (or empty)."),
        ({"METRICS_ALLOWED_IPS": ["127.0.0.1", "localhost"]}, "kriya.E031",
         "METRICS_ALLOWED_IPS: 'localhost' is not an IP address or network."),
        ({"CACHE_TIMEOUT_SECONDS": 0}, "kriya.E032", "CACHE_TIMEOUT_SECONDS must be more than 0."),
    ],
)
def test_metrics_and_cache_settings_that_cannot_work_fail_the_checks(settings, overrides, check_id, message):
    for name, value in overrides.items():
        setattr(settings, name, value)

    assert {check.id: check.msg for check in run_checks()}.get(check_id) == message
