"""Fault injection on loopback, shared by tests/test_front_door.py, tests/test_resilience.py and `make chaos`:
real nginx in front of real gunicorn pools, slow clients, slow and trickling SMS providers, a frozen database
link. Every fault is bounded in count and time and stops with its context manager."""

import contextlib
import json
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import REPO, call, free_port, gunicorn, stop, wait_for_port

NGINX_CONF = REPO / "deploy" / "nginx.conf"
KRIYA_ACCESS_LOG = "/var/log/nginx/kriya.access.log"


def render_nginx_conf(*, port: int, http_port: int, public: str, plane: str, access_log: Path) -> str:
    """deploy/nginx.conf as shipped, listening on loopback ports without TLS, proxying to the given pools, its
    access log written to access_log."""
    text = NGINX_CONF.read_text()
    assert text.count(KRIYA_ACCESS_LOG) == 2, f"deploy/nginx.conf no longer logs to {KRIYA_ACCESS_LOG} in both servers"
    text = text.replace(KRIYA_ACCESS_LOG, str(access_log))
    substitutions = [
        ("listen 443 ssl;", f"listen 127.0.0.1:{port};"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server 127.0.0.1:8001;", f"server {public};"),
        ("server 127.0.0.1:8002;", f"server {plane};"),
    ]
    for old, new in substitutions:
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r} once"
        text = text.replace(old, new)
    text, tls_lines = re.subn(r"(?m)^\s*ssl_certificate.*\n", "", text)
    assert tls_lines == 2
    return text


@contextlib.contextmanager
def nginx(nginx_path: str, workdir: Path, *, public: str, plane: str):
    """Run nginx (its own prefix, no root needed) with deploy/nginx.conf; yield its base URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port, http_port = free_port(), free_port()
    (workdir / "kriya.conf").write_text(render_nginx_conf(port=port, http_port=http_port, public=public, plane=plane,
                                                          access_log=workdir / "kriya.access.log"))
    temp = "\n".join(f"    {kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(f"""
daemon off;
master_process on;
worker_processes 1;
pid {workdir / 'nginx.pid'};
error_log {workdir / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log {workdir / 'access.log'} combined;  # as Debian's /etc/nginx/nginx.conf: every request line whole
{temp}
    include {workdir / 'kriya.conf'};
}}
""")
    command = [nginx_path, "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, process, timeout=15)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, timeout=10)


@contextlib.contextmanager
def front_door(nginx_path: str, env: dict, workdir: Path, *, public_threads: int = 4):
    """The deployment in deploy/: nginx, a `public` gunicorn pool (gthread) and a `plane` pool (sync)."""
    workdir.mkdir(parents=True, exist_ok=True)
    with gunicorn({**env, "GUNICORN_THREADS": str(public_threads)}, workdir / "public.log", workers=1) as public, \
            gunicorn(env, workdir / "plane.log", workers=1) as plane, \
            nginx(nginx_path, workdir / "nginx", public=public.removeprefix("http://"),
                  plane=plane.removeprefix("http://")) as base:
        yield base


class Slowloris:
    """count sockets that send a request's headers one byte every `interval` s, until stopped or `limit` s."""

    def __init__(self, port: int, count: int = 20, interval: float = 1.0, limit: float = 60.0):
        self.port, self.count, self.interval, self.limit = port, count, interval, limit
        self._stop = threading.Event()
        self._threads = []
        self.closed_by_server = 0

    def __enter__(self):
        for _ in range(self.count):
            thread = threading.Thread(target=self._drip, daemon=True)
            thread.start()
            self._threads.append(thread)
        time.sleep(0.3)  # all connected and dripping
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _drip(self):
        deadline = time.monotonic() + self.limit
        payload = b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 4000
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            for byte in payload:
                if self._stop.wait(self.interval) or time.monotonic() > deadline:
                    return
                sock.sendall(bytes([byte]))
        self.closed_by_server += 1


