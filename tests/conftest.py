import contextlib
import itertools
import json
import logging
import os
import re
import shutil
import socket
import uuid
from datetime import timedelta

import jwt
import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import throttling
from accounts.models import Session, ThrottleCount, User

pytest_plugins = ["tests.otp_fixtures", "tests.oidc_fixtures"]  # SMS outbox, fake providers, request_code; relying parties


def pytest_collection_modifyitems(config, items):
    # Real concurrency needs row locks and a server that answers in parallel: SQLite has neither.
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def require_program(name: str, package: str | None = None) -> str:
    """The path of a system program a test needs. Missing: a skip for a newcomer, a failure in CI (CI=true),
    where .ci/run installs it."""
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.access(f"/usr/sbin/{name}", os.X_OK) else None)
    if path:
        return path
    message = f"needs {name} (apt-get install {package or name})"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message}: CI installs it, so its absence is a failure")
    pytest.skip(message)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Creating and dropping the test database waits for other sessions longer than a request may: no statement
    timeout or client-side deadline in the test process (the servers tests start keep theirs)."""
    from django.conf import settings

    settings.DATABASE_STATEMENT_TIMEOUT_MS = 0
    options = settings.DATABASES["default"].get("OPTIONS", {})
    if "options" in options:
        options["options"] = re.sub(r"-c statement_timeout=\d+", "-c statement_timeout=0", options["options"])
    yield


@pytest.fixture(autouse=True)
def throttle_counts_do_not_leak(request, django_db_blocker):
    """Throttle counts live in the database: a transactional test commits them, so forget them after it. And a
    test that broke the cache must not leave this process skipping it (the throttles' per-process memory)."""
    yield
    throttling.store_health.reset()
    marker = request.node.get_closest_marker("django_db")
    if {"transactional_db", "live_server"} & set(request.fixturenames) or (marker and marker.kwargs.get("transaction")):
        with django_db_blocker.unblock():
            ThrottleCount.objects.all().delete()
            with contextlib.suppress(Exception):  # a test may have pointed the cache at a dead Redis
                cache.clear()


def redis_reachable(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def redis_url():
    """A Redis database for tests: TEST_REDIS_URL, by default redis://127.0.0.1:6379/15. Skipped without one."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not redis_reachable(url):
        pytest.skip(f"no Redis at {url} (set TEST_REDIS_URL)")
    return url


@pytest.fixture
def use_redis(settings):
    """Point the cache (and so the throttles) at a Redis URL, with the short socket timeouts of production."""

    def use_redis(url):
        settings.CACHES = {"default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }}

    return use_redis


@pytest.fixture
def hung_server():
    """redis://… of a socket that accepts connections and never answers: a hung Redis."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # the kernel completes the handshakes; nobody ever reads
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


@pytest.fixture
def events(caplog):
    """The kriya.auth events logged during the test, parsed."""
    logger = logging.getLogger("kriya.auth")
    logger.addHandler(caplog.handler)  # kriya.auth does not propagate to the root logger caplog listens on
    caplog.set_level(logging.INFO, logger="kriya.auth")
    yield lambda: [json.loads(record.getMessage()) for record in caplog.records if record.name == "kriya.auth"]
    logger.removeHandler(caplog.handler)


@pytest.fixture
def api_client():
    client = APIClient()
    client.default_format = "json"  # the API speaks only JSON; DRF's test default is multipart
    return client


@pytest.fixture
def make_user(db):
    numbers = itertools.count(1)

    def make_user(phone_number=None, first_name="Ada", **fields):
        if phone_number is None:
            phone_number = f"+1650253{next(numbers) + 1000:04d}"
        return User.objects.create_user(phone_number, first_name=first_name, **fields)

    return make_user


@pytest.fixture
def user(make_user):
    return make_user("+16502530001", first_name="Ada", last_name="Lovelace", email="ada@example.com")


@pytest.fixture
def api_key(settings):
    return settings.PLANE_API_KEYS[0]


@pytest.fixture
def validate(api_client, api_key):
    """POST a token to /api/auth/validate-token with the API key; return the response."""

    def validate(token, key=api_key):
        return api_client.post("/api/auth/validate-token", {"token": token}, HTTP_X_API_KEY=key)

    return validate


@pytest.fixture
def forge_token(settings):
    """A JWT with the claims Kriya issues for user, any of them overridden (None drops one), signed as told."""

    def forge_token(user, *, key=None, algorithm=None, headers=None, **overrides):
        now = timezone.now().replace(microsecond=0)
        claims = {
            "user_id": str(user.pk),
            "phone_number": user.phone_number,
            "token_version": user.token_version,
            "exp": now + timedelta(hours=1),
            "iat": now,
            "iss": "kriya-auth",
            "jti": str(uuid.uuid4()),
        }
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(
            claims,
            settings.JWT_SECRET_KEY if key is None else key,
            algorithm=algorithm or settings.JWT_ALGORITHM,
            headers=headers,
        )

    return forge_token


@pytest.fixture
def user_json():
    """The user object every endpoint returns, as JSON: timestamps are ISO 8601 UTC ending in Z."""

    def user_json(user):
        user.refresh_from_db()
        return {
            "id": str(user.pk),
            "phone_number": user.phone_number,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
        }

    return user_json


def session_fields(body: dict) -> dict:
    """The session part of a sign-in or refresh answer, as the database says it must be."""
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    session = Session.objects.get(pk=body["session_id"])
    assert claims["sid"] == str(session.pk)
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    assert body["refresh_token"] not in session.refresh_token_hash  # stored only as a hash
    return {
        "refresh_token": body["refresh_token"],
        "refresh_expires_at": session.idle_expires_at.isoformat().replace("+00:00", "Z"),
        "session_id": str(session.pk),
    }
