"""Real gunicorn processes and a cuttable TCP proxy, for tests of what only a running server shows."""

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(**overrides) -> dict:
    """DEBUG=False with strong fresh secrets; the environment wins over the repo's .env."""
    env = dict(os.environ)
    env.update(
        DEBUG="False",
        SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SECRET_KEY=secrets.token_urlsafe(48),
        PLANE_API_KEY=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    env.update(overrides)
    return env


def call(base: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout=15):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(base + path, data=body, method=method, headers=headers or {})
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def wait_for_port(port: int, process=None, timeout: float = 30.0, log_path: Path | None = None) -> None:
    """Until something listens on the loopback port; RuntimeError if process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            output = log_path.read_text(errors="replace")[-2000:] if log_path else ""
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}: {output}")
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port} after {timeout:g} s")
        time.sleep(0.1)


def stop(process, timeout: float = 15.0) -> None:
    """SIGTERM (gunicorn and nginx stop gracefully), then SIGKILL if it takes longer than timeout."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def gunicorn(env: dict, log_path: Path, workers: int = 1):
    """Run Kriya under gunicorn with the repo's gunicorn.conf.py; yield its base URL; stop it after."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [GUNICORN, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "kriya.wsgi"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, process, log_path=log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


class TCPProxy:
    """Forwards 127.0.0.1:port to a target; cut() drops every connection and refuses new ones until restore();
    freeze() stops forwarding without closing anything (a hung server, as clients see it) until thaw()."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = None
        self._flowing = threading.Event()
        self._flowing.set()

    def freeze(self):
        self._flowing.clear()

    def thaw(self):
        self._flowing.set()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        with self._lock:
            sockets, self._sockets = self._sockets + [self._listener], []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                self._flowing.wait(60)  # frozen: hold the bytes (bounded, in case nobody thaws)
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
