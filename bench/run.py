"""Kriya's benchmark (`make bench`): Kriya under gunicorn against a no-framework floor, on PostgreSQL.

1. Creates a fresh database kriya_bench_<pid> and migrates it (manage.py migrate).
2. Starts Kriya (gunicorn kriya.wsgi, 2 workers, DEBUG=False, freshly generated secrets, plus
   -c gunicorn.conf.py when the repo has one) and the floor (bench/floor.py, gunicorn, 2 sync
   workers, gunicorn's defaults) on free loopback ports.
3. Through the API: register -> token A, logout A (A is now revoked), register again -> token B.
4. Rounds of load from separate processes (bench/load.py: wrk, or a Python fallback without it),
   floor and Kriya's validate-token back to back in alternating order, then Kriya's other scenarios;
   then one validate-token run on Kriya at --high-connections.
5. Prints medians, Kriya's ratio to the floor, errors, peak RSS per worker and PASS/FAIL targets.
It stops the gunicorns it started and drops its database however it ends (Ctrl-C, SIGTERM, error).
It exits 0 when the run completed (even with FAIL targets), 1 when it could not run.

Environment: BENCH_DATABASE_URL (the PostgreSQL server, default postgres://postgres@127.0.0.1:5432),
BENCH_LOADGEN=python to use the Python load generator even where wrk is installed.
"""

import argparse
import ctypes
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jwt
import psycopg

import load  # bench/load.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")  # the venv's, as `make bench` runs the venv's python
PHONE = "+16502530001"
VALIDATE = "/api/auth/validate-token"
RSS_LIMIT_MIB = 80
THROTTLE_SCOPES = ("register_ip", "register_phone", "user", "otp_ip", "otp_phone", "otp_country", "otp_prefix", "refresh_ip",
                   "refresh_session", "account_ip")  # accounts/throttling.py, accounts/pumping.py


class BenchError(Exception):
    """The bench cannot go on; the message says why."""


# --- servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # PR_SET_PDEATHSIG: if this script is killed outright (SIGKILL), gunicorn still gets a SIGTERM.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


class Server:
    """A gunicorn master started here, in its own session (so a terminal's Ctrl-C reaches only us)."""

    def __init__(self, name, app_args, cwd, env, logdir):
        self.name, self.port, self.log = name, free_port(), logdir / f"{name}.log"
        # --no-control-socket: gunicorn >= 25 otherwise shares ~/.gunicorn/gunicorn.ctl between instances.
        self.cmd = [GUNICORN, *app_args, "--workers", "2", "--bind", f"127.0.0.1:{self.port}", "--no-control-socket"]
        self.peak_kib = {}  # worker pid -> highest VmHWM seen
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)

    def log_tail(self, lines=25) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_ready(self, path, any_answer=False, timeout=60.0):
        """Wait until a worker answers GET path with 200 (or anything, with any_answer)."""
        deadline, last = time.monotonic() + timeout, "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, data = call(self.port, "GET", path, timeout=5)
                if status == 200 or any_answer:
                    return
                last = f"{status} {data}"
            except OSError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise BenchError(f"{self.name} not ready on port {self.port} after {timeout:.0f} s ({last}):\n"
                         f"{self.log_tail()}")

    def workers(self) -> list[int]:
        """The master's children: gunicorn's workers."""
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:  # field 4: ppid
                    pids.append(int(entry))
        return pids

    def sample_rss(self):
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
            self.peak_kib[pid] = max(self.peak_kib.get(pid, 0), hwm)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # graceful: the master stops its workers
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the master and its workers: our session only
                self.proc.wait()


