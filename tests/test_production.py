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
        # A malformed request line, which gunicorn's error log quotes whole.
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as raw:
            raw.sendall(f"GET /api/auth/user?token={token}\r\nHost: x\r\n\r\n".encode())
            raw.recv(1024)

    output = log.read_text()
    assert '"GET /api/auth/user HTTP/1.1" 200' in output  # the access log is on, and records the path
    assert '"event": "logged_out"' in output  # and so are the auth events
    assert "Invalid request from" in output  # and gunicorn's error log
    assert token not in output
    assert token.split(".")[2] not in output  # not even the signature alone
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
