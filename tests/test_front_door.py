"""deploy/nginx.conf, run by real nginx in front of real gunicorn pools: slow clients cost nginx, not Kriya's
workers, and every error on an API path is JSON."""

import json
import socket
import subprocess
import sys
import time

import pytest

from tests import chaos
from tests.conftest import require_program
from tests.servers import REPO, call, free_port, production_env


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory):
    database = tmp_path_factory.mktemp("db") / "kriya.sqlite3"
    env = production_env(DATABASE_URL=f"sqlite:///{database}", NUM_PROXIES="1")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    return env


@pytest.fixture(scope="module")
def front_door_dir(tmp_path_factory):
    """Where the front door's files go: nginx/access.log (Debian's, combined) and nginx/kriya.access.log."""
    return tmp_path_factory.mktemp("front")


@pytest.fixture(scope="module")
def front_door(sqlite_env, front_door_dir):
    """One nginx and two gunicorn pools for the module: starting them takes seconds."""
    nginx = require_program("nginx")
    with chaos.front_door(nginx, sqlite_env, front_door_dir) as base:
        yield base


def raw(base: str, data: bytes) -> tuple[int, dict, bytes]:
    """Send bytes as they are; (status, headers, body) of the answer."""
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {name.lower(): value for name, value in headers.items()}, body


