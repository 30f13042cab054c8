"""make chaos: rerun the fault scenarios against real processes on loopback and print the numbers.

Each scenario runs twice where it makes sense: "before" (no front door, or the deadlines switched off: how
Kriya behaved without them) and "after" (the production layout in deploy/: nginx, a public gunicorn pool and a
plane pool, every deadline on). Everything is bounded in time, listens on 127.0.0.1 only, and stops by itself.

Environment: CHAOS_DATABASE_URL, a PostgreSQL database to use as-is (it is migrated and gets a few users);
without it, a database kriya_chaos_<pid> is created on postgres://postgres@127.0.0.1:5432 and dropped after.
NGINX: the nginx binary (default: nginx on PATH or /usr/sbin/nginx).
"""

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from tests import chaos  # noqa: E402
from tests.servers import TCPProxy, call, free_port, gunicorn, production_env  # noqa: E402

ROWS = []
CALL_TIMEOUT = 15  # seconds a caller waits for one answer: the "before" runs hit it


def row(scenario, variant, result="", note=""):
    line = f"{scenario:<38} {variant:<34} {result:<62} {note}"
    ROWS.append(line)
    print(line, flush=True)


def phone() -> str:
    return f"+1650253{secrets.randbelow(10000):04d}"


def validator(base, env, token, timeout=CALL_TIMEOUT):
    def validate():
        status, _, body = call(base, "POST", "/api/auth/validate-token", json.dumps({"token": token}).encode(),
                               {"X-API-Key": env["PLANE_API_KEY"]}, timeout=timeout)
        return (status if status != 200 or json.loads(body)["valid"] else "invalid",)
    return validate


def token_for(base) -> str:
    status, _, body = chaos.register(base, phone())
    assert status == 200, (status, body)
    return json.loads(body)["token"]


def timed_calls(request, seconds: float, limit: int = 10000):
    """Call request() back to back for about `seconds`: [(started_at, elapsed, status)]."""
    results, start = [], time.monotonic()
    while time.monotonic() - start < seconds and len(results) < limit:
        began = time.monotonic()
        try:
            status = request()[0]
        except (OSError, TimeoutError) as error:
            status = type(error).__name__
        results.append((began - start, time.monotonic() - began, status))
    return results


def describe(results) -> str:
    latencies = chaos.Latencies(millis=[elapsed * 1000 for _, elapsed, _ in results],
                                errors=[status for *_, status in results if status != 200])
    statuses = sorted({str(status) for *_, status in results})
    return f"{latencies.summary()} [{','.join(statuses)}]"


def first_error(results) -> str:
    """The first answer that was not a 200, and when it came (seconds from the start of the fault)."""
    return next((f"{status} after {at + elapsed:.2f} s" for at, elapsed, status in results if status != 200), "none")


@contextlib.contextmanager
def single_gunicorn(env, tmp, name, workers=2):
    """The layout before: one sync pool, nothing in front (main's gunicorn.conf.py defaults, on loopback)."""
    with gunicorn({**env, "GUNICORN_THREADS": "1"}, tmp / f"{name}.log", workers=workers) as base:
        yield base


@contextlib.contextmanager
def front_door(nginx, env, tmp, name):
    with chaos.front_door(nginx, env, tmp / name) as base:
        yield base


# --- scenarios ------------------------------------------------------------------------------------


def slowloris(nginx, env, tmp):
    for variant, layout in (("before: gunicorn alone, 2 sync", lambda: single_gunicorn(env, tmp, "slowloris-before")),
                            ("after: nginx + pools", lambda: front_door(nginx, env, tmp, "slowloris-after"))):
        with layout() as base:
            validate = validator(base, env, token_for(base))
            timed_calls(validate, 1)  # warm up
            idle = timed_calls(validate, 10)
            row("slowloris: 20 slow sockets", f"{variant}, idle", describe(idle))
            with chaos.Slowloris(int(base.rsplit(":", 1)[1]), count=20, interval=1.0, limit=40):
                loaded = timed_calls(validate, 10)
            row("slowloris: 20 slow sockets", f"{variant}, loaded", describe(loaded))


