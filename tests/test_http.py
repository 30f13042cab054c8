"""What every endpoint shares: paths with or without a slash, body limits, content types, methods, CORS."""

import json

import pytest

from rest_framework.test import APIClient

from accounts.models import AuditToken, User
from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db

NEW_USER = {"phone_number": "+16502530001", "first_name": "Ada"}


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/register/"])
def test_register_answers_with_and_without_a_trailing_slash(api_client, path):
    response = api_client.post(path, NEW_USER)

    assert response.status_code == 200
    assert response.json()["message"] == "Registration successful"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/auth/register/"),
        ("post", "/api/auth/validate-token/"),
        ("get", "/api/auth/user/"),
        ("delete", "/api/auth/logout/"),
        ("get", "/health/"),
    ],
)
def test_a_trailing_slash_is_never_a_redirect(api_client, db, method, path):
    response = getattr(api_client, method)(path, {})

    assert response.status_code in (200, 400, 401, 403)
    assert "Location" not in response


def test_an_unknown_api_path_is_a_json_404(api_client):
    response = api_client.get("/api/auth/nope")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/validate-token"])
def test_a_body_over_16_kb_is_a_413(api_client, api_key, path):
    body = json.dumps({**NEW_USER, "last_name": "x" * 17_000})

    response = api_client.post(path, body, content_type="application/json", HTTP_X_API_KEY=api_key)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 16384 bytes."}
    assert not User.objects.exists()


def test_a_body_of_exactly_the_limit_is_parsed(api_client, settings):
    body = json.dumps({**NEW_USER, "padding": ""})
    body = body.replace('"padding": ""', '"padding": "' + "x" * (settings.API_MAX_BODY_BYTES - len(body)) + '"')
    assert len(body.encode()) == settings.API_MAX_BODY_BYTES

    response = api_client.post("/api/auth/register", body, content_type="application/json")

    assert response.status_code == 200


def test_the_body_limit_follows_the_setting(api_client, settings):
    settings.API_MAX_BODY_BYTES = 32

    response = api_client.post("/api/auth/register", NEW_USER)

    assert response.status_code == 413
    assert response.json() == {"detail": "Request body is larger than 32 bytes."}
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/xml"]
)
def test_a_body_that_is_not_json_is_a_415(api_client, content_type):
    response = api_client.post("/api/auth/register", "phone_number=%2B16502530001&first_name=Ada", content_type=content_type)

    assert response.status_code == 415
    assert response.json() == {"detail": f'Unsupported media type "{content_type}" in request.'}
    assert not User.objects.exists()


def test_json_with_a_charset_is_accepted(api_client):
    response = api_client.post("/api/auth/register", json.dumps(NEW_USER), content_type="application/json; charset=utf-8")

    assert response.status_code == 200


def test_validate_token_refuses_a_body_that_is_not_json(api_client, api_key, user):
    response = api_client.post(
        "/api/auth/validate-token", f"token={issue_token(user).token}",
        content_type="application/x-www-form-urlencoded", HTTP_X_API_KEY=api_key,
    )

    assert response.status_code == 415
    assert response.json() == {"detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_register_only_answers_post(api_client, method):
    response = getattr(api_client, method)("/api/auth/register", NEW_USER)

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    assert response["Allow"].replace(" ", "").split(",") == ["POST", "OPTIONS"]
    assert not User.objects.exists()
    assert not AuditToken.objects.exists()


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_validate_token_only_answers_post(api_client, api_key, user, method):
    response = getattr(api_client, method)("/api/auth/validate-token", {"token": issue_token(user).token}, HTTP_X_API_KEY=api_key)

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}


def test_an_unknown_method_is_a_405(api_client):
    response = api_client.generic("PURGE", "/api/auth/register")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PURGE" not allowed.'}


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]


def test_a_preflight_from_an_allowed_origin_is_allowed(api_client, cors):
    response = api_client.options(
        "/api/auth/register",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "content-type" in response["Access-Control-Allow-Headers"]
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_a_validate_token_preflight_allows_the_api_key_header(api_client, cors):
    response = api_client.options(
        "/api/auth/validate-token",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key, content-type",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-api-key" in response["Access-Control-Allow-Headers"]


def test_a_request_from_an_allowed_origin_gets_the_cors_header(api_client, cors, user):
    response = api_client.get(
        "/api/auth/user", HTTP_ORIGIN="https://app.example.com", HTTP_AUTHORIZATION=f"Bearer {issue_token(user).token}"
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://app.example.com", "https://app.example.com.evil.io"])
def test_other_origins_get_no_cors_header(api_client, cors, origin):
    preflight = api_client.options(
        "/api/auth/register", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"
    )
    response = api_client.get("/health", HTTP_ORIGIN=origin)

    assert "Access-Control-Allow-Origin" not in preflight
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_no_origin_is_allowed_by_default(api_client, settings):
    settings.CORS_ALLOWED_ORIGINS = []

    response = api_client.get("/health", HTTP_ORIGIN="https://app.example.com")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/validate-token", "/api/auth/otp/request"])
def test_json_nested_thousands_deep_is_a_400(api_client, api_key, path):
    response = api_client.generic("POST", path, "[" * 10000, content_type="application/json", HTTP_X_API_KEY=api_key)

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested too deeply"}


def test_an_unexpected_error_on_an_api_path_is_a_json_500_without_details(db, monkeypatch):
    def crash(self, request):
        raise RuntimeError("token=secret-detail")

    monkeypatch.setattr("accounts.views.HealthView.get", crash)
    client = APIClient(raise_request_exception=False)

    response = client.get("/health")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Internal server error."}
