import pytest
from django.urls import reverse

from accounts.models import AuditToken, User

pytestmark = pytest.mark.django_db

# The admin's prefix is configurable (ADMIN_URL), so its pages are found by name.
CHANGELIST = "admin:accounts_user_changelist"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # PBKDF2 costs ~0.2 s a user


@pytest.fixture
def admin_client(client, db):
    admin = User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")
    client.force_login(admin)
    return client


def registered(api_client, phone_number="+16502530001", first_name="Ada", **fields):
    response = api_client.post("/api/auth/register", {"phone_number": phone_number, "first_name": first_name, **fields})
    assert response.status_code == 200
    return User.objects.get(phone_number=response.json()["user"]["phone_number"]), response.json()["token"]


def run_action(admin_client, action, *users):
    return admin_client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [str(user.pk) for user in users]}, follow=True
    )


def test_the_superuser_factory_makes_a_staff_superuser_with_a_usable_password(db):
    admin = User.objects.create_superuser("+1 (650) 253-0009", "a-strong-pass-123", first_name="Admin")

    assert (admin.phone_number, admin.is_staff, admin.is_superuser) == ("+16502530009", True, True)
    assert admin.check_password("a-strong-pass-123")


def test_the_admin_login_page_takes_a_phone_number_and_password(client, db):
    User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")

    response = client.post(
        reverse("admin:login"), {"username": "+16502530009", "password": "a-strong-pass-123", "next": reverse(CHANGELIST)}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST)


def test_phone_users_cannot_log_in_to_the_admin(client, api_client):
    user, _ = registered(api_client)
    User.objects.filter(pk=user.pk).update(is_staff=True)

    response = client.post(reverse("admin:login"), {"username": "+16502530001", "password": ""})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


def test_the_admin_requires_a_login(client, db):
    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_user_changelist_lists_users(admin_client, api_client):
    registered(api_client, first_name="Ada", last_name="Lovelace")
    registered(api_client, phone_number="+16502530002", first_name="Grace", last_name="Hopper")

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    html = response.content.decode()
    assert "+16502530001" in html and "+16502530002" in html and "Lovelace" in html


@pytest.mark.parametrize(("query", "found"), [("Hopper", ["+16502530002"]), ("6502530001", ["+16502530001"]),
                                              ("grace@example", ["+16502530002"]), ("nobody", [])])
def test_the_changelist_searches_by_phone_name_and_email(admin_client, api_client, query, found):
    registered(api_client, first_name="Ada", last_name="Lovelace")
    registered(api_client, phone_number="+16502530002", first_name="Grace", last_name="Hopper", email="grace@example.com")

    response = admin_client.get(reverse(CHANGELIST), {"q": query})

    assert response.status_code == 200
    assert [user.phone_number for user in response.context["cl"].result_list] == found


def test_the_changelist_filters_active_users(admin_client, api_client):
    user, _ = registered(api_client)
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = admin_client.get(reverse(CHANGELIST), {"is_active__exact": "0"})

    assert response.status_code == 200
    assert [found.pk for found in response.context["cl"].result_list] == [user.pk]


def test_the_change_page_lists_the_tokens_issued_to_the_user(admin_client, api_client):
    user, _ = registered(api_client)
    registered(api_client)

    response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    jtis = [str(jti) for jti in AuditToken.objects.filter(user=user).values_list("jti", flat=True)]
    assert len(jtis) == 2
    assert all(jti in html for jti in jtis)
    assert "127.0.0.1" in html


def test_the_change_page_shows_no_token_itself(admin_client, api_client):
    user, token = registered(api_client)

    html = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()

    assert token not in html
    assert token.split(".")[2] not in html


