import pytest

from accounts.models import User
from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db

LOGGED_OUT = {"success": True, "message": "Logged out successfully"}


def test_logout_with_a_query_token_succeeds(api_client, user):
    response = api_client.delete(f"/api/auth/logout?token={issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == LOGGED_OUT


def test_logout_with_a_bearer_token_succeeds(api_client, user):
    response = api_client.delete("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == LOGGED_OUT


def test_logout_revokes_every_token_already_issued(api_client, user, validate):
    first, second = issue_token(user).token, issue_token(user).token

    assert api_client.delete(f"/api/auth/logout?token={first}").status_code == 200

    for token in (first, second):
        response = api_client.get("/api/auth/user", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 401
        assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}


def test_logout_revokes_tokens_obtained_through_register(api_client, validate):
    tokens = [
        api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada"}).json()["token"]
        for _ in range(3)
    ]

    assert api_client.delete("/api/auth/logout", HTTP_AUTHORIZATION=f"Bearer {tokens[1]}").status_code == 200

    assert [validate(token).json()["valid"] for token in tokens] == [False, False, False]
    assert User.objects.get().token_version == 1


def test_logout_leaves_other_users_signed_in(api_client, user, make_user, validate):
    other = make_user()
    others_token = issue_token(other).token

    api_client.delete(f"/api/auth/logout?token={issue_token(user).token}")

    assert validate(others_token).json()["valid"] is True


def test_logging_in_again_after_logout_gives_a_working_token(api_client, user, validate):
    api_client.delete(f"/api/auth/logout?token={issue_token(user).token}")

    token = api_client.post("/api/auth/register", {"phone_number": "+16502530001"}).json()["token"]

    assert validate(token).json()["valid"] is True


def test_a_second_logout_with_the_same_token_is_a_401(api_client, user):
    token = issue_token(user).token
    api_client.delete(f"/api/auth/logout?token={token}")

    response = api_client.delete(f"/api/auth/logout?token={token}")

    assert response.status_code == 401
    assert response.json() == {"detail": "Token has been revoked"}
    assert response["WWW-Authenticate"] == 'Bearer realm="kriya"'
    user.refresh_from_db()
    assert user.token_version == 1


@pytest.mark.parametrize(
    ("path", "headers", "detail"),
    [
        ("/api/auth/logout", {}, "Authentication credentials were not provided."),
        ("/api/auth/logout?token=not-a-token", {}, "Token is malformed"),
        ("/api/auth/logout", {"HTTP_AUTHORIZATION": "Bearer not-a-token"}, "Token is malformed"),
        ("/api/auth/logout", {"HTTP_AUTHORIZATION": "Basic YWRhOnNlY3JldA=="}, "Authorization header must be 'Bearer <token>'."),
    ],
)
def test_logout_without_a_valid_token_is_a_401_and_revokes_nothing(api_client, user, path, headers, detail):
    response = api_client.delete(path, **headers)

    assert response.status_code == 401
    assert response.json() == {"detail": detail}
    assert response["WWW-Authenticate"] == 'Bearer realm="kriya"'
    user.refresh_from_db()
    assert user.token_version == 0


def test_the_trailing_slash_form_answers_the_same(api_client, user):
    response = api_client.delete(f"/api/auth/logout/?token={issue_token(user).token}")

    assert response.status_code == 200
    assert response.json() == LOGGED_OUT


@pytest.mark.parametrize("method", ["get", "post"])
def test_logout_needs_delete(api_client, user, method):
    response = getattr(api_client, method)(f"/api/auth/logout?token={issue_token(user).token}")

    assert response.status_code == 405
    assert response.json() == {"detail": f'Method "{method.upper()}" not allowed.'}
    user.refresh_from_db()
    assert user.token_version == 0
