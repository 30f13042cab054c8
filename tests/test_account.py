"""Account self-service: edit the profile, move to a new phone number, delete the account."""

import pytest

from accounts.models import AuditToken, PhoneVerification, RevocationEvent, Session, User

pytestmark = pytest.mark.django_db

NEW_PHONE = "+16502530099"


@pytest.fixture(autouse=True)
def throttles_off(settings):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


@pytest.fixture
def signed_in(api_client, user):
    """Ada's session: its access token."""
    return api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()["token"]




def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def move_to(api_client, texted_code):
    """Ask to move the account to phone, then verify it with both texted codes (or the ones given)."""

    def move_to(token, phone=NEW_PHONE, code=None, current_code=None, current="+16502530001"):
        asked = api_client.post("/api/auth/user/phone", {"phone_number": phone}, **bearer(token))
        assert asked.status_code == 200, asked.json()
        body = {"phone_number": phone, "code": code or texted_code(phone), "current_code": current_code or texted_code(current)}
        return api_client.post("/api/auth/user/phone/verify", body, **bearer(token))

    return move_to


@pytest.fixture
def deletion_code(api_client, texted_code):
    def deletion_code(token, phone="+16502530001"):
        asked = api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(token))
        assert asked.status_code == 200, asked.json()
        return texted_code(phone)

    return deletion_code


# Profile

def test_a_user_edits_their_own_profile_and_validate_token_shows_it_at_once(api_client, signed_in, user, validate, user_json, events):
    response = api_client.patch("/api/auth/user", {"first_name": "Augusta", "email": "augusta@example.com"}, **bearer(signed_in))

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.first_name, user.last_name, user.email) == ("Augusta", "Lovelace", "augusta@example.com")
    assert response.json() == user_json(user)
    assert validate(signed_in).json()["user"]["first_name"] == "Augusta"
    [event] = [e for e in events() if e["event"] == "profile_updated"]
    assert event["fields"] == ["first_name", "email"]


def test_an_empty_email_or_null_clears_it(api_client, signed_in, user):
    for value in ("", None):
        assert api_client.patch("/api/auth/user", {"email": value}, **bearer(signed_in)).json()["email"] is None