def test_the_change_page_can_edit_a_name(admin_client, api_client):
    user, _ = registered(api_client)

    response = admin_client.post(
        reverse("admin:accounts_user_change", args=[user.pk]),
        {
            "phone_number": "+16502530001", "first_name": "Augusta", "last_name": "King", "email": "",
            "is_active": "on",
            "audit_tokens-TOTAL_FORMS": "0", "audit_tokens-INITIAL_FORMS": "0",
            "audit_tokens-MIN_NUM_FORMS": "0", "audit_tokens-MAX_NUM_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Augusta", "King")


@pytest.mark.parametrize("typed", ["+1 (650) 253-0002", "16502530002", "not a phone"])
def test_the_admin_stores_phone_numbers_as_e164_or_refuses_them(admin_client, typed):
    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "phone_number": typed, "first_name": "Grace", "last_name": "", "email": "", "is_active": "on",
            "audit_tokens-TOTAL_FORMS": "0", "audit_tokens-INITIAL_FORMS": "0",
            "audit_tokens-MIN_NUM_FORMS": "0", "audit_tokens-MAX_NUM_FORMS": "0",
        },
    )

    assert response.status_code in (200, 302)
    # A number stored as typed could never log in: register looks phones up in E.164.
    assert list(User.objects.filter(first_name="Grace").values_list("phone_number", flat=True)) in ([], ["+16502530002"])


def test_the_revoke_action_invalidates_the_users_tokens(admin_client, api_client, validate):
    user, token = registered(api_client)
    assert validate(token).json()["valid"] is True

    response = run_action(admin_client, "revoke_tokens", user)

    assert response.status_code == 200
    assert "Revoked all tokens of 1 user(s)." in response.content.decode()
    user.refresh_from_db()
    assert user.token_version == 1
    assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}


def test_the_revoke_action_lets_the_user_log_in_again(admin_client, api_client, validate):
    user, _ = registered(api_client)
    run_action(admin_client, "revoke_tokens", user)

    _, token = registered(api_client)

    assert validate(token).json()["valid"] is True


def test_the_revoke_action_touches_only_the_selected_users(admin_client, api_client, validate):
    ada, ada_token = registered(api_client)
    grace, grace_token = registered(api_client, phone_number="+16502530002", first_name="Grace")

    run_action(admin_client, "revoke_tokens", ada)

    assert validate(ada_token).json()["valid"] is False
    assert validate(grace_token).json()["valid"] is True


def test_the_revoke_action_works_on_several_users(admin_client, api_client, validate):
    ada, ada_token = registered(api_client)
    grace, grace_token = registered(api_client, phone_number="+16502530002", first_name="Grace")

    response = run_action(admin_client, "revoke_tokens", ada, grace)

    assert "Revoked all tokens of 2 user(s)." in response.content.decode()
    assert [validate(token).json()["valid"] for token in (ada_token, grace_token)] == [False, False]


def test_the_deactivate_action_refuses_the_users_tokens_and_logins(admin_client, api_client, validate):
    user, token = registered(api_client)

    response = run_action(admin_client, "deactivate", user)

    assert response.status_code == 200
    assert "Deactivated 1 user(s)." in response.content.decode()
    assert validate(token).json() == {"valid": False, "user": None, "message": "User account is disabled"}
    login = api_client.post("/api/auth/register", {"phone_number": "+16502530001"})
    assert login.status_code == 403
    assert login.json() == {"detail": "User account is disabled"}

    User.objects.filter(pk=user.pk).update(is_active=True)  # reactivated later: the old token stays dead
    assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}


def test_the_change_page_marks_revoked_tokens_as_no_longer_valid(admin_client, api_client):
    user, _ = registered(api_client)
    page = reverse("admin:accounts_user_change", args=[user.pk])
    before = admin_client.get(page).content.decode()

    run_action(admin_client, "revoke_tokens", user)

    after = admin_client.get(page).content.decode()
    # "still valid" is the page's only boolean shown as an icon
    assert ('alt="True"' in before, 'alt="False"' in before) == (True, False)
    assert ('alt="True"' in after, 'alt="False"' in after) == (False, True)
    assert not AuditToken.objects.get(user=user).is_valid()


def test_tokens_cannot_be_added_or_edited_in_the_admin(admin_client, api_client):
    user, _ = registered(api_client)
    token = AuditToken.objects.get(user=user)

    assert admin_client.get(reverse("admin:accounts_audittoken_add")).status_code == 403
    response = admin_client.post(reverse("admin:accounts_audittoken_change", args=[token.pk]), {"user_agent": "forged"})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.user_agent == ""


def test_the_token_changelist_opens(admin_client, api_client):
    user, _ = registered(api_client)

    response = admin_client.get(reverse("admin:accounts_audittoken_changelist"), {"q": "+16502530001"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