def test_nginx_accepts_the_shipped_configuration(tmp_path):
    nginx = require_program("nginx")
    conf = chaos.render_nginx_conf(port=free_port(), http_port=free_port(), public="127.0.0.1:1", plane="127.0.0.1:2",
                                   access_log=tmp_path / "kriya.access.log")
    (tmp_path / "kriya.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}} http {{ include {tmp_path}/kriya.conf; }}")
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e",
                             str(tmp_path / "error.log")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("request_bytes, status, detail", [
    (b"GET /api/auth/user?x=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "Request URI is too long."),
    (b"GET /api/auth/user HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", 431, "Request headers are too large."),
    (b"POST /api/auth/register HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n", 413, "Request body is too large."),
    (b"GET /api/auth/user?token=\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad request."),
    (b"GARBAGE\r\n\r\n", 400, "Bad request."),
])
def test_errors_nginx_answers_itself_are_json(front_door, request_bytes, status, detail):
    answered, headers, body = raw(front_door, request_bytes)

    assert (answered, headers["content-type"], json.loads(body)) == (status, "application/json", {"detail": detail})


def test_an_unreachable_gunicorn_is_a_json_502(sqlite_env, tmp_path):
    nginx = require_program("nginx")
    dead = f"127.0.0.1:{free_port()}"
    with chaos.nginx(nginx, tmp_path / "nginx", public=dead, plane=dead) as base:
        status, headers, body = chaos.register(base)

    assert (status, headers["Content-Type"], json.loads(body)) == (
        502, "application/json", {"detail": "Service temporarily unavailable"})


def test_kriyas_own_error_answers_pass_through_nginx_unchanged(front_door):
    status, _, body = call(front_door, "POST", "/api/auth/register", b'{"phone_number": "nope"}')
    assert status == 400 and "phone_number" in json.loads(body)

    status, _, body = call(front_door, "POST", "/api/auth/validate-token", b"{}", {"X-API-Key": "wrong"})
    assert (status, json.loads(body)) == (403, {"detail": "Invalid API key"})


def logs_once_written(directory, line: str, timeout: float = 5.0) -> dict[str, str]:
    """The text of nginx's two access logs, once line is in Kriya's (nginx writes it after answering)."""
    deadline = time.monotonic() + timeout
    while True:
        logs = {name: (directory / name).read_text() for name in ("access.log", "kriya.access.log")}
        if line in logs["kriya.access.log"] or time.monotonic() > deadline:
            return logs
        time.sleep(0.05)


def test_no_token_sent_in_a_url_reaches_nginxs_access_logs(front_door, front_door_dir):
    token = json.loads(chaos.register(front_door, phone="+16502530077")[2])["token"]

    assert call(front_door, "GET", f"/api/auth/user?token={token}")[0] == 200
    referer = {"Referer": f"https://app/?token={token}"}
    assert call(front_door, "GET", f"/api/auth/user/?x=1&token={token}", headers=referer)[0] == 200
    assert call(front_door, "PATCH", f"/api/auth/user?token={token}", b'{"first_name": "Eve"}')[0] == 400  # refused
    assert call(front_door, "DELETE", f"/api/auth/logout?token={token}")[0] == 200
    with socket.create_connection(("127.0.0.1", int(front_door.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(f"POST /api/auth/register?token={token} HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n"
                     .encode())
        assert sock.recv(12) == b"HTTP/1.1 413"  # answered by nginx itself, through error_page

    logs = logs_once_written(front_door_dir / "nginx", '"POST /api/auth/register HTTP/1.1" 413')
    kriya = logs["kriya.access.log"]
    # The log is on and names each request's method, path and status, nginx's own answers included.
    for line in ('"GET /api/auth/user HTTP/1.1" 200', '"GET /api/auth/user/ HTTP/1.1" 200',
                 '"PATCH /api/auth/user HTTP/1.1" 400', '"DELETE /api/auth/logout HTTP/1.1" 200',
                 '"POST /api/auth/register HTTP/1.1" 413'):
        assert line in kriya
    for name, text in logs.items():
        for secret in (token, token.split(".")[1], token.split(".")[2], "token="):
            assert secret not in text, (name, secret)


def test_without_its_own_access_log_the_token_lands_in_debians(sqlite_env, tmp_path, monkeypatch):
    """The check above can fail: without its access_log lines, deploy/nginx.conf leaves Debian's log in charge."""
    nginx = require_program("nginx")
    shipped = chaos.NGINX_CONF.read_text()
    directive = f"access_log {chaos.KRIYA_ACCESS_LOG} kriya_no_query;"
    assert shipped.count(directive) == 2
    stripped = tmp_path / "nginx-without-log.conf"
    stripped.write_text(shipped.replace(directive, f"# removed: {chaos.KRIYA_ACCESS_LOG}"))
    monkeypatch.setattr(chaos, "NGINX_CONF", stripped)
    dead = f"127.0.0.1:{free_port()}"

    with chaos.nginx(nginx, tmp_path / "nginx", public=dead, plane=dead) as base:
        assert call(base, "GET", "/api/auth/user?token=eyJ.stolen.token")[0] == 502

    deadline = time.monotonic() + 5
    while "eyJ.stolen.token" not in (tmp_path / "nginx" / "access.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert '"GET /api/auth/user?token=eyJ.stolen.token HTTP/1.1" 502' in (tmp_path / "nginx" / "access.log").read_text()


def test_a_chunked_body_reaches_kriya_through_nginx(front_door):
    body = b'{"phone_number": "+16502530001", "first_name": "Ada"}'
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    status, _, answer = raw(front_door, b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)

    assert (status, json.loads(answer)["success"]) == (200, True)


def test_twenty_slowloris_sockets_do_not_move_validate_token_p99(front_door, sqlite_env):
    token = json.loads(chaos.register(front_door)[2])["token"]
    validate = chaos.validator(front_door, sqlite_env["PLANE_API_KEY"], token)
    chaos.measure(validate, 50)  # warm up: connections, prepared code paths

    idle = chaos.measure(validate, 300)
    with chaos.Slowloris(int(front_door.rsplit(":", 1)[1]), count=20, interval=0.5, limit=30):
        loaded = chaos.measure(validate, 300)

    print(f"\nvalidate-token through nginx, idle:            {idle.summary()}")
    print(f"validate-token through nginx, 20 slow sockets: {loaded.summary()}")
    assert idle.errors == loaded.errors == []
    assert loaded.p(0.99) <= 2 * idle.p(0.99) + 10  # a stall costs seconds; 10 ms absorbs a shared machine's noise
