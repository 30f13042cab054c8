"""The relying party's benchmark (`make bench-rp`): a minimal DRF endpoint (tests/relying_party) under gunicorn,
driven by wrk with a valid Kriya token, three ways in one run:

  (a) behind KriyaTokenAuthentication: kriya_client's cache and revocation follower
  (b) asking Kriya's validate-token on every request (what a relying party does without the kit)
  (c) the same endpoint with no authentication at all: the limit

All three get the same requests, the token's Authorization header included ((c) ignores it): the header
alone costs gunicorn and Django about 0.01 ms, which is the load's, not the kit's.

It prints each way's rate (median of --rounds, the ways alternating), the p50 latency each adds at
1 connection, Kriya requests per 1,000 relying-party requests in (a) (counted from Kriya's access log),
and the revocation delay over --trials trials: logout at Kriya -> the relying party's first refusal, and
-> every worker refusing (10 refusals in a row). Kriya runs as `make bench` runs it (fresh PostgreSQL
database, gunicorn.conf.py, 2 workers, DEBUG=False); the relying party runs 2 sync gunicorn workers on
SQLite. Everything it started is stopped, and its database dropped, however it ends.
"""

import argparse
import re
import secrets
import statistics
import sys
import time
from pathlib import Path

import load  # bench/load.py
from run import BenchError, Server, call, call_ok, kriya_database, run_bench

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "relying_party")]  # launch imports tests.servers
import launch  # noqa: E402  tests/relying_party/launch.py: the relying party's environment and migrations

PHONE = "+16502530001"
WAYS = (("a", "kit: cache + follower", "/api/me"), ("b", "asks Kriya every request", "/api/me-uncached"),
        ("c", "no authentication", "/api/open"))
KRIYA_CALLS = re.compile(r'"(POST /api/auth/validate-token|GET /api/auth/revocations) ')


def kriya_calls(log: Path) -> dict:
    counts = {"POST /api/auth/validate-token": 0, "GET /api/auth/revocations": 0}
    for match in KRIYA_CALLS.finditer(log.read_text(errors="replace")):
        counts[match.group(1)] += 1
    return counts


def start_servers(tmp: Path, made: dict):
    env = kriya_database(f"kriya_rpbench_{secrets.token_hex(4)}", made, "Kriya and the relying party under gunicorn")
    kriya = Server("kriya", ["kriya.wsgi", "-c", "gunicorn.conf.py"], ROOT, env, tmp)
    made["servers"].append(kriya)
    kriya.wait_ready("/health")

    rp_env = launch.rp_env(f"http://127.0.0.1:{kriya.port}", env["PLANE_API_KEY"], tmp / "rp.sqlite3")
    launch.migrate(rp_env)
    rp = Server("relying-party", ["rp.wsgi"], launch.RP_DIR, rp_env, tmp)
    made["servers"].append(rp)
    rp.wait_ready("/api/open")
    return kriya, rp


def sign_in(kriya) -> str:
    return call_ok(kriya.port, "POST", "/api/auth/register", {"phone_number": PHONE, "first_name": "Bench"})["token"]


def me(rp, token) -> int:
    return call(rp.port, "GET", "/api/me", headers={"Authorization": f"Bearer {token}"})[0]


def revocation_delays(kriya, rp, trials: int):
    """(first refusal, every worker refusing) in seconds after the logout request was sent, per trial."""
    first, settled = [], []
    for trial in range(trials):
        token = sign_in(kriya)
        for _ in range(10):  # both workers have the answer cached
            if me(rp, token) != 200:
                raise BenchError(f"trial {trial}: the relying party refused a fresh token")
        time.sleep(0.2 + (trial % 5) * 0.2)  # spread the logouts over the followers' poll period
        started = time.monotonic()
        call_ok(kriya.port, "DELETE", f"/api/auth/logout?token={token}")
        refusals, first_at = 0, None
        while refusals < 10:
            if time.monotonic() - started > 10:
                raise BenchError(f"trial {trial}: token still accepted 10 s after logout")
            if me(rp, token) == 401:
                refusals += 1
                first_at = first_at or time.monotonic() - started
            else:
                refusals = 0
            time.sleep(0.005)
        first.append(first_at)
        settled.append(time.monotonic() - started)
    return first, settled


