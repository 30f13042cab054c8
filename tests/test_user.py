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


@pytest.mark.parametrize("name", ["%74oken", "t%6Fken", "TOKEN", "token%20", "tok%65n"])
def test_only_a_parameter_named_exactly_token_carries_a_token(api_client, user, name):
    response = api_client.get(f"/api/auth/user?{name}={issue_token(user).token}")

    assert (response.status_code, response.json()) == (401, {"detail": "Authentication credentials were not provided."})


def test_the_last_token_parameter_counts_and_its_value_may_be_percent_encoded(api_client, user, user_json):
    token = issue_token(user).token.replace(".", "%2E")

    response = api_client.get(f"/api/auth/user?token=stale&token={token}")

    assert (response.status_code, response.json()) == (200, user_json(user))


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


@pytest.mark.parametrize(("claims", "detail"), [
    ({"exp": "9999999999"}, "Token has an invalid 'exp' claim"),
    ({"iat": 1.5}, "Token has an invalid 'iat' claim"),
    ({"iat": 0}, "Token lifetime is longer than allowed"),
])
def test_a_token_whose_times_are_not_as_kriya_issues_them_is_a_401(api_client, user, forge_token, claims, detail):
    response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {forge_token(user, **claims)}")

    assert (response.status_code, response.json()) == (401, {"detail": detail})
    assert response["WWW-Authenticate"] == CHALLENGE
