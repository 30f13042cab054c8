"""Rate limits across real server processes on the real clock: exact under parallel clients, on the database
and on Redis, and what clients get when the store goes away."""

import contextlib
import itertools
import json
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.conftest import require_program
from tests.servers import REPO, call, free_port, gunicorn, production_env


def wait_for_a_fresh_minute(needed: float) -> None:
    """Live servers use the real clock: start where a minute's window has `needed` seconds left."""
    if (left := 60 - time.time() % 60) < needed:
        time.sleep(left + 0.05)


@pytest.mark.parametrize("cache", ["database", "redis"])
def test_two_server_processes_share_one_limit(cache, tmp_path, request):
    database = f"sqlite:///{tmp_path / 'kriya.sqlite3'}"
    cache_url = request.getfixturevalue("redis_url") if cache == "redis" else "dbcache://kriya_cache"
    env = production_env(DATABASE_URL=database, CACHE_URL=cache_url, THROTTLE_RATES="register_ip=3/min", NUM_PROXIES="1")
    if cache == "database":  # migrate alone creates the cache table
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    # A client address of our own: no other test or run shares this limit, even in a shared Redis.
    client = {"X-Forwarded-For": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}

    def register(base):
        status, headers, body = call(base, "POST", "/api/auth/register", b"{}", client)
        return status, headers.get("Retry-After"), json.loads(body)

    required = (400, None, {"phone_number": ["This field is required."]})  # counted, and answered without the database
    with gunicorn(env, tmp_path / "a.log") as first, gunicorn(env, tmp_path / "b.log") as second:
        wait_for_a_fresh_minute(needed=5)
        assert [register(first), register(second), register(first)] == [required] * 3
        throttled = [register(second), register(first)]
    for status, retry_after, body in throttled:
        assert status == 429
        assert 1 <= int(retry_after) <= 60  # the seconds left in this minute's window
        assert body == {"detail": f"Request was throttled. Expected available in {retry_after} seconds."}


@pytest.mark.postgres
@pytest.mark.parametrize("cache", ["database", "redis"])
def test_parallel_clients_get_exactly_the_documented_rate(cache, transactional_db, tmp_path, request):
    """30/min per IP, 8 clients from one IP sending 80 registrations at once to 2 workers: 30 pass, exactly."""
    db = connection.settings_dict
    cache_url = request.getfixturevalue("redis_url") if cache == "redis" else "dbcache://kriya_cache"
    env = production_env(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CACHE_URL=cache_url, THROTTLE_RATES="register_ip=30/min,register_phone=none", NUM_PROXIES="1",
    )
    client = {"X-Forwarded-For": f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}
    phones = (f"+1650253{n:04d}" for n in itertools.count(1000))
    bodies = [json.dumps({"phone_number": next(phones), "first_name": "Ada"}).encode() for _ in range(80)]

    with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as base:
        wait_for_a_fresh_minute(needed=10)
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda body: call(base, "POST", "/api/auth/register", body, client), bodies))

    statuses = Counter(status for status, _, _ in answers)
    assert statuses == {200: 30, 429: 50}, statuses
    assert {headers["Retry-After"] for status, headers, _ in answers if status == 429} <= {str(n) for n in range(1, 61)}


@contextlib.contextmanager
def redis_server(port: int):
    """A redis-server of this test's own on 127.0.0.1:port, stopped when the block ends."""
    process = subprocess.Popen(
        [require_program("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield
    finally:
        process.kill()
        process.wait()


def test_redis_going_away_under_gunicorn_fails_open_or_closed_and_recovers(tmp_path):
    port = free_port()
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}", CACHE_URL=f"redis://127.0.0.1:{port}/0",
                         SMS_BACKEND="console", OTP_RESEND_SECONDS="0")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    log = tmp_path / "gunicorn.log"

    def otp_request(n):
        return call(base, "POST", "/api/auth/otp/request", json.dumps({"phone_number": f"+1650253{n:04d}"}).encode())

    with gunicorn(env, log) as base:
        with redis_server(port):
            status, _, body = call(base, "POST", "/api/auth/register", b'{"phone_number": "+16502530001", "first_name": "Ada"}')
            assert status == 200
            bearer = {"Authorization": f"Bearer {json.loads(body)['token']}"}
            assert otp_request(1)[0] == 200

        started = time.monotonic()
        register = call(base, "POST", "/api/auth/register", b'{"phone_number": "+16502530002", "first_name": "Grace"}')
        user = call(base, "GET", "/api/auth/user", headers=bearer)
        otp = otp_request(2)
        ready = call(base, "GET", "/health/ready")
        logout = call(base, "DELETE", "/api/auth/logout", headers=bearer)
        took = time.monotonic() - started

        with redis_server(port):
            time.sleep(5.2)  # STORE_RETRY_SECONDS: each worker tries the store again after that
            recovered = otp_request(3)

    assert [register[0], user[0], logout[0]] == [200, 200, 200]
    assert (otp[0], otp[1]["Retry-After"], json.loads(otp[2])) == (
        503, "30", {"detail": "Rate limiting is temporarily unavailable. Please try again later."})
    assert (ready[0], json.loads(ready[2])) == (200, {"status": "degraded", "database": "ok", "cache": "unavailable"})
    assert took < 3
    assert recovered[0] == 200
    output = log.read_text()
    assert output.count("Rate-limit store unreachable") == 1, output
    assert "SMS to +16502530001" in output and "SMS to +16502530003" in output
    assert "SMS to +16502530002" not in output  # the refused request texted nothing