class Trickler:
    """An SMS provider that accepts the request and answers one byte every `interval` s (HTTP/1.1 200 ...)."""

    def __init__(self, interval: float = 5.0, limit: float = 60.0):
        self.interval, self.limit = interval, limit
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/sms"
        self.bodies = []
        self._stop = threading.Event()

    def __enter__(self):
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.listener.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(client,), daemon=True).start()

    def _trickle(self, client):
        deadline = time.monotonic() + self.limit
        with contextlib.suppress(OSError), client:
            self.bodies.append(read_request_body(client))
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
                client.sendall(bytes([byte]))
                if self._stop.wait(self.interval) or time.monotonic() > deadline:
                    return


def read_request_body(sock: socket.socket) -> str:
    """Read one HTTP request with a Content-Length from sock; return its body."""
    data = b""
    while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)) and (chunk := sock.recv(65536)):
        body += chunk
    return body.decode(errors="replace")


@dataclass
class Latencies:
    """Sequential calls of one request: milliseconds of each answer, and the answers that were not 200."""

    millis: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def p(self, q: float) -> float:
        ordered = sorted(self.millis)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def summary(self) -> str:
        return (f"n={len(self.millis)} p50={self.p(0.5):.1f} ms p99={self.p(0.99):.1f} ms "
                f"max={max(self.millis, default=0):.1f} ms errors={len(self.errors)}")


def measure(request, count: int, budget: float = 30.0) -> Latencies:
    """Call request() up to count times (at most budget seconds); (status, ...) other than 200 is an error."""
    result = Latencies()
    deadline = time.monotonic() + budget
    for _ in range(count):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        try:
            status = request()[0]
        except OSError as error:
            status = type(error).__name__
        result.millis.append((time.perf_counter() - started) * 1000)
        if status != 200:
            result.errors.append(status)
    return result


def validator(base: str, api_key: str, token: str):
    """A function that validates token through base with a kept-alive connection, as Plane's backend does."""
    import http.client

    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=15)
    body = json.dumps({"token": token}).encode()
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}

    def validate():
        try:
            connection.request("POST", "/api/auth/validate-token", body, headers)
            response = connection.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            raise
        if response.status == 200 and not json.loads(payload)["valid"]:
            return ("invalid",)
        return (response.status,)

    return validate


def register(base: str, phone: str = "+16502530001", **fields):
    body = json.dumps({"phone_number": phone, "first_name": "Ada", **fields}).encode()
    return call(base, "POST", "/api/auth/register", body)


def code_in(text: str) -> str | None:
    """The 6-digit code in an SMS provider's request body."""
    found = re.search(r"\b([0-9]{6})\b", text)
    return found.group(1) if found else None


class Hung:
    """A server that accepts connections and never answers (a hung Redis, database or provider)."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._clients = []
        self._stop = threading.Event()

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for sock in [self.listener, *self._clients]:
            sock.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                self._clients.append(self.listener.accept()[0])
            except OSError:
                return


class SlowProvider:
    """An SMS webhook on loopback that answers 200 after `delay` seconds; counts the requests it is holding."""

    def __init__(self, delay: float):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        provider = self
        self.delay, self.in_flight, self.bodies = delay, 0, []
        self._lock = threading.Lock()
        self._stop = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                provider.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                with provider._lock:
                    provider.in_flight += 1
                provider._stop.wait(provider.delay)
                with provider._lock:
                    provider.in_flight -= 1
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()


class Background:
    """Run request(n) for n in range(count) in threads; on exit, wait for them: .answers is [(status, seconds)]."""

    def __init__(self, request, count: int, timeout: float = 60.0):
        self.request, self.count, self.timeout = request, count, timeout
        self.answers: list = []
        self._threads = []

    def __enter__(self):
        for n in range(self.count):
            thread = threading.Thread(target=self._run, args=(n + 1,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc):
        for thread in self._threads:
            thread.join(self.timeout)

    def _run(self, n):
        started = time.monotonic()
        try:
            status = self.request(n)[0]
        except OSError as error:
            status = type(error).__name__
        self.answers.append((status, round(time.monotonic() - started, 2)))