def slow_sms(nginx, env, tmp):
    with chaos.SlowProvider(delay=10) as provider:
        sms_env = {**env, "SMS_BACKEND": "webhook", "SMS_WEBHOOK_URL": provider.url, "SMS_TIMEOUT_SECONDS": "15"}
        for variant, layout in (
                ("before: gunicorn alone, 2 sync", lambda: single_gunicorn(sms_env, tmp, "sms-before")),
                ("after: nginx + pools", lambda: front_door(nginx, sms_env, tmp, "sms-after"))):
            with layout() as base:
                validate = validator(base, env, token_for(base))
                timed_calls(validate, 1)  # warm up
                idle = timed_calls(validate, 9)
                otp = chaos.Background(lambda n: call(base, "POST", "/api/auth/otp/request",
                                                      json.dumps({"phone_number": phone()}).encode(), timeout=30), 3)
                with otp, chaos.Slowloris(int(base.rsplit(":", 1)[1]), count=20, interval=1.0, limit=40):
                    time.sleep(0.5)
                    loaded = timed_calls(validate, 9)
                row("slow SMS (10 s) x3 + 20 slow sockets", f"{variant}, idle", describe(idle))
                row("slow SMS (10 s) x3 + 20 slow sockets", f"{variant}, loaded", describe(loaded),
                    f"otp/request answers (status, s): {sorted(otp.answers, key=str)}")


def trickling_sms(nginx, env, tmp):
    with chaos.Trickler(interval=5, limit=45) as trickler:
        sms_env = {**env, "SMS_BACKEND": "webhook", "SMS_WEBHOOK_URL": trickler.url, "SMS_TIMEOUT_SECONDS": "10",
                   "PHONE_VERIFICATION": "sms"}
        with front_door(nginx, sms_env, tmp, "trickle") as base:
            call(base, "POST", "/api/auth/otp/request", b"{}")  # warm up: the worker's first request loads the app
            started = time.monotonic()
            status, headers, body = call(base, "POST", "/api/auth/otp/request",
                                         json.dumps({"phone_number": (number := phone())}).encode(), timeout=40)
            elapsed = time.monotonic() - started
            code = chaos.code_in(trickler.bodies[0]) if trickler.bodies else None
            login = chaos.register(base, number, code=code) if code else (None, None, b"")
        row("trickling SMS (1 byte / 5 s)", "after: SMS_TIMEOUT_SECONDS=10 total",
            f"otp/request {status} {headers.get('Content-Type')} after {elapsed:.1f} s",
            f"the code it carried, then: {login[0]} {login[2][:60]!r}")


def locked_table(nginx, env, tmp, database_url):
    for variant, overrides in (("before: no lock_timeout", {"DATABASE_LOCK_TIMEOUT_MS": "0", "DATABASE_STATEMENT_TIMEOUT_MS": "0"}),
                               ("after: defaults", {})):
        run_env = {**env, **overrides}
        with front_door(nginx, run_env, tmp, f"lock-{len(ROWS)}") as base:
            validate = validator(base, run_env, token_for(base))
            timed_calls(validate, 0.5)
            with psycopg.connect(database_url) as locker:
                locker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
                release = threading.Timer(12, locker.rollback)  # the "migration" ends after 12 s
                release.start()
                results = timed_calls(validate, 12)
                release.join()
            after = timed_calls(validate, 1)
        row("LOCK TABLE users for 12 s", variant, describe(results),
            f"first error answer: {first_error(results)}; after the lock: {describe(after)}")


