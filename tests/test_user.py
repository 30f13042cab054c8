import pytest

from accounts.models import User
from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db

CHALLENGE = 'Bearer realm="kriya"'


def test_a_bearer_token_returns_its_user(api_client, user, user_json):
    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == user_json(user)


def test_a_token_in_the_query_string_returns_its_user(api_client, user, user_json):
    response = api_client.get(f"/api/auth/user?token={issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == user_json(user)


def test_the_bearer_scheme_is_case_insensitive(api_client, user, user_json):
    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"bearer {issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == user_json(user)


def test_the_token_returned_by_register_works(api_client):
    body = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada"}).json()

    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {body['token']}")

    assert response.status_code == 200
    assert response.json() == body["user"]


def test_no_token_is_a_401_with_a_challenge(api_client, db):
    response = api_client.get("/api/auth/user")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize("query", ["?token=", "?token=%20%20"])
def test_an_empty_token_parameter_is_a_401(api_client, db, query):
    response = api_client.get(f"/api/auth/user{query}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize(
    ("token", "detail"),
    [("not-a-token", "Token is malformed"), ("a.b.c", "Token is malformed"), ("%00", "Token is malformed")],
)
def test_a_malformed_token_is_a_401_saying_why(api_client, db, token, detail):
    response = api_client.get(f"/api/auth/user?token={token}")

    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_a_token_signed_with_another_key_is_a_401(api_client, user, forge_token):
    token = forge_token(user, key="another-service-entirely-with-its-own-32-char-secret")

    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Token signature is invalid"}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_a_revoked_token_is_a_401(api_client, user):
    token = issue_token(user).token
    user.revoke_tokens()

    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Token has been revoked"}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_a_deactivated_users_token_is_a_401(api_client, user):
    token = issue_token(user).token
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = api_client.get(f"/api/auth/user?token={token}")

    assert response.status_code == 401
    assert response.json() == {"detail": "User account is disabled"}
    assert response["WWW-Authenticate"] == CHALLENGE


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Basic YWRhOnNlY3JldA==", "Token abc", "Bearer\u00e9 x"]
)
def test_an_authorization_header_that_is_not_a_bearer_token_is_a_401(api_client, db, header):
    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=header)

    assert response.status_code == 401
    assert response.json() == {"detail": "Authorization header must be 'Bearer <token>'."}
    assert response["WWW-Authenticate"] == CHALLENGE


def test_the_trailing_slash_form_answers_the_same(api_client, user, user_json):
    response = api_client.get("/api/auth/user/", HTTP_AUTHORIZATION=f"Bearer {issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == user_json(user)


@pytest.mark.parametrize("method", ["post", "put"])
def test_other_methods_are_a_405(api_client, user, method):
    response = getattr(api_client, method)("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {issue_token(user).token}")

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
