import re
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from django.conf import settings
from django.db import connection

from accounts.models import AuditToken, Session, User
from tests.conftest import session_fields

pytestmark = pytest.mark.django_db

ADA = {"phone_number": "+1 (650) 253-0001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def decode(token):
    return jwt.decode(token, settings.JWT_SECRET_KEY, algorithms=[settings.JWT_ALGORITHM], issuer="kriya-auth")


def as_json_time(value):
    return value.isoformat().replace("+00:00", "Z")


def test_registering_a_new_phone_creates_the_user_and_returns_a_token(api_client):
    response = api_client.post("/api/auth/register", ADA)

    assert response.status_code == 200
    body = response.json()
    user = User.objects.get()
    assert body == {
        "success": True,
        "message": "Registration successful",
        "token": body["token"],
        "user": {
            "id": str(user.pk),
            "phone_number": "+16502530001",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "created_at": as_json_time(user.created_at),
        },
        "expires_at": as_json_time(datetime.fromtimestamp(decode(body["token"])["exp"], UTC)),
        **session_fields(body),
    }
    assert (user.phone_number, user.first_name, user.last_name, user.email) == (
        "+16502530001", "Ada", "Lovelace", "ada@example.com",
    )


def test_timestamps_are_iso_8601_utc_ending_in_z(api_client):
    body = api_client.post("/api/auth/register", ADA).json()

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", body["user"]["created_at"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["expires_at"])


def test_first_name_alone_is_enough_to_register(api_client, user_json):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada"})

    assert response.status_code == 200
    user = User.objects.get()
    assert response.json()["user"] == user_json(user)
    assert (user.phone_number, user.first_name, user.last_name, user.email) == ("+16502530001", "Ada", "", None)


def test_the_token_carries_the_documented_claims(api_client):
    before = int(datetime.now(UTC).timestamp())
    body = api_client.post("/api/auth/register", ADA).json()

    claims = decode(body["token"])
    user = User.objects.get()
    assert claims == {
        "user_id": str(user.pk),
        "phone_number": "+16502530001",
        "token_version": 0,
        "exp": claims["iat"] + 24 * 3600,
        "iat": claims["iat"],
        "iss": "kriya-auth",
        "jti": str(AuditToken.objects.get().jti),
        "sid": body["session_id"],
    }
    assert before - 1 <= claims["iat"] <= before + 5
    assert uuid.UUID(claims["user_id"]) == user.pk


def test_the_token_lifetime_follows_token_expiry_hours(api_client, settings):
    settings.TOKEN_EXPIRY_HOURS = 2

    claims = decode(api_client.post("/api/auth/register", ADA).json()["token"])

    assert claims["exp"] - claims["iat"] == 2 * 3600


def test_each_login_records_one_audit_token_with_the_jti_and_never_the_token(api_client, user):
    tokens = [
        api_client.post("/api/auth/register", {"phone_number": "+16502530001"}, HTTP_USER_AGENT="KriyaTest/1.0")
        .json()["token"]
        for _ in range(2)
    ]

    rows = list(AuditToken.objects.order_by("issued_at", "id").values())
    assert [row["jti"] for row in rows] == [uuid.UUID(decode(token)["jti"]) for token in tokens]
    for row, token in zip(rows, tokens):
        claims = decode(token)
        assert row["user_id"] == user.pk
        assert row["token_version"] == 0
        assert row["issued_at"] == datetime.fromtimestamp(claims["iat"], UTC)
        assert row["expires_at"] == datetime.fromtimestamp(claims["exp"], UTC)
        assert row["ip_address"] == "127.0.0.1"
        assert row["user_agent"] == "KriyaTest/1.0"
        assert all(token not in str(value) for value in row.values())
        assert all(token.split(".")[2] not in str(value) for value in row.values())


def test_audit_tokens_live_in_the_tokens_table_and_users_in_users(api_client):
    token = api_client.post("/api/auth/register", ADA).json()["token"]

    with connection.cursor() as cursor:
        cursor.execute("SELECT jti FROM tokens")
        jtis = [str(uuid.UUID(str(jti))) for (jti,) in cursor.fetchall()]
        cursor.execute("SELECT phone_number FROM users")
        phones = [phone for (phone,) in cursor.fetchall()]
    assert jtis == [decode(token)["jti"]]
    assert phones == ["+16502530001"]


def test_an_existing_phone_logs_in_without_a_first_name(api_client, user, user_json):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001"})

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "message": "Login successful",
        "token": body["token"],
        "user": user_json(user),
        "expires_at": as_json_time(datetime.fromtimestamp(decode(body["token"])["exp"], UTC)),
        **session_fields(body),
    }
    assert decode(body["token"])["user_id"] == str(user.pk)


