"""Health check, API docs and the OpenAPI schema."""

import json
import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/health", "/health/"])
def test_health_reports_healthy_with_the_database_reachable(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "database": "ok"}


def test_health_needs_no_credentials_and_ignores_a_bad_token(api_client):
    response = api_client.get("/health", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_the_docs_page_is_html_served_from_this_host_only(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, "the page loads its scripts and styles"
    assert all(asset.startswith("/static/") for asset in assets), assets
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, flags=re.IGNORECASE)


def test_the_docs_page_points_at_the_schema(api_client):
    html = api_client.get("/docs").content.decode()

    assert '"/api/schema/"' in html or '"/api/schema"' in html


CONTRACT = {
    "/api/auth/register": ["post"],
    "/api/auth/validate-token": ["post"],
    "/api/auth/user": ["delete", "get", "patch"],
    "/api/auth/user/phone": ["post"],
    "/api/auth/user/phone/verify": ["post"],
    "/api/auth/logout": ["delete"],
    "/api/auth/token/refresh": ["post"],
    "/api/auth/sessions": ["get"],
    "/api/auth/sessions/{session_id}": ["delete"],
    "/api/auth/revocations": ["get"],
    "/health": ["get"],
}


def schema(api_client, path="/api/schema/"):
    response = api_client.get(path, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.parametrize("path", ["/api/schema/", "/api/schema"])
def test_the_schema_is_openapi_3_with_the_four_endpoints_and_health(api_client, path):
    document = schema(api_client, path)

    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Kriya"
    operations = {path: sorted(methods) for path, methods in document["paths"].items()}
    assert {path: operations.get(path) for path in CONTRACT} == CONTRACT
    assert not [path for path in operations if path.endswith("/")]  # documented as clients call them


def test_the_schema_is_yaml_by_default(api_client):
    response = api_client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.decode().startswith("openapi: 3.")


def test_the_schema_documents_how_each_endpoint_authenticates(api_client):
    document = schema(api_client)

    assert document["components"]["securitySchemes"]["planeApiKey"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    assert document["paths"]["/api/auth/validate-token"]["post"]["security"] == [{"planeApiKey": []}]
    for path, method in (("/api/auth/user", "get"), ("/api/auth/logout", "delete")):
        assert {"bearerJWT": []} in document["paths"][path][method]["security"]
        assert "token" in [parameter["name"] for parameter in document["paths"][path][method]["parameters"]]


def test_the_schema_documents_the_register_body_and_answers(api_client):
    operation = schema(api_client)["paths"]["/api/auth/register"]["post"]

    assert "application/json" in operation["requestBody"]["content"]
    assert {"200", "400", "403"} <= set(operation["responses"])


def test_the_schema_generates_without_warnings(tmp_path):
    # check --deploy --fail-level WARNING (CI) fails on drf-spectacular's warnings too.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
