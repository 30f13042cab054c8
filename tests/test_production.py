"""Kriya under gunicorn as deployed: what its logs show, and how it behaves when PostgreSQL goes away."""

import json
import socket
import subprocess
import sys
import time

import pytest
from django.db import connection

from tests.servers import REPO, TCPProxy, call, gunicorn, production_env


def register(base, phone="+16502530001"):
    body = json.dumps({"phone_number": phone, "first_name": "Ada"}).encode()
    return call(base, "POST", "/api/auth/register", body)


def validate(base, env, token):
    body = json.dumps({"token": token}).encode()
    return call(base, "POST", "/api/auth/validate-token", body, {"X-API-Key": env["PLANE_API_KEY"]})


def test_access_log_never_shows_tokens_or_api_keys(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    log = tmp_path / "gunicorn.log"

    with gunicorn(env, log) as base:
        status, _, body = register(base)
        assert status == 200
        token = json.loads(body)["token"]
        assert call(base, "GET", f"/api/auth/user?token={token}")[0] == 200
        assert call(base, "GET", "/api/auth/user", headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert validate(base, env, token)[0] == 200
        assert validate(base, env, token + "x")[0] == 200  # a failed validation is an auth event
        assert call(base, "DELETE", f"/api/auth/logout?token={token}", headers={"Referer": f"https://app/?token={token}"})[0] == 200
        # Malformed request lines, which gunicorn's error log quotes whole, percent-encoded ones too.
        encoded = "".join(f"%{ord(char):02X}" if char == "." else char for char in token)
        for target in (f"/api/auth/user?token={token}", f"/api/auth/user?%74oken={encoded}"):
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as raw:
                raw.sendall(f"GET {target}\r\nHost: x\r\n\r\n".encode())
                raw.recv(1024)

    output = log.read_text()
    assert '"GET /api/auth/user HTTP/1.1" 200' in output  # the access log is on, and records the path
    assert '"event": "logged_out"' in output  # and so are the auth events
    assert "Invalid request from" in output  # and gunicorn's error log
    assert token not in output
    assert token.split(".")[2] not in output  # not even the signature alone
    assert token.split(".")[1] not in output
    assert env["PLANE_API_KEY"] not in output
    assert "token=" not in output.replace("token=[redacted]", "")


@pytest.mark.postgres
def test_database_outage_answers_503_quickly_and_recovers_without_restart(transactional_db, tmp_path):
    proxy = TCPProxy(target_port=connection.settings_dict["PORT"] or 5432)
    proxy.restore()
    db = connection.settings_dict
    env = production_env(
        DATABASE_URL=f"postgres://{db['USER']}@127.0.0.1:{proxy.port}/{db['NAME']}",
        DATABASE_CONNECT_TIMEOUT="2",
    )
    with gunicorn(env, tmp_path / "gunicorn.log") as base:
        status, _, body = register(base)
        assert status == 200
        token = json.loads(body)["token"]
        assert json.loads(validate(base, env, token)[2])["valid"] is True

        proxy.cut()
        calls = {
            "health": lambda: call(base, "GET", "/health"),
            "register": lambda: register(base),
            "validate-token": lambda: validate(base, env, token),
            "user": lambda: call(base, "GET", "/api/auth/user", headers={"Authorization": f"Bearer {token}"}),
            "logout": lambda: call(base, "DELETE", f"/api/auth/logout?token={token}"),
        }
        for name, request in calls.items():
            started = time.monotonic()
            status, headers, body = request()
            assert time.monotonic() - started < 5, name
            assert status == 503, (name, body)
            assert headers["Content-Type"] == "application/json", name
            expected = {"status": "unhealthy", "database": "unavailable"} if name == "health" else {
                "detail": "Service temporarily unavailable"}
            assert json.loads(body) == expected, name

        proxy.restore()
        assert call(base, "GET", "/health")[0] == 200
        assert json.loads(validate(base, env, token)[2]) | {"user": None} == {
            "valid": True, "user": None, "message": "Token is valid"}
        assert register(base)[0] == 200
    proxy.cut()


def test_a_chunked_body_sent_straight_to_gunicorn_is_refused_with_411_not_read_as_empty(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    body = b'{"phone_number": "+16502530001", "first_name": "Ada"}'
    with gunicorn(env, tmp_path / "gunicorn.log") as base:
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=10) as raw:
            raw.sendall(b"POST /api/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk

    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 411 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(payload) == {"detail": "A request body must come with Content-Length."}


def test_gunicorn_opens_a_control_socket_only_where_told(tmp_path):
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}", HOME=str(tmp_path / "home"),
                         XDG_RUNTIME_DIR=str(tmp_path))
    env.pop("GUNICORN_CONTROL_SOCKET", None)
    with gunicorn(env, tmp_path / "first.log"), gunicorn(env, tmp_path / "second.log"):
        time.sleep(1)
        assert not (tmp_path / "gunicorn.ctl").exists()  # gunicorn's default: one path per user
        assert not (tmp_path / "home" / ".gunicorn").exists()

    instance = tmp_path / "plane.ctl"
    with gunicorn({**env, "GUNICORN_CONTROL_SOCKET": str(instance)}, tmp_path / "third.log"):
        deadline = time.monotonic() + 10
        while not instance.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert instance.is_socket()