def test_logging_in_never_changes_the_stored_profile(api_client, user, user_json):
    before = user_json(user)

    response = api_client.post(
        "/api/auth/register",
        {"phone_number": "+16502530001", "first_name": "Mallory", "last_name": "X", "email": "mallory@example.com"},
    )

    assert response.status_code == 200
    assert response.json()["message"] == "Login successful"
    assert response.json()["user"] == before
    assert user_json(user) == before
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "typed",
    ["+16502530001", "+1 (650) 253-0001", "+1-650-253-0001", "+1.650.253.0001", " +1 650 253 0001 "],
)
def test_every_way_of_typing_a_number_finds_the_same_user(api_client, user, typed):
    response = api_client.post("/api/auth/register", {"phone_number": typed})

    assert response.status_code == 200
    assert response.json()["message"] == "Login successful"
    assert response.json()["user"]["id"] == str(user.pk)
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("+44 20 7031 3000", "+442070313000"), ("+33 1 42 68 53 00", "+33142685300"), ("+91 98765 43210", "+919876543210")],
)
def test_numbers_from_other_countries_are_stored_as_e164(api_client, typed, stored):
    response = api_client.post("/api/auth/register", {"phone_number": typed, "first_name": "Ada"})

    assert response.status_code == 200
    assert response.json()["user"]["phone_number"] == stored
    assert User.objects.get().phone_number == stored


@pytest.mark.parametrize(
    ("phone_number", "message"),
    [
        ("16502530001", "Phone number must start with + and the country code."),
        ("", "This field may not be blank."),
        ("+1 650 CALL NOW", "Phone number may contain only digits, spaces, dashes, dots and parentheses."),
        ("+1 650 253 0001 ext 5", "Phone number may contain only digits, spaces, dashes, dots and parentheses."),
        ("+1 123 456 7890", "Enter a valid phone number."),
        ("+1 650 253 000", "Enter a valid phone number."),
        ("+999 1234", "Enter a valid phone number."),
        ("+", "Phone number may contain only digits, spaces, dashes, dots and parentheses."),
        ("+" + "1" * 40, "Ensure this field has no more than 32 characters."),
        ("+1 650 253 0001" + "0" * 10_000, "Ensure this field has no more than 32 characters."),
    ],
)
def test_an_invalid_phone_number_is_refused(api_client, phone_number, message):
    response = api_client.post("/api/auth/register", {"phone_number": phone_number, "first_name": "Ada"})

    assert response.status_code == 400
    assert response.json() == {"phone_number": [message]}
    assert not User.objects.exists()


def test_a_new_phone_needs_a_first_name(api_client):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001"})

    assert response.status_code == 400
    assert response.json() == {"first_name": ["This field is required to register a new phone number."]}
    assert not User.objects.exists()
    assert not AuditToken.objects.exists()


@pytest.mark.parametrize("first_name", ["", "   "])
def test_a_blank_first_name_does_not_register(api_client, first_name):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": first_name})

    assert response.status_code == 400
    assert response.json() == {"first_name": ["This field is required to register a new phone number."]}
    assert not User.objects.exists()


def test_names_of_100_characters_are_accepted(api_client):
    response = api_client.post(
        "/api/auth/register", {"phone_number": "+16502530001", "first_name": "A" * 100, "last_name": "L" * 100}
    )

    assert response.status_code == 200
    assert User.objects.get().first_name == "A" * 100


@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_names_over_100_characters_are_refused(api_client, field):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada", field: "A" * 101})

    assert response.status_code == 400
    assert response.json() == {field: ["Ensure this field has no more than 100 characters."]}
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["not-an-email", "ada@", "@example.com", "ada example@example.com"])
def test_an_invalid_email_is_refused(api_client, email):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada", "email": email})

    assert response.status_code == 400
    assert response.json() == {"email": ["Enter a valid email address."]}
    assert not User.objects.exists()


