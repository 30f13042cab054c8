import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db

OTHER_KEY = "another-service-entirely-with-its-own-32-char-secret"


def invalid(message):
    return {"valid": False, "user": None, "message": message}


def test_a_valid_token_returns_its_user(validate, user, user_json):
    response = validate(issue_token(user).token)

    assert response.status_code == 200
    assert response.json() == {"valid": True, "user": user_json(user), "message": "Token is valid"}


def test_a_token_from_register_validates(api_client, validate, user_json):
    token = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada"}).json()["token"]

    response = validate(token)

    assert response.status_code == 200
    assert response.json() == {"valid": True, "user": user_json(User.objects.get()), "message": "Token is valid"}


def test_a_valid_token_costs_exactly_one_query(validate, user, django_assert_num_queries):
    token = issue_token(user).token

    with django_assert_num_queries(1):
        response = validate(token)

    assert response.json()["valid"] is True


def test_a_forged_token_with_the_right_key_and_claims_validates(validate, user, forge_token, user_json):
    # The reference point for the forgeries below: only the one thing each changes makes them invalid.
    assert validate(forge_token(user)).json() == {"valid": True, "user": user_json(user), "message": "Token is valid"}


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_API_KEY": "wrong-key"}, {"HTTP_X_API_KEY": ""}])
def test_a_missing_or_wrong_api_key_is_refused(api_client, user, headers):
    response = api_client.post("/api/auth/validate-token", {"token": issue_token(user).token}, **headers)

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid API key"}


def test_the_api_key_is_checked_before_the_body(api_client):
    response = api_client.post("/api/auth/validate-token", "{not json", content_type="application/json")

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid API key"}


def test_a_key_that_is_almost_a_valid_one_is_refused(validate, api_key, user):
    last_changed = api_key[:-1] + ("A" if api_key[-1] != "A" else "B")

    for presented in (api_key[:-1], api_key + "x", last_changed):
        response = validate(issue_token(user).token, key=presented)
        assert response.status_code == 403
        assert response.json() == {"detail": "Invalid API key"}


def test_every_configured_api_key_is_accepted(settings, validate, user):
    settings.PLANE_API_KEYS = ["old-plane-key-0123456789", "new-plane-key-0123456789"]
    token = issue_token(user).token

    for key in settings.PLANE_API_KEYS:
        assert validate(token, key=key).status_code == 200
        assert validate(token, key=key).json()["valid"] is True
    assert validate(token, key="old-plane-key-0123456789,new-plane-key-0123456789").status_code == 403


def test_no_key_is_accepted_when_none_is_configured(settings, validate, user):
    settings.PLANE_API_KEYS = []

    response = validate(issue_token(user).token, key="")

    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid API key"}


def test_an_empty_configured_key_never_matches_an_empty_header(settings, validate, user):
    settings.PLANE_API_KEYS = ["", "real-plane-key-0123456789"]

    assert validate(issue_token(user).token, key="").status_code == 403