@pytest.mark.parametrize("body, errors", [
    ({"first_name": ""}, {"first_name": ["This field may not be blank."]}),
    ({"first_name": 42}, {"first_name": ["Must be a string."]}),
    ({"last_name": "x" * 101}, {"last_name": ["Ensure this field has no more than 100 characters."]}),
    ({"email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
    ({"phone_number": "+16502530002"}, {"phone_number": ["Change the phone number with POST /api/auth/user/phone."]}),
    ({"token_version": 0, "is_active": True}, {"is_active": ["This field cannot be changed here."],
                                               "token_version": ["This field cannot be changed here."]}),
    ({}, {"non_field_errors": ["Give first_name, last_name or email."]}),
])
def test_a_bad_profile_edit_is_a_400_naming_the_field_and_changes_nothing(api_client, signed_in, user, body, errors):
    response = api_client.patch("/api/auth/user", body, **bearer(signed_in))

    assert (response.status_code, response.json()) == (400, errors)
    assert User.objects.get(pk=user.pk).first_name == "Ada"


def test_a_profile_edit_needs_the_users_token(api_client, user):
    assert api_client.patch("/api/auth/user", {"first_name": "Eve"}).status_code == 401
    assert api_client.patch("/api/auth/user", {"first_name": "Eve"}, **bearer("x.y.z")).status_code == 401


# Phone change

def test_moving_to_a_new_number_texts_both_numbers_a_code_then_ends_every_session(api_client, signed_in, user, sms_outbox,
                                                                                  texted_code, validate, events):
    response = api_client.post("/api/auth/user/phone", {"phone_number": "+1 (650) 253-0099"}, **bearer(signed_in))

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}
    assert [message.to for message in sms_outbox] == [NEW_PHONE, user.phone_number]
    assert "to make this your account's phone number" in sms_outbox[0].body
    assert "to move your account to a new phone number" in sms_outbox[1].body

    response = api_client.post("/api/auth/user/phone/verify", {"phone_number": NEW_PHONE, "code": texted_code(NEW_PHONE),
                                                               "current_code": texted_code(user.phone_number)},
                               **bearer(signed_in))

    assert response.status_code == 200
    assert response.json()["message"] == "Phone number changed. Sign in again with the new number."
    assert response.json()["user"]["phone_number"] == NEW_PHONE
    assert User.objects.get(pk=user.pk).phone_number == NEW_PHONE
    assert validate(signed_in).json() == {"valid": False, "user": None, "message": "Token has been revoked"}
    assert not Session.objects.live().exists()
    assert RevocationEvent.objects.get().type == "phone_changed"
    signed_again = api_client.post("/api/auth/register", {"phone_number": NEW_PHONE}).json()
    assert signed_again["user"]["id"] == str(user.pk)
    [changed] = [e for e in events() if e["event"] == "phone_changed"]
    assert (changed["phone"], changed["previous_phone"]) == ("+1650***0099", "+1650***0001")
    assert [e["new_phone"] for e in events() if e["event"] == "phone_change_requested"] == ["+1650***0099"]


def test_a_phone_change_needs_a_code_even_with_verification_off(api_client, signed_in, settings):
    settings.PHONE_VERIFICATION = "off"

    response = api_client.post("/api/auth/user/phone/verify", {"phone_number": NEW_PHONE}, **bearer(signed_in))

    assert (response.status_code, response.json()) == (400, {"code": ["This field is required."],
                                                             "current_code": ["This field is required."]})


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_a_wrong_code_for_either_number_moves_nothing(api_client, signed_in, user, sms_outbox, texted_code, move_to):
    api_client.post("/api/auth/user/phone", {"phone_number": NEW_PHONE}, **bearer(signed_in))
    new, current = texted_code(NEW_PHONE), texted_code(user.phone_number)

    for body, detail in (({"code": wrong(new), "current_code": current}, "Invalid or expired code"),
                         ({"code": new, "current_code": wrong(current)}, "Invalid or expired code for your current phone number"),
                         ({"code": current, "current_code": new}, "Invalid or expired code for your current phone number")):
        response = api_client.post("/api/auth/user/phone/verify", {"phone_number": NEW_PHONE, **body}, **bearer(signed_in))
        assert (response.status_code, response.json()) == (400, {"detail": detail})
    assert User.objects.get(pk=user.pk).phone_number == "+16502530001"
    assert api_client.post("/api/auth/user/phone/verify", {"phone_number": NEW_PHONE, "code": new, "current_code": current},
                           **bearer(signed_in)).status_code == 200


def test_a_taken_number_gets_the_same_code_answer_then_409_once_verified(api_client, signed_in, make_user, sms_outbox,
                                                                         texted_code, user):
    other = make_user(NEW_PHONE)

    requested = api_client.post("/api/auth/user/phone", {"phone_number": NEW_PHONE}, **bearer(signed_in))
    assert requested.json() == {"success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}

    response = api_client.post("/api/auth/user/phone/verify", {"phone_number": NEW_PHONE, "code": texted_code(NEW_PHONE),
                                                               "current_code": texted_code(user.phone_number)},
                               **bearer(signed_in))

    assert (response.status_code, response.json()) == (409, {"detail": "This phone number belongs to another account."})
    assert User.objects.get(pk=user.pk).phone_number == "+16502530001"
    assert User.objects.get(pk=other.pk).phone_number == NEW_PHONE


def test_moving_to_ones_own_number_is_refused(api_client, signed_in):
    response = api_client.post("/api/auth/user/phone", {"phone_number": "+1 650 253 0001"}, **bearer(signed_in))

    assert (response.status_code, response.json()) == (400, {"phone_number": ["This is already your phone number."]})


def test_the_new_number_obeys_the_allowed_regions(api_client, signed_in, settings, sms_outbox):
    settings.OTP_ALLOWED_REGIONS = ["IN"]

    response = api_client.post("/api/auth/user/phone", {"phone_number": NEW_PHONE}, **bearer(signed_in))

    assert response.status_code == 400
    assert not sms_outbox


def test_phone_change_requests_share_the_codes_cooldown(api_client, signed_in, sms_outbox):
    api_client.post("/api/auth/user/phone", {"phone_number": NEW_PHONE}, **bearer(signed_in))

    response = api_client.post("/api/auth/user/phone", {"phone_number": NEW_PHONE}, **bearer(signed_in))

    assert response.status_code == 429
    assert "Retry-After" in response


# Deletion

def test_deleting_the_account_refuses_every_token_and_frees_the_number(api_client, signed_in, user, validate, events,
                                                                       deletion_code):
    other_device = api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()["token"]

    response = api_client.delete("/api/auth/user", {"code": deletion_code(signed_in)}, **bearer(signed_in))

    assert (response.status_code, response.json()) == (200, {"success": True, "message": "Account deleted"})
    for token in (signed_in, other_device):
        assert validate(token).json()["valid"] is False
    assert not User.objects.filter(pk=user.pk).exists()
    assert not Session.objects.exists() and not AuditToken.objects.exists()
    assert list(RevocationEvent.objects.values_list("type", "user_id")) == [("account_deleted", user.pk)]
    again = api_client.post("/api/auth/register", {"phone_number": user.phone_number, "first_name": "Newcomer"}).json()
    assert again["message"] == "Registration successful"
    assert again["user"]["id"] != str(user.pk)
    assert [e["user_id"] for e in events() if e["event"] == "account_deleted"] == [str(user.pk)]


@pytest.mark.parametrize("verification", ["off", "sms"])
def test_a_stolen_access_token_alone_cannot_delete(api_client, signed_in, user, settings, sms_outbox, texted_code,
                                                   verification):
    settings.PHONE_VERIFICATION = verification
    refused = api_client.delete("/api/auth/user", **bearer(signed_in))
    assert (refused.status_code, refused.json()) == (400, {"code": ["This field is required."]})
    wrong = api_client.delete("/api/auth/user", {"code": "000000"}, **bearer(signed_in))
    assert wrong.json() == {"detail": "Invalid or expired code"}
    assert User.objects.filter(pk=user.pk).exists()

    asked = api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(signed_in))
    assert asked.status_code == 200
    assert "to delete your account" in sms_outbox[-1].body
    response = api_client.delete("/api/auth/user", {"code": texted_code(user.phone_number)}, **bearer(signed_in))

    assert response.status_code == 200
    assert not User.objects.filter(pk=user.pk).exists()
    assert not PhoneVerification.objects.filter(phone_number=user.phone_number).exists()


def test_account_changes_are_limited_per_ip(api_client, signed_in, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "account_ip": "2/min"}
    statuses = [api_client.patch("/api/auth/user", {"last_name": f"L{n}"}, **bearer(signed_in)).status_code for n in range(3)]

    assert statuses == [200, 200, 429]
    assert api_client.get("/api/auth/user", **bearer(signed_in)).status_code == 200  # reading is not an account change
