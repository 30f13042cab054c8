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


def test_the_schema_is_shown_in_a_browser_as_text(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"].startswith("inline")
    assert response.content.decode().startswith("openapi: 3.")


@pytest.mark.parametrize(("query", "content_type", "start"), [("?download", "application/vnd.oai.openapi", "openapi: 3."),
                                                              ("?format=json", "application/vnd.oai.openapi+json", "{")])
def test_the_schema_can_still_be_downloaded(client, query, content_type, start):
    response = client.get(f"/api/schema/{query}", HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response.content.decode().startswith(start)
    if query == "?download":
        assert response["Content-Disposition"] == 'attachment; filename="Kriya.yaml"'


@pytest.mark.parametrize("path", ["/redoc", "/redoc/"])
def test_the_redoc_page_is_served_from_this_host_only(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert "redoc" in html.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith(("/static/", "data:")) for asset in assets), assets
    # The one address named is the one the page keeps ReDoc from fetching (its footer logo).
    hosts = set(re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, flags=re.IGNORECASE))
    assert hosts <= {"https://cdn.redoc.ly"}, hosts
    assert '"/api/schema/"' in html or '"/api/schema"' in html


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_response_is_described(api_client):
    document = schema(api_client)

    undescribed = [(path, method, status) for path, method, operation in operations(document)
                   for status, response in operation["responses"].items() if not response.get("description")]

    assert undescribed == []


def test_every_operation_shows_a_realistic_success_example(api_client):
    document = schema(api_client)

    for path, method, operation in operations(document):
        examples = operation["responses"]["200"]["content"]["application/json"].get("examples", {})
        assert examples, (path, method)
        text = json.dumps(examples)
        assert '"string"' not in text and "user@example.com" not in text, (path, method)


def test_public_schema_text_carries_no_internal_notes(api_client):
    document = schema(api_client)
    texts = []

    def collect(node):
        if isinstance(node, dict):
            texts.extend(value for key, value in node.items() if key in ("description", "summary") and isinstance(value, str))
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert document["components"]["schemas"]["User"]["description"] == "A Kriya user account, identified by its phone number."
    for internal in ("to_representation", "hot path", "DRF", "per-field", "ModelSerializer", "the view's time"):
        assert not [text for text in texts if internal.lower() in text.lower()], internal


def shape(value):
    """The keys of a JSON value, recursively: an example must look like the real answer."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__ if value is not None else None


def examples_of(document, path, method, part):
    operation = document["paths"][path][method]
    if part == "request":
        return operation["requestBody"]["content"]["application/json"]["examples"]
    return operation["responses"]["200"]["content"]["application/json"]["examples"]


def test_each_register_example_works_as_given_and_answers_like_the_response_example(api_client):
    document = schema(api_client)
    answer = next(iter(examples_of(document, "/api/auth/register", "post", "response").values()))["value"]

    for name, example in examples_of(document, "/api/auth/register", "post", "request").items():
        response = api_client.post("/api/auth/register", example["value"])
        assert response.status_code == 200, (name, response.json())
        assert shape(response.json()) == shape(answer), name


def test_the_validate_token_examples_answer_as_shown(api_client, api_key):
    document = schema(api_client)
    request = examples_of(document, "/api/auth/validate-token", "post", "request")
    answers = examples_of(document, "/api/auth/validate-token", "post", "response")

    response = api_client.post("/api/auth/validate-token", next(iter(request.values()))["value"], HTTP_X_API_KEY=api_key)
    ada = {"phone_number": "+16502530001", "first_name": "Ada", "email": "ada@example.com"}
    token = api_client.post("/api/auth/register", ada).json()["token"]
    valid = api_client.post("/api/auth/validate-token", {"token": token}, HTTP_X_API_KEY=api_key)

    assert response.status_code == 200
    assert shape(response.json()) == shape(answers["Revoked"]["value"])
    assert shape(valid.json()) == shape(answers["Valid"]["value"])


def test_the_user_logout_otp_and_health_examples_answer_as_shown(api_client, user):
    document = schema(api_client)
    token = api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()["token"]
    otp_request = next(iter(examples_of(document, "/api/auth/otp/request", "post", "request").values()))["value"]

    answers = {
        ("/api/auth/user", "get"): api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {token}"),
        ("/api/auth/otp/request", "post"): api_client.post("/api/auth/otp/request", otp_request),
        ("/health", "get"): api_client.get("/health"),
        ("/api/auth/logout", "delete"): api_client.delete("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {token}"),
    }

    for (path, method), response in answers.items():
        assert response.status_code == 200, (path, response.content)
        shown = next(iter(examples_of(document, path, method, "response").values()))["value"]
        assert shape(response.json()) == shape(shown), path


def test_the_operations_are_grouped_for_readers(api_client):
    document = schema(api_client)

    tags = {(path, method): operation["tags"] for path, method, operation in operations(document)}

    assert tags[("/api/auth/register", "post")] == ["Users"]
    assert tags[("/api/auth/validate-token", "post")] == ["Plane"]
    assert tags[("/health", "get")] == ["Health"]
    assert [tag["name"] for tag in document["tags"]] == ["Users", "Plane", "Health"]


def as_json_schema(node):
    """OpenAPI 3.0's `nullable: true` as JSON Schema says it (a null is allowed too)."""
    if isinstance(node, dict):
        converted = {key: as_json_schema(value) for key, value in node.items() if key != "nullable"}
        return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted
    if isinstance(node, list):
        return [as_json_schema(value) for value in node]
    return node


def test_every_response_example_is_valid_against_its_schema(api_client):
    import jsonschema

    document = schema(api_client)
    components = as_json_schema(document["components"])
    checked = 0

    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            content = response["content"]["application/json"]
            validator = jsonschema.Draft202012Validator({**as_json_schema(content["schema"]), "components": components})
            for name, example in content.get("examples", {}).items():
                errors = [error.message for error in validator.iter_errors(example["value"])]
                assert errors == [], (path, method, status, name)
                checked += 1

    assert checked >= 40  # every error status of every endpoint has its example too