def test_a_missing_token_field_is_a_400(api_client, api_key):
    response = api_client.post("/api/auth/validate-token", {}, HTTP_X_API_KEY=api_key)

    assert response.status_code == 400
    assert response.json() == {"token": ["This field is required."]}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"token": None}, {"token": ["This field may not be null."]}),
        ({"token": ["a.b.c"]}, {"token": ["Must be a string."]}),
        ({"token": 12345}, {"token": ["Must be a string."]}),
        ({"token": "a.b\u0000.c"}, {"token": ["Null characters are not allowed."]}),
        (["a.b.c"], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_a_wrongly_typed_token_is_a_400(api_client, api_key, body, errors):
    response = api_client.post("/api/auth/validate-token", body, HTTP_X_API_KEY=api_key)

    assert response.status_code == 400
    assert response.json() == errors


def test_malformed_json_is_a_400(api_client, api_key):
    response = api_client.post("/api/auth/validate-token", '{"token": ', content_type="application/json", HTTP_X_API_KEY=api_key)

    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


@pytest.mark.parametrize(
    "token",
    ["not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30", "eyJhbGciOiJIUzI1NiJ9.!!!.sig", "x" * 10_000, "é.é.é"],
)
def test_a_malformed_token_is_not_valid(validate, token):
    response = validate(token)

    assert response.status_code == 200
    assert response.json() == invalid("Token is malformed")


def test_a_token_with_a_tampered_payload_is_not_valid(validate, user, make_user):
    other = make_user()
    header, _, signature = issue_token(user).token.split(".")
    _, payload, _ = issue_token(other).token.split(".")

    response = validate(f"{header}.{payload}.{signature}")

    assert response.status_code == 200
    assert response.json() == invalid("Token signature is invalid")


def test_a_token_signed_with_another_key_is_not_valid(validate, user, forge_token):
    assert validate(forge_token(user, key=OTHER_KEY)).json() == invalid("Token signature is invalid")


def test_an_unsigned_alg_none_token_is_not_valid(validate, user, forge_token):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=").decode()
    _, payload, _ = forge_token(user).split(".")
    token = f"{header}.{payload}."

    assert validate(token).json() == invalid("Token algorithm is not allowed")


def test_an_hs512_token_is_not_valid_when_hs256_is_configured(settings, validate, user, forge_token):
    settings.JWT_ALGORITHM = "HS256"

    assert validate(forge_token(user, algorithm="HS512")).json() == invalid("Token algorithm is not allowed")


def test_hs512_tokens_validate_when_hs512_is_configured(settings, validate, user):
    settings.JWT_ALGORITHM = "HS512"

    assert validate(issue_token(user).token).json()["valid"] is True


def test_an_expired_token_is_not_valid(validate, user):
    token = issue_token(user, now=timezone.now() - timedelta(hours=25)).token

    assert validate(token).json() == invalid("Token has expired")


def test_a_token_from_the_future_is_not_valid(validate, user, forge_token):
    later = timezone.now() + timedelta(hours=1)

    assert validate(forge_token(user, iat=later, exp=later + timedelta(hours=1))).json() == invalid(
        "Token is not yet valid"
    )


def test_a_token_from_another_issuer_is_not_valid(validate, user, forge_token):
    assert validate(forge_token(user, iss="someone-else")).json() == invalid("Token has an invalid issuer")


@pytest.mark.parametrize("claim", ["user_id", "phone_number", "token_version", "exp", "iat", "iss", "jti"])
def test_a_token_missing_a_claim_is_not_valid(validate, user, forge_token, claim):
    assert validate(forge_token(user, **{claim: None})).json() == invalid(f"Token is missing the '{claim}' claim")


@pytest.mark.parametrize("user_id", ["not-a-uuid", "1", 12345, ["a"], ""])
def test_a_user_id_that_is_not_a_uuid_is_not_valid(validate, user, forge_token, user_id):
    assert validate(forge_token(user, user_id=user_id)).json() == invalid("Token has an invalid 'user_id' claim")


@pytest.mark.parametrize("version", ["0", 0.0, False, [0], {"v": 0}])
def test_a_token_version_that_is_not_an_integer_is_not_valid(validate, user, forge_token, version):
    assert validate(forge_token(user, token_version=version)).json() == invalid("Token has an invalid 'token_version' claim")


NOW = int(time.time())


@pytest.mark.parametrize(("claims", "claim"), [
    ({"exp": str(NOW + 3600), "iat": NOW}, "exp"),  # a 500 before: the str reached max-age's arithmetic
    ({"exp": float(NOW + 3600), "iat": NOW}, "exp"),
    ({"exp": NOW + 3600.5, "iat": NOW}, "exp"),
    ({"exp": NOW + 3600, "iat": str(NOW)}, "iat"),
    ({"exp": NOW + 3600, "iat": float(NOW)}, "iat"),
    ({"exp": NOW + 3600, "iat": True}, "iat"),
])
def test_exp_and_iat_that_are_not_integers_are_not_valid(validate, user, forge_token, claims, claim):
    response = validate(forge_token(user, **claims))

    assert (response.status_code, response.json()) == (200, invalid(f"Token has an invalid '{claim}' claim"))
    assert response["Cache-Control"] == "no-store"


def test_a_token_may_live_exactly_as_long_as_the_configured_lifetime(settings, validate, user, forge_token):
    settings.TOKEN_EXPIRY_HOURS = 2
    now = int(time.time())

    assert validate(forge_token(user, iat=now, exp=now + 2 * 3600)).json()["valid"] is True


@pytest.mark.parametrize("lifetime", [2 * 3600 + 1, 10 * 365 * 86400, 10**30])
def test_a_token_that_lives_longer_than_the_configured_lifetime_is_not_valid(settings, validate, user, forge_token,
                                                                               lifetime):
    settings.TOKEN_EXPIRY_HOURS = 2
    now = int(time.time())

    response = validate(forge_token(user, iat=now, exp=now + lifetime))

    assert (response.status_code, response.json()) == (200, invalid("Token lifetime is longer than allowed"))


def test_a_token_issued_long_ago_cannot_stretch_its_lifetime(settings, validate, user, forge_token):
    now = int(time.time())

    response = validate(forge_token(user, iat=now - 10 * 86400, exp=now + 3600))

    assert response.json() == invalid("Token lifetime is longer than allowed")


def test_a_token_for_an_unknown_user_is_not_valid(validate, user, forge_token):
    assert validate(forge_token(user, user_id=str(uuid.uuid4()))).json() == invalid("User not found")


def test_a_token_of_a_deleted_user_is_not_valid(validate, user):
    token = issue_token(user).token
    user.delete()

    assert validate(token).json() == invalid("User not found")


def test_a_token_of_a_deactivated_user_is_not_valid(validate, user):
    token = issue_token(user).token
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert validate(token).json() == invalid("User account is disabled")


def test_a_token_issued_before_revocation_is_not_valid(validate, user):
    token = issue_token(user).token
    user.revoke_tokens()

    assert validate(token).json() == invalid("Token has been revoked")


def test_a_token_with_a_future_token_version_is_not_valid(validate, user, forge_token):
    assert validate(forge_token(user, token_version=user.token_version + 1)).json() == invalid("Token has been revoked")


def test_a_token_issued_after_revocation_validates(validate, user):
    user.revoke_tokens()

    assert validate(issue_token(user).token).json()["valid"] is True


def test_the_trailing_slash_form_answers_the_same(api_client, api_key, user, user_json):
    response = api_client.post("/api/auth/validate-token/", {"token": issue_token(user).token}, HTTP_X_API_KEY=api_key)

    assert response.status_code == 200
    assert response.json() == {"valid": True, "user": user_json(user), "message": "Token is valid"}


@pytest.mark.parametrize("segment", ["header", "payload"])
def test_a_token_with_json_nested_thousands_deep_is_malformed_not_a_500(validate, api_client, settings, segment):
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    nested, header = b64(b"[" * 3000), b64(b'{"alg": "HS256"}')
    signing_input = f"{nested}.e30" if segment == "header" else f"{header}.{nested}"
    # Correctly signed, so PyJWT gets as far as parsing the nested payload.
    signature = b64(hmac.new(settings.JWT_SECRET_KEY.encode(), signing_input.encode(), hashlib.sha256).digest())
    token = f"{signing_input}.{signature}"

    assert validate(token).json() == {"valid": False, "user": None, "message": "Token is malformed"}
    response = api_client.get(f"/api/auth/user?token={token}")
    assert (response.status_code, response.json()) == (401, {"detail": "Token is malformed"})
