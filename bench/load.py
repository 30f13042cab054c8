"""Closed-loop HTTP load for bench/run.py: wrk when installed, else a small Python generator.

Either way the load runs in processes of its own, and measure() returns the same dict:
requests, rps, p50_ms, p99_ms and errors {status (non-2xx), connect, read, write, timeout}.
Latency is timed from writing the request to reading the whole response (as wrk does), so the
reconnect that gunicorn's sync workers force after each response (Connection: close) is not in it.

Standalone, e.g. to put load on a server while profiling it:
  python bench/load.py http://127.0.0.1:8000/api/auth/validate-token -X POST \
      -H 'X-API-Key: ...' -H 'Content-Type: application/json' -d '{"token": "..."}' -c 32 -t 30
"""

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

TIMEOUT = 10.0  # seconds; a slower response counts as a timeout error
ERROR_KINDS = ("status", "connect", "read", "write", "timeout")


def engine_name(engine="auto"):
    """'wrk' or 'python': what measure() will use (BENCH_LOADGEN=python forces the fallback)."""
    if engine == "auto":
        engine = os.environ.get("BENCH_LOADGEN", "auto")
    if engine == "auto":
        engine = "wrk" if shutil.which("wrk") else "python"
    return engine


def measure(url, *, method="GET", headers=None, body=None, bodies=None, connections=32, duration=5.0, engine="auto"):
    """bodies: a list of request bodies, each sent once in turn (single-use credentials), instead of body."""
    run = _wrk if engine_name(engine) == "wrk" else _python
    return run(url, method, headers or {}, bodies or body, connections, duration)


# --- wrk ---------------------------------------------------------------------------------------

# wrk reports through a Lua done() hook, so nothing depends on its human-readable output.
_WRK_SCRIPT = """
wrk.method = [==[{method}]==]
{body}
{headers}
{bodies}
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
    .. '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def _wrk_bodies(bodies, threads):
    # Each wrk thread has its own Lua state: thread k sends bodies k, k + threads, k + 2 * threads, ...
    items = ",\n".join(f"[==[{b}]==]" for b in bodies)
    return f"""
