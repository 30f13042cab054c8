"""Readiness and liveness: /health/ready reports the database and the cache apart, /health/live needs neither."""

import time

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health/ready", "/health/ready/"])
def test_ready_reports_the_database_and_the_cache(api_client, path):
    response = api_client.get(path)

    assert (response.status_code, response.json()) == (200, {"status": "ready", "database": "ok", "cache": "ok"})


def test_ready_on_redis_reports_ok(api_client, use_redis, redis_url):
    use_redis(redis_url)

    assert api_client.get("/health/ready").json() == {"status": "ready", "database": "ok", "cache": "ok"}


def test_without_the_cache_ready_is_degraded_but_still_200(api_client, use_redis):
    # The throttles fail open (otp/request closed); a shared Redis down must not take every instance out.
    use_redis(f"redis://127.0.0.1:{free_port()}/0")

    response = api_client.get("/health/ready")

    assert (response.status_code, response.json()) == (
        200, {"status": "degraded", "database": "ok", "cache": "unavailable"})


def test_a_hung_cache_is_reported_within_its_socket_timeout(api_client, use_redis, hung_server):
    use_redis(hung_server)  # 0.5 s socket timeouts

    started = time.monotonic()
    response = api_client.get("/health/ready")

    assert time.monotonic() - started < 1.5
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}


@pytest.mark.parametrize("path", ["/health/live", "/health/live/"])
def test_live_answers_without_touching_the_database_or_the_cache(api_client, use_redis, path, django_assert_num_queries):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")

    with django_assert_num_queries(0):
        response = api_client.get(path)

    assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_health_keeps_its_shape(api_client):
    assert api_client.get("/health").json() == {"status": "healthy", "database": "ok"}


def test_the_schema_documents_ready_and_live(api_client):
    document = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    ready = document["paths"]["/health/ready"]["get"]["responses"]
    assert set(ready) == {"200", "503"}
    assert set(document["paths"]["/health/live"]["get"]["responses"]) == {"200"}
    assert "/metrics" not in document["paths"]  # Prometheus' text format, documented in the README


def test_probes_and_metrics_stay_on_plain_http_when_https_is_enforced(api_client, settings):
    settings.SECURE_SSL_REDIRECT = True

    for path in ("/health", "/health/ready", "/health/live", "/metrics"):
        assert api_client.get(path).status_code == 200, path
    assert api_client.get("/api/auth/user").status_code == 301