def hung_database(nginx, env, tmp, database_url):
    target = urlsplit(database_url)
    for variant, overrides in (("before: no statement timeout", {"DATABASE_STATEMENT_TIMEOUT_MS": "0", "DATABASE_LOCK_TIMEOUT_MS": "0"}),
                               ("after: defaults", {})):
        proxy = TCPProxy(target_port=target.port or 5432)
        proxy.restore()
        proxied = urlunsplit(target._replace(netloc=f"{target.username or 'postgres'}@127.0.0.1:{proxy.port}"))
        run_env = {**env, **overrides, "DATABASE_URL": proxied}
        try:
            with front_door(nginx, run_env, tmp, f"hung-{len(ROWS)}") as base:
                validate = validator(base, run_env, token_for(base))
                timed_calls(validate, 0.5)
                proxy.freeze()
                results = timed_calls(validate, 12)
                proxy.thaw()
                thawed = time.monotonic()
                recovered = timed_calls(lambda: (validate()[0],), 20, limit=1)
                row("database stops answering for 12 s", variant, describe(results),
                    f"first error answer: {first_error(results)}; first answer once it is back: {recovered[0][2]} after "
                    f"{time.monotonic() - thawed:.2f} s")
        finally:
            proxy.cut()


def redis_faults(nginx, env, tmp):
    with front_door(nginx, env, tmp, "redis-token") as base:
        tokens = [token_for(base) for _ in range(3)]
    with chaos.Hung() as hung:
        for variant, address in (("Redis down (connection refused)", f"127.0.0.1:{free_port()}"),
                                 ("Redis hung", hung.address)):
            run_env = {**env, "CACHE_URL": f"redis://{address}/0", "THROTTLE_RATES": ""}
            logout_token = tokens.pop()
            with front_door(nginx, run_env, tmp, f"redis-{len(ROWS)}") as base:
                call(base, "GET", "/health")  # warm up: the worker's first request loads the app
                answers = []
                for name, request in (
                        ("register", lambda: chaos.register(base, phone())),
                        ("logout", lambda: call(base, "DELETE", "/api/auth/logout",
                                                headers={"Authorization": f"Bearer {logout_token}"})),
                        ("validate-token", validator(base, run_env, tokens[0]))):
                    started = time.monotonic()
                    try:
                        status = request()[0]
                    except OSError as error:
                        status = type(error).__name__
                    answers.append(f"{name} {status} in {time.monotonic() - started:.2f} s")
                row("cache outage (CACHE_URL=redis://)", variant, "; ".join(answers),
                    "what the throttles do without a cache is issue 8 part 4")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", help="slowloris sms trickle lock hung redis (default: all)")
    args = parser.parse_args()
    nginx = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        sys.exit("make chaos needs nginx (apt-get install nginx)")

    made = None
    database_url = os.environ.get("CHAOS_DATABASE_URL")
    if not database_url:
        name = f"kriya_chaos_{os.getpid()}"
        with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made, database_url = name, f"postgres://postgres@127.0.0.1:5432/{name}"
    env = production_env(DATABASE_URL=database_url, NUM_PROXIES="1",
                         THROTTLE_RATES="register_ip=none,otp_ip=none,otp_phone=none,register_phone=none,user=none")
    env.pop("GUNICORN_CMD_ARGS", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)

    wanted = set(args.scenarios) or {"slowloris", "sms", "trickle", "lock", "hung", "redis"}
    started = time.monotonic()
    print(f"{'scenario':<38} {'variant':<34} {'validate-token / answers':<62} notes")
    try:
        with tempfile.TemporaryDirectory(prefix="kriya-chaos-") as tmp:
            tmp = Path(tmp)
            if "slowloris" in wanted:
                slowloris(nginx, env, tmp)
            if "sms" in wanted:
                slow_sms(nginx, env, tmp)
            if "trickle" in wanted:
                trickling_sms(nginx, env, tmp)
            if "lock" in wanted:
                locked_table(nginx, env, tmp, database_url)
            if "hung" in wanted:
                hung_database(nginx, env, tmp, database_url)
            if "redis" in wanted:
                redis_faults(nginx, env, tmp)
    finally:
        if made:
            with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{made}" WITH (FORCE)')
    print(f"\nchaos done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