local bodies = {{ {items} }}
local started = 0
function setup(thread) thread:set("index", started); started = started + 1 end
function request()
  local body = bodies[index % #bodies + 1]
  index = index + {threads}
  return wrk.format(nil, nil, nil, body)
end
"""


def _wrk(url, method, headers, body, connections, duration):
    # Long-bracket strings [==[...]==] need no escaping for tokens, keys and JSON.
    bodies = body if isinstance(body, list) else None
    script = _WRK_SCRIPT.format(
        method=method,
        body=f"wrk.body = [==[{body}]==]" if body and not bodies else "",
        bodies=_wrk_bodies(bodies, min(2, connections)) if bodies else "",
        headers="\n".join(f"wrk.headers[ [==[{k}]==] ] = [==[{v}]==]" for k, v in headers.items()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="bench-") as lua:
        lua.write(script)
        lua.flush()
        threads = min(2, connections)  # one per core: the server has the same two cores
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", f"--timeout={TIMEOUT:g}s",
               "-s", lua.name, url]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    r = json.loads(line.split(" ", 1)[1])
    # wrk's "status" errors are responses >= 400; run.py's probe makes sure a scenario answers 2xx.
    return _result(r["requests"], r["duration_us"] / 1e6, r["p50_us"] / 1e3, r["p99_us"] / 1e3,
                   {kind: r[kind] for kind in ERROR_KINDS})


# --- Python fallback -----------------------------------------------------------------------------
# Raw sockets rather than http.client: on a 2-core machine every microsecond the generator spends
# parsing is taken from the server it measures. Processes (one per core) get around the GIL;
# each runs one thread per connection.


def _python(url, method, headers, body, connections, duration):
    parts = urlsplit(url)

    def request_for(text):
        data = (text or "").encode()
        head = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                f"Host: {parts.netloc}", f"Content-Length: {len(data)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + data

    # Several bodies: each connection sends its own share of them in turn.
    requests = [request_for(text) for text in body] if isinstance(body, list) else [request_for(body)]
    procs = min(os.cpu_count() or 2, 2, connections)
    shares = [connections // procs + (i < connections % procs) for i in range(procs)]
    start = time.time()  # wall clock: shared by all processes
    deadline = start + duration
    first = [sum(shares[:i]) for i in range(procs)]
    with multiprocessing.get_context("fork").Pool(procs, initializer=_default_signals) as pool:
        outs = pool.starmap(_process, [(parts.hostname, parts.port or 80, requests, n, start_at, connections, deadline)
                                       for n, start_at in zip(shares, first)])
    elapsed = max(end for _, _, end in outs) - start
    latencies = sorted(x for lat, _, _ in outs for x in lat)
    errors = sum((err for _, err, _ in outs), Counter())
    return _result(len(latencies) + errors["status"], elapsed, _percentile(latencies, 50) * 1e3,
                   _percentile(latencies, 99) * 1e3, {kind: errors[kind] for kind in ERROR_KINDS})


def _default_signals():
    # A forked child inherits the parent's Python handlers (run.py turns SIGTERM into SystemExit), which
    # can leave it blocked on the pool's lock: Pool.terminate()'s SIGTERM must simply end it. Ctrl-C is
    # the parent's to handle (it terminates the pool).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _process(host, port, requests, connections, first, stride, deadline):
    results = [([], Counter()) for _ in range(connections)]
    # connection c sends requests[c], requests[c + stride], ...: no request is sent twice until all were
    threads = [threading.Thread(target=_connection, args=(host, port, requests[first + n::stride] or requests, deadline, *r))
               for n, r in enumerate(results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for lat, _ in results for x in lat], sum((err for _, err in results), Counter()), time.time()


def _connection(host, port, requests, deadline, latencies, errors):
    """One client connection: send, read the whole response, repeat; reconnect when the server closes."""
    sock, buf, sent = None, b"", 0
    while time.time() < deadline:
        request = requests[sent % len(requests)]
        sent += 1
        phase = "connect"
        try:
            if sock is None:
                sock = socket.create_connection((host, port), timeout=TIMEOUT)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buf = b""
            phase = "write"
            t0 = time.perf_counter()
            sock.sendall(request)
            phase = "read"
            status, close, buf = _read_response(sock, buf)
            if 200 <= status < 300:
                latencies.append(time.perf_counter() - t0)
            else:
                errors["status"] += 1
            if close:
                sock.close()
                sock = None
        except OSError as exc:  # includes socket.timeout and ConnectionError
            errors["timeout" if isinstance(exc, socket.timeout) else phase] += 1
            if sock is not None:
                sock.close()
            sock = None
            if phase == "connect":
                time.sleep(0.01)  # don't spin on a refused port


def _read_response(sock, buf):
    """Read one response; return (status, server_closes, leftover bytes). Needs Content-Length or close."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(None, 2)[1])
    length, close = None, lines[0].startswith(b"HTTP/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if length is None and not close:
        raise ConnectionResetError("response without Content-Length (chunked is not supported)")
    while length is None or len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            if length is None:
                break  # body ends at close
            raise ConnectionResetError("closed in the middle of the body")
        rest += chunk
    return status, close, rest[length:] if length is not None else b""


def _percentile(sorted_values, pct):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * pct / 100))]


def _result(requests, seconds, p50_ms, p99_ms, errors):
    return {"requests": requests, "rps": requests / seconds if seconds else 0.0,
            "p50_ms": p50_ms, "p99_ms": p99_ms, "errors": errors}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Closed-loop HTTP load (wrk, or the Python fallback).")
    ap.add_argument("url")
    ap.add_argument("-X", "--method", default="GET")
    ap.add_argument("-H", "--header", action="append", default=[], help="'Name: value'")
    ap.add_argument("-d", "--data", help="request body")
    ap.add_argument("-c", "--connections", type=int, default=32)
    ap.add_argument("-t", "--duration", type=float, default=5.0, help="seconds")
    ap.add_argument("--engine", choices=["auto", "wrk", "python"], default="auto")
    a = ap.parse_args()
    hdrs = dict(h.split(":", 1) for h in a.header)
    hdrs = {k.strip(): v.strip() for k, v in hdrs.items()}
    print(json.dumps(measure(a.url, method=a.method, headers=hdrs, body=a.data, connections=a.connections,
                             duration=a.duration, engine=a.engine)))
