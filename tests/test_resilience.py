"""Every wait has a deadline, and Plane's validate-token keeps answering whatever else misbehaves: faults
injected on loopback against real gunicorn (and nginx) processes. `make chaos` runs the long versions."""

import contextlib
import json
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.db import connection

from tests import chaos
from tests.conftest import require_program
from tests.servers import REPO, TCPProxy, call, free_port, gunicorn, production_env

postgres = pytest.mark.postgres


def database_url(port=None) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@127.0.0.1:{port or db['PORT'] or 5432}/{db['NAME']}"


@contextlib.contextmanager
def locked(table: str, seconds: float):
    """Another session holds an ACCESS EXCLUSIVE lock on table (what a migration takes) for up to seconds."""
    db = connection.settings_dict
    locker = psycopg.connect(host="127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    locker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    release = threading.Timer(seconds, locker.rollback)
    release.start()
    try:
        yield
    finally:
        release.cancel()
        locker.rollback()
        locker.close()


def validate(base, env, token):
    return call(base, "POST", "/api/auth/validate-token", json.dumps({"token": token}).encode(),
                {"X-API-Key": env["PLANE_API_KEY"]})


def timed(request):
    started = time.monotonic()
    status, headers, body = request()
    return time.monotonic() - started, status, headers, body


@postgres
@pytest.mark.parametrize("timeouts", [
    {"DATABASE_LOCK_TIMEOUT_MS": "1000"},  # LockNotAvailable
    {"DATABASE_LOCK_TIMEOUT_MS": "0", "DATABASE_STATEMENT_TIMEOUT_MS": "1000"},  # QueryCanceled
], ids=["lock_timeout", "statement_timeout"])
def test_a_locked_users_table_gives_503_json_within_the_timeout(transactional_db, tmp_path, timeouts):
    env = production_env(DATABASE_URL=database_url(), **timeouts)
    with gunicorn(env, tmp_path / "gunicorn.log") as base:
        token = json.loads(chaos.register(base)[2])["token"]
        with locked("users", seconds=8):
            elapsed, status, headers, body = timed(lambda: validate(base, env, token))
        print(f"\nvalidate-token while users is locked ({timeouts}): {status} after {elapsed:.2f} s")
        assert (status, headers["Content-Type"], json.loads(body)) == (
            503, "application/json", {"detail": "Service temporarily unavailable"})
        assert 0.9 < elapsed < 3
        assert json.loads(validate(base, env, token)[2])["valid"] is True  # the lock gone, at once


@postgres
def test_a_database_that_stops_answering_gives_503_json_within_seconds(transactional_db, tmp_path):
    proxy = TCPProxy(target_port=connection.settings_dict["PORT"] or 5432)
    proxy.restore()
    env = production_env(DATABASE_URL=database_url(proxy.port), DATABASE_STATEMENT_TIMEOUT_MS="1000",
                         DATABASE_CONNECT_TIMEOUT="2")
    log = tmp_path / "gunicorn.log"
    try:
        with gunicorn(env, log) as base:
            token = json.loads(chaos.register(base)[2])["token"]
            proxy.freeze()  # the connection stays open; nothing comes back
            answers = [timed(lambda: validate(base, env, token)) for _ in range(3)]
            proxy.thaw()
            recovered = validate(base, env, token)
    finally:
        proxy.cut()

    print("\nvalidate-token while the database hangs:", [f"{status} after {elapsed:.2f} s" for elapsed, status, *_ in answers])
    for elapsed, status, headers, body in answers:
        assert (status, headers["Content-Type"], json.loads(body)) == (
            503, "application/json", {"detail": "Service temporarily unavailable"})
        # At worst the health check's 1 s, then a reconnection's connect timeout (2 s).
        assert elapsed < 4
    assert json.loads(recovered[2])["valid"] is True
    output = log.read_text()
    assert "WORKER TIMEOUT" not in output
    assert output.count("Database unavailable") == 1  # one line for the outage, not one per request
    assert "Service Unavailable" not in output
    assert output.count("Database reachable again") == 1


@postgres
def test_a_connection_the_database_dropped_costs_no_request_a_503(transactional_db, tmp_path):
    proxy = TCPProxy(target_port=connection.settings_dict["PORT"] or 5432)
    proxy.restore()
    env = production_env(DATABASE_URL=database_url(proxy.port))  # CONN_HEALTH_CHECKS by default
    try:
        with gunicorn(env, tmp_path / "gunicorn.log") as base:
            token = json.loads(chaos.register(base)[2])["token"]
            proxy.cut()  # PostgreSQL restarts while the worker is idle
            proxy.restore()
            status, _, body = validate(base, env, token)
    finally:
        proxy.cut()

    assert (status, json.loads(body)["valid"]) == (200, True)


@postgres
def test_migrate_gives_up_on_a_lock_instead_of_queueing_every_query_behind_it(transactional_db):
    env = production_env(DATABASE_URL=database_url(), DATABASE_MIGRATION_LOCK_TIMEOUT_MS="500")
    with locked("django_migrations", seconds=10):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert "lock timeout" in result.stderr
    assert elapsed < 8


def test_a_hung_redis_costs_a_request_half_a_second_not_the_clients_default(tmp_path):
    hung = chaos.Hung()
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}", CACHE_URL=f"redis://{hung.address}/0")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    with hung, gunicorn(env, tmp_path / "gunicorn.log") as base:
        elapsed, status, headers, _ = timed(lambda: chaos.register(base))

    print(f"\nregister with Redis hung: {status} after {elapsed:.2f} s")
    assert elapsed < 2.5
    assert headers["Content-Type"] == "application/json"


@postgres  # three otp/request writing at once: SQLite answers "database is locked"
def test_validate_token_keeps_its_pace_while_sms_hangs_and_slow_clients_pile_up(transactional_db, tmp_path):
    nginx = require_program("nginx")
    provider_delay = 6.0
    with chaos.SlowProvider(delay=provider_delay) as provider:
        env = production_env(DATABASE_URL=database_url(), NUM_PROXIES="1",
                             SMS_BACKEND="webhook", SMS_WEBHOOK_URL=provider.url, SMS_TIMEOUT_SECONDS="10")
        with chaos.front_door(nginx, env, tmp_path / "front") as base:
            token = json.loads(chaos.register(base)[2])["token"]
            validate_call = chaos.validator(base, env["PLANE_API_KEY"], token)
            chaos.measure(validate_call, 50)
            idle = chaos.measure(validate_call, 300)

            otp = chaos.Background(lambda n: call(base, "POST", "/api/auth/otp/request",
                                                  json.dumps({"phone_number": f"+1650253{n:04d}"}).encode()), 3)
            with otp, chaos.Slowloris(int(base.rsplit(":", 1)[1]), count=20, interval=0.5, limit=30):
                deadline = time.monotonic() + 3
                while provider.in_flight < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert provider.in_flight == 3, otp.answers
                loaded = chaos.measure(validate_call, 300, budget=provider_delay - 3)
                assert provider.in_flight == 3  # all three still hanging during the measurement

    print(f"\nvalidate-token idle:                                 {idle.summary()}")
    print(f"validate-token, 3 SMS hanging {provider_delay:g} s + 20 slow sockets: {loaded.summary()}")
    print(f"otp/request answers: {otp.answers}")
    assert idle.errors == loaded.errors == []
    assert loaded.p(0.99) <= 2 * idle.p(0.99) + 10  # a stall costs seconds; 10 ms absorbs a shared machine's noise
    assert [status for status, _ in otp.answers] == [200, 200, 200]