def bench(args, tmp: Path, made: dict):
    kriya, rp = start_servers(tmp, made)
    token = sign_in(kriya)
    auth = {"Authorization": f"Bearer {token}"}
    for key, label, path in WAYS:
        status, body = call(rp.port, "GET", path, headers=auth)
        if status != 200:
            raise BenchError(f"({key}) {path} answered {status}: {body}")
    for _ in range(20):  # warm: the local user exists, each worker has the answer cached
        me(rp, token)
    time.sleep(1.5)

    rates = {key: [] for key, _, _ in WAYS}
    latencies = {key: [] for key, _, _ in WAYS}
    errors = {key: 0 for key, _, _ in WAYS}
    kit_requests, kit_kriya = 0, {"POST /api/auth/validate-token": 0, "GET /api/auth/revocations": 0}
    print(f"load: {load.engine_name()}, {args.rounds} rounds x {args.duration:g} s per way at {args.connections} "
          f"connections, then at 1 connection")
    for round_ in range(args.rounds):
        ways = WAYS[round_ % 3:] + WAYS[: round_ % 3]  # alternate the order between rounds
        for connections, into in ((args.connections, rates), (1, latencies)):
            for key, _, path in ways:
                before = kriya_calls(kriya.log)
                result = load.measure(f"http://127.0.0.1:{rp.port}{path}", headers=auth,
                                      connections=connections, duration=args.duration)
                errors[key] += sum(result["errors"].values())
                into[key].append(result["rps"] if into is rates else result["p50_ms"])
                if key == "a":
                    after = kriya_calls(kriya.log)
                    kit_requests += result["requests"]
                    for name in kit_kriya:
                        kit_kriya[name] += after[name] - before[name]
        print(f"  round {round_ + 1}: " + ", ".join(f"({k}) {rates[k][-1]:.0f} req/s" for k, _, _ in WAYS))

    print(f"revocation delay: {args.trials} trials (logout at Kriya -> refusal at the relying party)")
    first, settled = revocation_delays(kriya, rp, args.trials)

    rate = {key: statistics.median(values) for key, values in rates.items()}
    p50 = {key: statistics.median(values) for key, values in latencies.items()}
    # What each way adds: the median over rounds of its p50 minus (c)'s p50 in the same round.
    adds = {key: statistics.median(x - c for x, c in zip(latencies[key], latencies["c"])) for key in latencies}
    per_1000 = {name: count * 1000 / max(kit_requests, 1) for name, count in kit_kriya.items()}
    print()
    print(f"{'way':<32}{'req/s':>10}{'p50 @1 conn':>14}{'adds':>10}{'errors':>8}")
    for key, label, _ in WAYS:
        print(f"({key}) {label:<28}{rate[key]:>10.0f}{p50[key]:>11.3f} ms{adds[key]:>+8.3f} ms"
              f"{errors[key]:>8}")
    print(f"Kriya requests per 1,000 relying-party requests in (a), warm: validate-token "
          f"{per_1000['POST /api/auth/validate-token']:.2f}, revocation feed polls {per_1000['GET /api/auth/revocations']:.2f}"
          f" ({kit_requests} requests)")
    print(f"revocation delay, first refusal: p50 {statistics.median(first):.3f} s, max {max(first):.3f} s; "
          f"every worker refusing: p50 {statistics.median(settled):.3f} s, max {max(settled):.3f} s")
    targets = [
        ("(a) >= 0.9 x (c) req/s", rate["a"] >= 0.9 * rate["c"], f"{rate['a'] / rate['c']:.2f} x"),
        ("(a) >= 2.5 x (b) req/s", rate["a"] >= 2.5 * rate["b"], f"{rate['a'] / rate['b']:.2f} x"),
        ("kit adds <= 0.05 ms p50 at 1 connection", adds["a"] <= 0.05, f"{adds['a']:+.3f} ms"),
        ("<= 2 Kriya requests per 1,000 (validate-token + feed)", sum(per_1000.values()) <= 2,
         f"{sum(per_1000.values()):.2f}"),
        (f"revocation <= 2 s in all {args.trials} trials", max(settled) <= 2, f"max {max(settled):.3f} s"),
        ("no errors", not any(errors.values()), str(errors)),
    ]
    print()
    for name, ok, value in targets:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    print("\nThe machine is shared and noisy: compare ratios within one run, not req/s across runs.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per way and round (default 5)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--trials", type=int, default=20, help="revocation delay trials (default 20)")
    return run_bench(bench, ap.parse_args(), "bench-rp")


if __name__ == "__main__":
    sys.exit(main())
