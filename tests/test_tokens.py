import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from jwt.algorithms import HMACAlgorithm

from accounts.tokens import InvalidToken, issue_token, user_for_token

pytestmark = pytest.mark.django_db

OLD_KEY = "the-key-that-signed-last-months-tokens-0123456789"
NEW_KEY = "the-key-that-signs-this-months-tokens-0123456789"


def test_issue_token_signs_the_documented_claims(user, settings):
    now = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)

    issued = issue_token(user, now=now)

    claims = jwt.decode(
        issued.token, settings.JWT_SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {
        "user_id": str(user.pk),
        "phone_number": "+16502530001",
        "token_version": 0,
        "exp": int(datetime(2030, 1, 3, 3, 4, 5, tzinfo=UTC).timestamp()),
        "iat": int(datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()),
        "iss": "kriya-auth",
        "jti": str(issued.jti),
    }
    assert isinstance(issued.jti, uuid.UUID)
    assert (issued.issued_at, issued.expires_at) == (
        datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2030, 1, 3, 3, 4, 5, tzinfo=UTC),
    )


def test_issue_token_uses_the_configured_algorithm(user, settings):
    settings.JWT_ALGORITHM = "HS384"

    assert jwt.get_unverified_header(issue_token(user).token)["alg"] == "HS384"


def test_every_token_has_its_own_jti(user):
    assert len({issue_token(user).jti for _ in range(20)}) == 20


def test_user_for_token_returns_the_tokens_user(user):
    assert user_for_token(issue_token(user).token) == user


def test_user_for_token_says_why_a_token_is_refused(user):
    token = issue_token(user).token
    user.revoke_tokens()

    with pytest.raises(InvalidToken) as raised:
        user_for_token(token)
    assert raised.value.reason == "Token has been revoked"


def test_a_token_signed_with_a_previous_key_still_validates_during_rotation(settings, user, validate):
    settings.JWT_SECRET_KEY = OLD_KEY
    token = issue_token(user).token

    settings.JWT_SECRET_KEY, settings.JWT_PREVIOUS_SECRET_KEYS = NEW_KEY, [OLD_KEY]

    assert validate(token).json()["valid"] is True
    assert validate(issue_token(user).token).json()["valid"] is True


def test_a_token_signed_with_a_retired_key_is_not_valid(settings, user, validate):
    settings.JWT_SECRET_KEY = OLD_KEY
    token = issue_token(user).token

    settings.JWT_SECRET_KEY, settings.JWT_PREVIOUS_SECRET_KEYS = NEW_KEY, []

    assert validate(token).json() == {"valid": False, "user": None, "message": "Token was signed with an unknown key"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_header(token, header, key):
    """token's payload under another header, signed with key (PyJWT refuses to write a non-string kid)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{token.split('.')[1]}"
    signature = HMACAlgorithm(HMACAlgorithm.SHA256).sign(signing_input.encode(), key.encode())
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize(
    ("kid", "message"),
    [
        ("0123456789abcdef", "Token was signed with an unknown key"),
        ("", "Token was signed with an unknown key"),
        (7, "Token is invalid"),
        (["x"], "Token is invalid"),
        (None, "Token is invalid"),
    ],
)
def test_a_token_naming_an_unknown_key_is_not_valid(settings, user, validate, kid, message):
    # Signed with the current key: only the kid header is wrong.
    token = with_header(issue_token(user).token, {"alg": "HS256", "typ": "JWT", "kid": kid}, settings.JWT_SECRET_KEY)

    assert validate(token).json() == {"valid": False, "user": None, "message": message}


def test_a_rebuilt_token_with_the_right_kid_validates(settings, user, validate):
    # The reference point for the test above: with_header itself produces acceptable tokens.
    token = issue_token(user).token
    header = jwt.get_unverified_header(token)

    assert validate(with_header(token, header, settings.JWT_SECRET_KEY)).json()["valid"] is True


def test_a_token_naming_the_current_key_but_signed_with_another_is_not_valid(settings, user, forge_token, validate):
    kid = jwt.get_unverified_header(issue_token(user).token)["kid"]

    token = forge_token(user, key="another-service-entirely-with-its-own-32-char-secret", headers={"kid": kid})

    assert validate(token).json() == {"valid": False, "user": None, "message": "Token signature is invalid"}


def test_the_kid_header_does_not_reveal_the_key(settings, user):
    header = jwt.get_unverified_header(issue_token(user).token)

    assert settings.JWT_SECRET_KEY not in str(header)
    assert set(header) == {"alg", "typ", "kid"}


def test_an_expired_token_is_refused_even_a_second_late(user, validate):
    token = issue_token(user, now=datetime.now(UTC) - timedelta(hours=24, seconds=2)).token

    assert validate(token).json()["message"] == "Token has expired"