@pytest.mark.parametrize("email", ["", None])
def test_an_empty_email_is_stored_as_null(api_client, email):
    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada", "email": email})

    assert response.status_code == 200
    assert response.json()["user"]["email"] is None
    assert User.objects.get().email is None


def test_a_deactivated_user_cannot_log_in(api_client, user):
    user.is_active = False
    user.save()

    response = api_client.post("/api/auth/register", {"phone_number": "+16502530001"})

    assert response.status_code == 403
    assert response.json() == {"detail": "User account is disabled"}
    assert not AuditToken.objects.exists()
    assert not Session.objects.exists()


def test_a_stale_authorization_header_does_not_block_login(api_client, user):
    response = api_client.post(
        "/api/auth/register", {"phone_number": "+16502530001"}, HTTP_AUTHORIZATION="Bearer not-a-token"
    )

    assert response.status_code == 200
    assert response.json()["message"] == "Login successful"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"phone_number": 16502530001, "first_name": "Ada"}, {"phone_number": ["Must be a string."]}),
        ({"phone_number": ["+16502530001"], "first_name": "Ada"}, {"phone_number": ["Must be a string."]}),
        ({"phone_number": {"number": "+16502530001"}, "first_name": "Ada"}, {"phone_number": ["Must be a string."]}),
        ({"phone_number": None, "first_name": "Ada"}, {"phone_number": ["This field may not be null."]}),
        ({"phone_number": True, "first_name": "Ada"}, {"phone_number": ["Must be a string."]}),
        ({"first_name": "Ada"}, {"phone_number": ["This field is required."]}),
        ({"phone_number": "+16502530001", "first_name": ["Ada"]}, {"first_name": ["Must be a string."]}),
        ({"phone_number": "+16502530001", "first_name": None}, {"first_name": ["This field may not be null."]}),
        ({"phone_number": "+16502530001", "first_name": "Ada", "email": 42}, {"email": ["Must be a string."]}),
        ({"phone_number": "+16502530001", "first_name": "Ada\u0000"}, {"first_name": ["Null characters are not allowed."]}),
        ({"phone_number": "+16502530001", "first_name": "Ada", "last_name": "\u0000"}, {"last_name": ["Null characters are not allowed."]}),
        ({"phone_number": "+16502530001", "first_name": "Ada", "email": "a\u0000@example.com"}, {"email": ["Null characters are not allowed.", "Enter a valid email address."]}),
        (
            {"phone_number": "+1650253\u00000001", "first_name": "Ada"},
            {"phone_number": ["Phone number may contain only digits, spaces, dashes, dots and parentheses."]},
        ),
    ],
)
def test_wrongly_typed_fields_are_refused_with_the_field_named(api_client, body, errors):
    response = api_client.post("/api/auth/register", body)

    assert response.status_code == 400
    assert response.json() == errors
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ('{"phone_number": "+16502530001", "first_name": "Ada"', "JSON parse error - "),
        ("not json", "JSON parse error - "),
        ('{"phone_number": "+16502530001", "first_name": "Ad\x00a"}', "JSON parse error - "),
        (b'{"phone_number": "+16502530001", "first_name": "\xff"}', "JSON parse error - "),
    ],
)
def test_malformed_json_is_a_400_that_says_so(api_client, raw, detail):
    response = api_client.post("/api/auth/register", raw, content_type="application/json")

    assert response.status_code == 400
    assert list(response.json()) == ["detail"]
    assert response.json()["detail"].startswith(detail)
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("raw", "kind"), [('["+16502530001", "Ada"]', "list"), ('"+16502530001"', "str"), ("42", "int")]
)
def test_a_body_that_is_not_an_object_is_refused(api_client, raw, kind):
    response = api_client.post("/api/auth/register", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
    assert not User.objects.exists()


@pytest.mark.parametrize(("raw", "errors"), [("", {"phone_number": ["This field is required."]}), ("null", {"non_field_errors": ["No data provided"]})])
def test_an_empty_body_is_refused(api_client, raw, errors):
    response = api_client.post("/api/auth/register", raw, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not User.objects.exists()