def call(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw[:300]


def call_ok(port, method, path, body=None, headers=None):
    status, data = call(port, method, path, body, headers)
    if status != 200:
        raise BenchError(f"{method} {path.split('?')[0]} answered {status}: {data}")
    return data


# --- database -----------------------------------------------------------------------------------


def token_without_session(token: str, key: str) -> str:
    """The same access token as issued before sessions existed (no sid): validated on token_version alone."""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.pop("sid")
    return jwt.encode(claims, key, algorithm="HS256", headers=jwt.get_unverified_header(token))


def refresh_tokens_maker(db_url: str, user_id: str):
    """fresh_bodies for the refresh scenario: n new sessions of the user, written straight into the bench's
    database (the columns of accounts.models.Session), each with its own refresh token."""

    def make(n: int) -> list[dict]:
        tokens = [secrets.token_urlsafe(32) for _ in range(n)]
        now = datetime.now(UTC)
        with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
            with cur.copy("COPY sessions (id, user_id, refresh_token_hash, device_name, created_at, last_used_at,"
                          " idle_expires_at, expires_at, user_agent, revoked_reason) FROM STDIN") as copy:
                for token in tokens:
                    copy.write_row((uuid.uuid4(), user_id, hashlib.sha256(token.encode()).hexdigest(), "bench",
                                    now, now, now + timedelta(days=30), now + timedelta(days=90), "", ""))
        return [{"refresh_token": token} for token in tokens]

    return make


def database_urls(name):
    """(maintenance URL, URL of the bench's database, URL to show) on BENCH_DATABASE_URL's server."""
    server = urlsplit(os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432"))
    maintenance = urlunsplit(server._replace(path=server.path if server.path.strip("/") else "/postgres"))
    bench = urlunsplit(server._replace(path=f"/{name}"))
    shown = urlunsplit(server)
    if server.password:
        shown = shown.replace(f":{server.password}@", ":***@", 1)
    return maintenance, bench, shown


def admin_sql(maintenance_url, shown, sql):
    try:
        with psycopg.connect(maintenance_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)
    except psycopg.OperationalError as exc:
        raise BenchError(
            f"PostgreSQL is not reachable at {shown}: {str(exc).strip()}\n"
            "Start it, or point BENCH_DATABASE_URL at a server (postgres://USER[:PASSWORD]@HOST:PORT)."
        ) from None


# --- measuring ----------------------------------------------------------------------------------


@dataclass
class Scenario:
    label: str
    server: Server
    method: str
    path: str
    headers: dict
    body: dict | None
    expect: object  # the answer must satisfy it: a scenario that silently 4xx's measures nothing
    fresh_bodies: object = None  # fresh_bodies(n): n single-use bodies, each sent once (refresh tokens)

    def probe(self):
        body = self.fresh_bodies(1)[0] if self.fresh_bodies else self.body
        status, data = call(self.server.port, self.method, self.path, body, self.headers)
        if status != 200 or not isinstance(data, dict) or not self.expect(data):
            raise BenchError(f"{self.label}: unexpected answer {status} {data}")
        return data

    def run(self, connections, duration):
        body = None if self.body is None else json.dumps(self.body)
        # More single-use bodies than the run can send at 4,000 req/s: none is sent twice.
        bodies = [json.dumps(b) for b in self.fresh_bodies(int(duration * 4000) + 1000)] if self.fresh_bodies else None
        result = load.measure(f"http://127.0.0.1:{self.server.port}{self.path}", method=self.method,
                              headers=self.headers, body=body, bodies=bodies, connections=connections, duration=duration)
        self.server.sample_rss()
        return result


def fmt_errors(errors) -> str:
    total = sum(errors.values())
    detail = ", ".join(f"{'non-2xx' if k == 'status' else k} {v}" for k, v in errors.items() if v)
    return f"{total} ({detail})" if total else "0"


def row(label, r, vs_floor=None) -> str:
    shown = f"{vs_floor:6.2f}x" if vs_floor else " " * 7
    return f"  {label:<34} {r['rps']:8.0f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f}  {shown}  {fmt_errors(r['errors'])}"


HEADER = f"  {'scenario':<34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  {'/floor':>7}  errors"


def ratio(a, b):
    return a / b if b else float("nan")  # a floor that served nothing fails every target


def summarize(runs, floor_runs):
    """Medians over the rounds; errors are summed, never medianed away.

    Ratios to the floor are taken within each round, then medianed: the machine's speed drifts by tens of
    percent from minute to minute, and a round's runs are seconds apart.
    """
    out = {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
    out["errors"] = {k: sum(r["errors"][k] for r in runs) for k in load.ERROR_KINDS}
    pairs = list(zip(runs, floor_runs, strict=True))
    out["rps_ratio"] = statistics.median(ratio(r["rps"], f["rps"]) for r, f in pairs)
    out["p99_ratio"] = statistics.median(ratio(r["p99_ms"], f["p99_ms"]) for r, f in pairs)
    return out


# --- the bench ----------------------------------------------------------------------------------


def kriya_database(name: str, made: dict, starting: str) -> dict:
    """A fresh database `name` on BENCH_DATABASE_URL's server, migrated; returns Kriya's environment for it:
    production settings and fresh secrets, rate limits off."""
    maintenance, db_url, shown = database_urls(name)
    print(f"setting up: database {name} on {shown}, migrate, {starting}")
    admin_sql(maintenance, shown, f'CREATE DATABASE "{name}"')
    made["db"] = (maintenance, shown, name)

    env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
    # Production settings. kriya/settings.py also reads .env, but variables set here win over it.
    env.update(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        JWT_ALGORITHM="HS256",
        PLANE_API_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=db_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="False",  # plain HTTP straight to gunicorn, as from a TLS-terminating proxy
        PHONE_VERIFICATION="off",  # register without an SMS code, as the scenarios do
        # One client IP, one phone and one user would hit any real rate limit in the first second.
        THROTTLE_RATES=",".join(f"{scope}=none" for scope in THROTTLE_SCOPES),
    )
    done = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise BenchError(f"manage.py migrate failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return env


def bench(args, tmp: Path, made):
    env = kriya_database(f"kriya_bench_{os.getpid()}", made, "gunicorn for Kriya and the floor")
    db_url = env["DATABASE_URL"]

    conf = ["-c", "gunicorn.conf.py"] if (ROOT / "gunicorn.conf.py").exists() else []
    kriya = Server("kriya", ["kriya.wsgi", *conf], ROOT, env, tmp)
    made["servers"].append(kriya)
    # The floor runs from bench/, where no gunicorn.conf.py is picked up: a fixed reference.
    floor = Server("floor", ["floor:application"], ROOT / "bench", env, tmp)
    made["servers"].append(floor)
    kriya.wait_ready("/health")  # Kriya's health view also checks the database
    floor.wait_ready("/", any_answer=True)  # the floor answers only validate-token: a 404 means it is up

    revoked = call_ok(kriya.port, "POST", "/api/auth/register", {"phone_number": PHONE, "first_name": "Bench"})["token"]
    call_ok(kriya.port, "DELETE", f"/api/auth/logout?token={revoked}")
    signed_in = call_ok(kriya.port, "POST", "/api/auth/register", {"phone_number": PHONE, "first_name": "Bench"})
    valid = signed_in["token"]
    legacy = token_without_session(valid, env["JWT_SECRET_KEY"])

    api = {"X-API-Key": env["PLANE_API_KEY"], "Content-Type": "application/json"}
    scenarios = {
        "floor": Scenario("floor validate-token (valid)", floor, "POST", VALIDATE, api, {"token": valid},
                          lambda d: d.get("valid") is True),
        "validate": Scenario("kriya validate-token (valid)", kriya, "POST", VALIDATE, api, {"token": valid},
                             lambda d: d.get("valid") is True),
        "legacy": Scenario("kriya validate-token (no sid)", kriya, "POST", VALIDATE, api, {"token": legacy},
                           lambda d: d.get("valid") is True),
        "revoked": Scenario("kriya validate-token (revoked)", kriya, "POST", VALIDATE, api, {"token": revoked},
                            lambda d: d.get("valid") is False),
        "login": Scenario("kriya login (register, existing)", kriya, "POST", "/api/auth/register",
                          {"Content-Type": "application/json"}, {"phone_number": PHONE}, lambda d: "token" in d),
        "refresh": Scenario("kriya token/refresh", kriya, "POST", "/api/auth/token/refresh",
                            {"Content-Type": "application/json"}, None, lambda d: "refresh_token" in d,
                            refresh_tokens_maker(db_url, signed_in["user"]["id"])),
        "user": Scenario("kriya GET user (Bearer)", kriya, "GET", "/api/auth/user",
                         {"Authorization": f"Bearer {valid}"}, None, lambda d: d.get("phone_number") == PHONE),
    }
    answers = {key: s.probe() for key, s in scenarios.items()}
    if answers["floor"] != answers["validate"]:
        print(f"note: floor and Kriya answer differently\n  floor: {answers['floor']}\n  kriya: {answers['validate']}")

    engine = load.engine_name()
    print(f"load: {engine}; {args.rounds} rounds x {args.duration:g} s per scenario, {args.connections} connections"
          f" (+ {args.high_connections} on validate-token); throttles off")
    print(f"kriya: {' '.join(kriya.cmd[1:])}\nfloor: {' '.join(floor.cmd[1:])} (in bench/)")

    for s in scenarios.values():  # warm-up, not recorded: lazy imports, first connections, caches
        s.run(args.connections, 1)

    results = {key: [] for key in scenarios}
    for n in range(args.rounds):
        print(f"\nround {n + 1}/{args.rounds} (load avg {os.getloadavg()[0]:.2f})\n{HEADER}")
        pair = ["floor", "validate"] if n % 2 == 0 else ["validate", "floor"]  # neither always goes first
        for key in [*pair, "legacy", "revoked", "login", "refresh", "user"]:
            results[key].append(scenarios[key].run(args.connections, args.duration))
            print(row(scenarios[key].label, results[key][-1]))

    high = None
    if args.high_connections:
        high = scenarios["validate"].run(args.high_connections, args.duration)

    med = {key: summarize(runs, results["floor"]) for key, runs in results.items()}
    print(f"\nmedians over {args.rounds} rounds, {args.connections} connections (errors: sum of all rounds)\n{HEADER}")
    for key, s in scenarios.items():
        print(row(s.label, med[key], med[key]["rps_ratio"]))
    if high:  # one run: compared with the floor's median
        label = f"kriya validate-token @{args.high_connections} conns"
        print(row(label, high, ratio(high["rps"], med["floor"]["rps"])))
    print("  (/floor: Kriya's req/s over the floor's validate-token req/s in the same round, median of rounds)")

    print("\npeak RSS per worker (VmHWM):")
    for server in (kriya, floor):
        server.sample_rss()
        restarts = max(0, len(server.peak_kib) - 2)
        peaks = ", ".join(f"pid {pid} {kib / 1024:.1f} MiB" for pid, kib in sorted(server.peak_kib.items()))
        print(f"  {server.name}: {peaks}" + (f"  ({restarts} worker restart(s) during the run)" if restarts else ""))

    v, login, refresh, legacy = med["validate"], med["login"], med["refresh"], med["legacy"]
    with_sid = ratio(v["rps"], legacy["rps"])
    kriya_errors = sum(sum(m["errors"].values()) for key, m in med.items() if key != "floor")
    high_errors = sum(high["errors"].values()) if high else 0
    rss = max(kriya.peak_kib.values(), default=0) / 1024
    targets = [
        ("validate-token req/s >= 0.75 x floor", v["rps_ratio"] >= 0.75, f"{v['rps_ratio']:.2f} x floor"),
        ("validate-token p99 <= 1.5 x floor p99", v["p99_ratio"] <= 1.5, f"{v['p99_ratio']:.2f} x floor"),
        (f"zero errors, Kriya @{args.connections} conns", kriya_errors == 0, f"{kriya_errors} errors"),
        ("validate-token with sid >= 0.9 x without", with_sid >= 0.9, f"{with_sid:.2f} x"),
        ("login req/s >= 0.3 x floor validate req/s", login["rps_ratio"] >= 0.3, f"{login['rps_ratio']:.2f} x floor"),
        ("refresh req/s >= 0.3 x floor validate req/s", refresh["rps_ratio"] >= 0.3, f"{refresh['rps_ratio']:.2f} x floor"),
        (f"peak RSS per worker <= {RSS_LIMIT_MIB} MiB", 0 < rss <= RSS_LIMIT_MIB, f"max {rss:.1f} MiB"),
    ]
    if high:
        targets.append((f"zero errors, validate-token @{args.high_connections} conns", high_errors == 0,
                        f"{fmt_errors(high['errors'])} errors"))
    print("\ntargets:")
    for name, ok, detail in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {name:<44} {detail}")
    if sum(sum(r["errors"].values()) for r in results["floor"]):
        print("  note: the floor had errors too: the machine or the load generator is the limit, not Kriya")
    if high_errors:
        print("  note: with sync workers each of the 2 workers serves one connection at a time and the rest wait in\n"
              "  the listen backlog (--backlog, default 2048, capped by net.core.somaxconn). Try worker_class =\n"
              "  'gthread' with threads = 4 in gunicorn.conf.py (or a larger backlog/timeout), then re-run.")
    if kriya_errors or high_errors:
        log = kriya.log.read_text(errors="replace").splitlines()
        # gunicorn.conf.py's access log line has '"POST /path HTTP/1.1" STATUS': say which statuses they were.
        statuses = Counter(m[1] for ln in log if (m := re.search(r'HTTP/1\.[01]" (\d{3}) ', ln)) and m[1][0] != "2")
        problems = [ln for ln in log if any(w in ln for w in ("ERROR", "CRITICAL", "Traceback", "WORKER TIMEOUT"))]
        print(f"kriya's access log, non-2xx statuses: {dict(statuses) or 'none logged'}")
        print("kriya's log, error lines:\n  " + "\n  ".join(problems[-15:] or ["(none)"]))
    if load.engine_name() == "python":
        print("note: Python load generator (no wrk): it shares the 2 cores, so absolute req/s are lower than with wrk.")


def run_bench(bench_fn, args, name: str) -> int:
    """Run bench_fn(args, tmp, made), then stop the servers and drop the database it recorded in made,
    however it ends (Ctrl-C, SIGTERM, an error). Also for bench/relying_party.py."""
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens under make

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)  # unwinds through the finally below

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    made = {"servers": [], "db": None}  # what the finally below must undo
    tmp = Path(tempfile.mkdtemp(prefix=f"kriya-{name}-"))
    try:
        bench_fn(args, tmp, made)
        return 0
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # cleanup must not be cut short
            signal.signal(sig, signal.SIG_IGN)
        for server in reversed(made["servers"]):
            server.stop()
        if made["db"]:
            maintenance, shown, db = made["db"]
            try:
                admin_sql(maintenance, shown, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            except (BenchError, psycopg.Error) as exc:
                print(f"{name}: could not drop database {db}: {exc}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per scenario (default 5)")
    ap.add_argument("--connections", type=int, default=32, help="for the floor comparison (default 32)")
    ap.add_argument("--high-connections", type=int, default=256, help="validate-token run on Kriya; 0 skips it")
    return run_bench(bench, ap.parse_args(), "bench")


if __name__ == "__main__":
    sys.exit(main())
