import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.checks import run_checks
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import views
from accounts.models import AuditToken, RevocationEvent, Session, User
from tests.servers import REPO, gunicorn, production_env

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
    assert "Revoked all tokens of 1 user." in response.content.decode()
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

    assert "Revoked all tokens of 2 users." in response.content.decode()
    assert [validate(token).json()["valid"] for token in (ada_token, grace_token)] == [False, False]


def test_the_deactivate_action_refuses_the_users_tokens_and_logins(admin_client, api_client, validate):
    user, token = registered(api_client)

    response = run_action(admin_client, "deactivate", user)

    assert response.status_code == 200
    assert "Deactivated 1 user." in response.content.decode()
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


# The staff console: users page buttons, form deactivation, phone search, staff management, trail, lockout,
# token list, site-wide labels and error pages.


def change_url(user):
    return reverse("admin:accounts_user_change", args=[user.pk])


def change_form_data(user, **overrides):
    """The user change form as the page posts it (no per-token fields: the token table is read-only)."""
    data = {
        "phone_number": user.phone_number, "first_name": user.first_name, "last_name": user.last_name,
        "email": user.email or "", "is_active": "on" if user.is_active else "",
    }
    data.update(overrides)
    return {name: value for name, value in data.items() if value != ""}


def make_tokens(user, count, *, start=None):
    start = start or timezone.now()
    AuditToken.objects.bulk_create(
        AuditToken(user=user, jti=uuid.uuid4(), token_version=user.token_version, issued_at=start - timedelta(minutes=i),
                   expires_at=start + timedelta(hours=24), ip_address="127.0.0.1", user_agent=f"client/{i}")
        for i in range(count)
    )


def staff_member(*codenames, phone="+16502530077", password="a-strong-pass-123"):
    member = User.objects.create_user(phone, password, first_name="Staff", is_staff=True)
    member.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames))
    return member


def test_a_user_with_1000_tokens_shows_the_newest_20_and_saves(admin_client, api_client):
    user, _ = registered(api_client)
    make_tokens(user, 1000, start=timezone.now() - timedelta(minutes=5))
    newest = AuditToken.objects.filter(user=user).order_by("-issued_at")[:20]

    page = admin_client.get(change_url(user))

    html = page.content.decode()
    assert page.status_code == 200
    assert len(html) < 100_000
    assert all(str(token.jti) in html for token in newest)
    tokens_table = html[html.index('class="issued-tokens"'):]
    assert tokens_table[:tokens_table.index("</table>")].count("<tr><td>") == 20
    assert "The newest 20 of 1001 tokens" in html
    assert f"?user__id__exact={user.pk}" in html
    response = admin_client.post(change_url(user), change_form_data(user, first_name="Augusta"))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.first_name == "Augusta"


def test_the_link_on_the_user_page_lists_all_that_users_tokens(admin_client, api_client):
    user, _ = registered(api_client)
    registered(api_client, phone_number="+16502530002", first_name="Grace")
    make_tokens(user, 30)

    response = admin_client.get(reverse("admin:accounts_audittoken_changelist"), {"user__id__exact": str(user.pk)})

    assert response.status_code == 200
    assert response.context["cl"].queryset.count() == 31
    assert {token.user_id for token in response.context["cl"].queryset} == {user.pk}


def test_unticking_active_on_the_form_revokes_and_ticking_it_again_revives_nothing(admin_client, api_client, validate):
    user, token = registered(api_client)

    response = admin_client.post(change_url(user), change_form_data(user, is_active=""))

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.is_active, user.token_version) == (False, 1)
    assert validate(token).json() == {"valid": False, "user": None, "message": "User account is disabled"}
    assert admin_client.post(change_url(user), change_form_data(user, is_active="on")).status_code == 302
    user.refresh_from_db()
    assert user.is_active is True
    assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}
    messages = list(LogEntry.objects.filter(object_id=str(user.pk)).order_by("action_time").values_list("change_message", flat=True))
    assert "Deactivated (all tokens revoked)" in messages and "Reactivated (earlier tokens stay revoked)" in messages


def test_saving_the_form_keeps_a_revocation_made_while_it_was_open(admin_client, api_client, validate):
    user, token = registered(api_client)
    stale = change_form_data(user, first_name="Augusta")
    user.revoke_tokens()  # a logout while the page was open

    admin_client.post(change_url(user), stale)

    user.refresh_from_db()
    assert (user.first_name, user.token_version) == ("Augusta", 1)
    assert validate(token).json()["valid"] is False


@pytest.mark.parametrize("typed", ["+1 (650) 253-0001", "650-253-0001", "(650) 253-0001", "+1 650 253 0001",
                                   "+16502530001", "16502530001"])
def test_search_by_any_phone_format_finds_exactly_that_user(admin_client, api_client, typed):
    registered(api_client, first_name="Ada")
    registered(api_client, phone_number="+12536500001", first_name="Decoy")  # the same digits, rearranged
    registered(api_client, phone_number="+16502530011", first_name="Near")

    response = admin_client.get(reverse(CHANGELIST), {"q": typed})

    assert [user.phone_number for user in response.context["cl"].result_list] == ["+16502530001"]


def test_search_still_matches_names_emails_and_part_of_a_number(admin_client, api_client):
    registered(api_client, first_name="Ada", last_name="Lovelace", email="ada@example.com")
    registered(api_client, phone_number="+16502530002", first_name="Grace", last_name="Hopper")

    def found(query):
        return sorted(u.phone_number for u in admin_client.get(reverse(CHANGELIST), {"q": query}).context["cl"].result_list)

    assert found("Ada Lovelace") == ["+16502530001"]
    assert found("ada@example.com") == ["+16502530001"]
    assert found("253000") == ["+16502530001", "+16502530002", "+16502530009"]  # and the admin


def test_the_admin_reads_national_numbers_in_the_configured_region(admin_client, api_client, settings):
    registered(api_client, phone_number="+442079460958", first_name="Ada")
    settings.ADMIN_PHONE_REGION = "GB"

    response = admin_client.get(reverse(CHANGELIST), {"q": "020 7946 0958"})

    assert [user.phone_number for user in response.context["cl"].result_list] == ["+442079460958"]


def test_the_token_list_is_searched_by_any_phone_format(admin_client, api_client):
    registered(api_client)
    registered(api_client, phone_number="+12536500001", first_name="Decoy")

    response = admin_client.get(reverse("admin:accounts_audittoken_changelist"), {"q": "(650) 253-0001"})

    assert [token.user.phone_number for token in response.context["cl"].result_list] == ["+16502530001"]


@pytest.mark.parametrize("typed", ["+1 (650) 253-0009", "650 253 0009", "+16502530009"])
def test_the_admin_login_takes_a_phone_number_in_any_format(client, db, typed):
    User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")

    response = client.post(reverse("admin:login"), {"username": typed, "password": "a-strong-pass-123",
                                                    "next": reverse(CHANGELIST)})

    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST)


def test_the_admin_login_speaks_of_a_phone_number(client, db):
    page = client.get(reverse("admin:login")).content.decode()
    wrong = client.post(reverse("admin:login"), {"username": "+16502530009", "password": "wrong"}).content.decode()

    assert '<label for="id_username" class="required">Phone number:</label>' in page
    assert "Please enter the phone number and password of a staff account." in wrong
    assert "case-sensitive" not in wrong


def test_a_staff_user_added_with_a_password_can_log_in(admin_client, client):
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "phone_number": "+1 (650) 253-0044", "first_name": "Grace", "usable_password": "true",
        "password1": "correct-horse-battery-1", "password2": "correct-horse-battery-1",
    })

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    staff = User.objects.get(phone_number="+16502530044")
    assert staff.check_password("correct-horse-battery-1")
    staff.is_staff = True
    staff.save()
    login = client.post(reverse("admin:login"), {"username": "650-253-0044", "password": "correct-horse-battery-1"})
    assert login.status_code == 302


def test_a_phone_user_can_be_added_without_a_password(admin_client):
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "phone_number": "+16502530045", "first_name": "Grace", "usable_password": "false"})

    assert response.status_code == 302
    assert User.objects.get(phone_number="+16502530045").has_usable_password() is False


def test_the_add_form_refuses_mismatched_passwords(admin_client):
    response = admin_client.post(reverse("admin:accounts_user_add"), {
        "phone_number": "+16502530046", "first_name": "Grace", "usable_password": "true",
        "password1": "correct-horse-battery-1", "password2": "correct-horse-battery-2"})

    assert response.status_code == 200
    assert "password2" in response.context["adminform"].form.errors
    assert not User.objects.filter(phone_number="+16502530046").exists()


def test_the_password_can_be_set_from_the_user_page(admin_client):
    staff = staff_member()
    page = admin_client.get(change_url(staff)).content.decode()
    password_url = reverse("admin:auth_user_password_change", args=[staff.pk])

    assert 'href="../password/"' in page or password_url in page
    response = admin_client.post(password_url, {"usable_password": "true", "password1": "another-strong-pass-9",
                                                "password2": "another-strong-pass-9"})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.check_password("another-strong-pass-9")


def test_the_user_form_grants_groups_and_permissions(admin_client):
    staff = staff_member()
    view = Permission.objects.get(codename="view_user")

    page = admin_client.get(change_url(staff))
    assert {"groups", "user_permissions"} <= set(page.context["adminform"].form.fields)
    response = admin_client.post(change_url(staff), change_form_data(staff, is_staff="on", user_permissions=[view.pk]))

    assert response.status_code == 302
    assert User.objects.get(pk=staff.pk).has_perm("accounts.view_user")


def test_a_view_and_revoke_staff_member_sees_users_and_revokes_but_cannot_edit_or_deactivate(client, api_client, validate):
    user, token = registered(api_client)
    client.force_login(staff_member("view_user", "revoke_user_tokens"))

    changelist = client.get(reverse(CHANGELIST))
    page = client.get(change_url(user)).content.decode()

    assert changelist.status_code == 200
    assert set(changelist.context["action_form"].fields["action"].choices[1:]) == {("revoke_tokens", "Revoke all tokens")}
    assert reverse("admin:accounts_user_revoke", args=[user.pk]) in page
    assert reverse("admin:accounts_user_deactivate", args=[user.pk]) not in page
    assert 'name="first_name"' not in page  # read-only
    assert client.post(reverse("admin:accounts_user_deactivate", args=[user.pk])).status_code == 403
    assert client.post(change_url(user), change_form_data(user, first_name="X", is_active="")).status_code == 403
    assert run_action(client, "deactivate", user).status_code == 200
    user.refresh_from_db()
    assert (user.is_active, user.first_name) == (True, "Ada")
    assert validate(token).json()["valid"] is True

    response = client.post(reverse("admin:accounts_user_revoke", args=[user.pk]), follow=True)

    assert response.status_code == 200
    assert "Revoked all tokens of 1 user." in response.content.decode()
    assert validate(token).json()["valid"] is False


def test_without_the_revoke_permission_there_is_no_revoke_and_a_post_is_refused(client, api_client, validate):
    user, token = registered(api_client)
    client.force_login(staff_member("view_user"))

    page = client.get(change_url(user)).content.decode()
    changelist = client.get(reverse(CHANGELIST))

    assert reverse("admin:accounts_user_revoke", args=[user.pk]) not in page
    assert "action_form" not in changelist.context or not changelist.context["action_form"]
    assert client.get(reverse("admin:accounts_user_revoke", args=[user.pk])).status_code == 403
    assert client.post(reverse("admin:accounts_user_revoke", args=[user.pk])).status_code == 403
    run_action(client, "revoke_tokens", user)
    assert validate(token).json()["valid"] is True


def test_a_staff_member_without_permissions_sees_nothing(client, db):
    client.force_login(staff_member())

    assert client.get(reverse(CHANGELIST)).status_code == 403


@pytest.mark.parametrize("operation", ["revoke", "deactivate"])
def test_a_button_asks_for_confirmation_before_acting(admin_client, api_client, validate, operation):
    user, token = registered(api_client)
    url = reverse(f"admin:accounts_user_{operation}", args=[user.pk])

    page = admin_client.get(change_url(user)).content.decode()
    confirm = admin_client.get(url)

    assert url in page
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "+16502530001" in html and 'name="csrfmiddlewaretoken"' in html and 'method="post"' in html
    assert validate(token).json()["valid"] is True  # nothing happened yet
    done = admin_client.post(url, follow=True)
    assert done.redirect_chain[-1][0] == change_url(user)
    assert validate(token).json()["valid"] is False


def test_the_buttons_refuse_a_post_without_the_csrf_token(api_client, db):
    user, _ = registered(api_client)
    admin = User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)

    refused = strict.post(reverse("admin:accounts_user_revoke", args=[user.pk]))
    assert refused.status_code == 403
    assert "This form has expired" in refused.content.decode()  # a page for people, not Django's stock one
    user.refresh_from_db()
    assert user.token_version == 0


def test_reactivate_button_lets_the_user_log_in_without_reviving_old_tokens(admin_client, api_client, validate):
    user, token = registered(api_client)
    admin_client.post(reverse("admin:accounts_user_deactivate", args=[user.pk]))

    page = admin_client.get(change_url(user)).content.decode()
    response = admin_client.post(reverse("admin:accounts_user_reactivate", args=[user.pk]), follow=True)

    assert reverse("admin:accounts_user_reactivate", args=[user.pk]) in page
    assert reverse("admin:accounts_user_deactivate", args=[user.pk]) not in page
    assert "Reactivated 1 user." in response.content.decode()
    assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}
    assert api_client.post("/api/auth/register", {"phone_number": "+16502530001"}).status_code == 200


def test_the_reactivate_action_says_how_many_users(admin_client, api_client):
    ada, _ = registered(api_client)
    grace, _ = registered(api_client, phone_number="+16502530002", first_name="Grace")
    run_action(admin_client, "deactivate", ada, grace)

    response = run_action(admin_client, "reactivate", ada, grace)

    assert "Reactivated 2 users." in response.content.decode()
    assert User.objects.filter(is_active=True).count() == 3


@pytest.mark.parametrize(("operation", "message", "event"), [
    ("revoke", "Revoked all tokens", "admin_revoked"),
    ("deactivate", "Deactivated (all tokens revoked)", "admin_deactivated"),
    ("reactivate", "Reactivated (earlier tokens stay revoked)", "admin_reactivated"),
])
def test_each_operation_leaves_a_history_entry_and_an_auth_event_naming_the_admin(admin_client, api_client, caplog,
                                                                                  operation, message, event):
    user, _ = registered(api_client)
    admin = User.objects.get(phone_number="+16502530009")

    with caplog.at_level("INFO", logger="kriya.auth"):
        admin_client.post(reverse(f"admin:accounts_user_{operation}", args=[user.pk]))

    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert (entry.user_id, entry.change_message, entry.is_change()) == (admin.pk, message, True)
    history = admin_client.get(reverse("admin:accounts_user_history", args=[user.pk])).content.decode()
    assert message in history
    events = [json.loads(record.getMessage()) for record in caplog.records if record.name == "kriya.auth"]
    [logged] = [e for e in events if e["event"] == event]
    assert (logged["user_id"], logged["admin_id"], logged["admin_phone"]) == (str(user.pk), str(admin.pk), "+1650***0009")


def test_list_actions_leave_one_history_entry_per_user(admin_client, api_client):
    ada, _ = registered(api_client)
    grace, _ = registered(api_client, phone_number="+16502530002", first_name="Grace")

    run_action(admin_client, "revoke_tokens", ada, grace)

    assert sorted(LogEntry.objects.values_list("object_id", flat=True)) == sorted([str(ada.pk), str(grace.pk)])


def test_audit_tokens_cannot_be_deleted_from_the_admin(admin_client, api_client):
    user, _ = registered(api_client)
    token = AuditToken.objects.get(user=user)

    changelist = admin_client.get(reverse("admin:accounts_audittoken_changelist"))
    response = admin_client.post(reverse("admin:accounts_audittoken_delete", args=[token.pk]), {"post": "yes"})
    bulk = admin_client.post(reverse("admin:accounts_audittoken_changelist"),
                             {"action": "delete_selected", "_selected_action": [token.pk], "post": "yes"})

    assert not changelist.context.get("action_form")
    assert response.status_code == 403
    assert bulk.status_code in (200, 302)
    assert AuditToken.objects.filter(pk=token.pk).exists()


def test_a_user_with_token_records_cannot_be_deleted_from_the_admin(admin_client, api_client):
    user, _ = registered(api_client)
    tokenless = User.objects.create_user("+16502530055", first_name="Nobody")

    refused = admin_client.post(reverse("admin:accounts_user_delete", args=[user.pk]), {"post": "yes"})
    deleted = admin_client.post(reverse("admin:accounts_user_delete", args=[tokenless.pk]), {"post": "yes"})

    assert refused.status_code == 403  # deleting the user would delete its audit records
    assert User.objects.filter(pk=user.pk).exists() and AuditToken.objects.filter(user=user).exists()
    assert deleted.status_code == 302
    assert not User.objects.filter(pk=tokenless.pk).exists()


@pytest.mark.parametrize(("name", "value", "check_id", "message"), [
    ("ADMIN_PHONE_REGION", "USA", "kriya.E040", "ADMIN_PHONE_REGION: unknown region code 'USA' (e.g. US, IN)."),
    ("AXES_FAILURE_LIMIT", 0, "kriya.E041", "ADMIN_LOGIN_FAILURE_LIMIT must be at least 1."),
])
def test_admin_settings_that_cannot_work_fail_the_checks(settings, name, value, check_id, message):
    setattr(settings, name, value)

    found = {m.id: m.msg for m in run_checks() if m.id and m.id.startswith("kriya.")}

    assert found == {check_id: message}


# Login protection (django-axes): attempts are counted in the database per normalized phone and IP.

def test_the_admin_login_locks_after_the_failure_limit_even_for_the_right_password(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")
    formats = ["+16502530009", "+1 (650) 253-0009", "650-253-0009"]  # one number, however it is typed

    answers = [client.post(reverse("admin:login"), {"username": typed, "password": "wrong"}).status_code for typed in formats]
    locked = client.post(reverse("admin:login"), {"username": "+16502530009", "password": "a-strong-pass-123"})

    assert answers == [200, 200, 429]
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_is_per_phone_and_ip_and_leaves_the_api_alone(client, api_client, db, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")
    User.objects.create_superuser("+16502530008", "another-strong-pass-1", first_name="Other")
    for _ in range(2):
        client.post(reverse("admin:login"), {"username": "+16502530009", "password": "wrong"})

    other = client.post(reverse("admin:login"), {"username": "+16502530008", "password": "another-strong-pass-1"})
    elsewhere = client.post(reverse("admin:login"), {"username": "+16502530009", "password": "a-strong-pass-123"},
                            REMOTE_ADDR="127.0.0.2")

    assert other.status_code == 302
    assert elsewhere.status_code == 302
    assert api_client.post("/api/auth/register", {"phone_number": "+16502530009"}).status_code == 200


def test_a_successful_login_resets_the_count(client, db, settings):
    settings.AXES_FAILURE_LIMIT = 2
    User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin")

    client.post(reverse("admin:login"), {"username": "+16502530009", "password": "wrong"})
    client.post(reverse("admin:login"), {"username": "+16502530009", "password": "a-strong-pass-123"})
    client.logout()
    again = client.post(reverse("admin:login"), {"username": "+16502530009", "password": "wrong"})

    assert again.status_code == 200


# The token list and the users list.

def test_the_token_list_links_the_user_shows_the_user_agent_and_fixed_labels(admin_client, api_client):
    user, _ = registered(api_client)
    AuditToken.objects.filter(user=user).update(user_agent="KriyaTest/1.0 (iPhone)")
    token = AuditToken.objects.get(user=user)

    html = admin_client.get(reverse("admin:accounts_audittoken_changelist")).content.decode()

    assert f'<a href="{change_url(user)}">+16502530001</a>' in html
    assert "KriyaTest/1.0 (iPhone)" in html
    assert ">JTI<" in html and ">IP address<" in html and "Jti" not in html and "Ip address" not in html
    assert html.count(str(token.jti)) == 1


def test_the_token_list_filters_valid_expired_and_revoked(admin_client, api_client):
    valid_user, _ = registered(api_client)
    revoked_user, _ = registered(api_client, phone_number="+16502530002", first_name="Grace")
    inactive_user, _ = registered(api_client, phone_number="+16502530003", first_name="Ida")
    expired_user, _ = registered(api_client, phone_number="+16502530004", first_name="Joan")
    revoked_user.revoke_tokens()
    User.objects.filter(pk=inactive_user.pk).update(is_active=False)
    AuditToken.objects.filter(user=expired_user).update(expires_at=timezone.now() - timedelta(seconds=1))

    def listed(state):
        response = admin_client.get(reverse("admin:accounts_audittoken_changelist"), {"state": state})
        return sorted(token.user.phone_number for token in response.context["cl"].result_list)

    assert listed("valid") == ["+16502530001"]
    assert listed("expired") == ["+16502530004"]
    assert listed("revoked") == ["+16502530002", "+16502530003"]


def test_the_token_list_has_a_date_hierarchy_on_issued_at(admin_client, api_client):
    registered(api_client)
    year = timezone.now().year

    response = admin_client.get(reverse("admin:accounts_audittoken_changelist"), {"issued_at__year": str(year)})

    assert response.status_code == 200
    assert response.context["cl"].date_hierarchy == "issued_at"
    assert response.context["cl"].result_count == 1


def test_the_users_list_shows_token_counts_without_a_query_per_user(admin_client, api_client, django_assert_max_num_queries):
    for number in range(30):
        user, _ = registered(api_client, phone_number=f"+165025301{number:02d}")
        make_tokens(user, 3)

    with django_assert_max_num_queries(6):  # the same 6 for 1 user or 30: no query per row
        response = admin_client.get(reverse(CHANGELIST))

    rows = {user.phone_number: user for user in response.context["cl"].result_list}
    assert rows["+16502530100"].token_count == 4
    assert rows["+16502530100"].last_token_issued is not None
    html = response.content.decode()
    assert ">Tokens<" in html and ">Last token issued<" in html and ">Token version<" in html


def test_the_users_list_sorts_by_token_count(admin_client, api_client):
    ada, _ = registered(api_client)
    grace, _ = registered(api_client, phone_number="+16502530002", first_name="Grace")
    make_tokens(grace, 5)
    column = admin_client.get(reverse(CHANGELIST)).context["cl"].list_display.index("token_count")

    response_column = admin_client.get(reverse(CHANGELIST), {"o": f"-{column}"})

    assert [user.phone_number for user in response_column.context["cl"].result_list][0] == "+16502530002"


# Site-wide: header, "View site", labels, error pages for people.

def test_the_admin_says_kriya_and_view_site_leads_to_the_docs(admin_client, client):
    html = admin_client.get(reverse("admin:index")).content.decode()

    assert ">Kriya administration<" in html
    assert "<title>Staff console | Kriya</title>" in html
    assert 'href="/docs"' in html
    assert "Django" not in html
    assert client.get("/docs").status_code == 200


def test_the_active_filter_is_labelled_active(admin_client):
    html = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert re.search(r"<summary>\s*Active\s*</summary>", html)
    assert "By is active" not in html and "By active" not in html


@pytest.mark.parametrize(("path", "status"), [("/no-such-page", 404)])
def test_pages_for_people_are_small_styled_pages(client, db, path, status):
    response = client.get(path)

    assert response.status_code == status
    html = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "<style>" in html and "Page not found" in html and 'href="/docs"' in html


def test_a_staff_member_refused_a_page_gets_the_403_page(client, db):
    client.force_login(staff_member())

    response = client.get(reverse(CHANGELIST))

    assert response.status_code == 403
    assert "You do not have permission to see this page." in response.content.decode()


def test_api_paths_keep_json_errors(api_client, db):
    response = api_client.get("/api/auth/no-such-endpoint")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_error_handlers_answer_pages_for_people_and_json_for_the_api(rf, db):
    for handler, exception, status, text in ((views.bad_request, SuspiciousOperation(), 400, "Bad request"),
                                             (views.permission_denied, PermissionDenied(), 403, "Forbidden"),
                                             (views.not_found, None, 404, "Page not found")):
        page = handler(rf.get("/somewhere"), exception)
        api = handler(rf.get("/api/auth/user"), exception)
        assert (page.status_code, api.status_code) == (status, status)
        assert text in page.content.decode() and "<style>" in page.content.decode()
        assert api["Content-Type"] == "application/json" and "detail" in json.loads(api.content)
    page = views.server_error(rf.get("/somewhere"))
    assert page.status_code == 500 and "Something went wrong" in page.content.decode()


def test_the_lockout_count_is_shared_by_separate_gunicorn_servers(tmp_path):
    """Two servers on one database: failures on either count towards the same lockout."""
    env = production_env(DATABASE_URL=f"sqlite:///{tmp_path / 'kriya.sqlite3'}", ADMIN_LOGIN_FAILURE_LIMIT="3")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env, check=True)
    staff = dict(env, DJANGO_SUPERUSER_PHONE_NUMBER="+16502530009", DJANGO_SUPERUSER_FIRST_NAME="Admin",
                 DJANGO_SUPERUSER_PASSWORD="a-strong-pass-123")
    subprocess.run([sys.executable, "manage.py", "createsuperuser", "--noinput"], cwd=REPO, env=staff, check=True,
                   stdout=subprocess.DEVNULL)

    def log_in(base, password):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        page = opener.open(f"{base}/admin/login/", timeout=15).read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "username": "+1 (650) 253-0009",
                                       "password": password, "next": "/admin/"}).encode()
        try:
            with opener.open(f"{base}/admin/login/", form, timeout=15) as response:
                return response.status, response.url.endswith("/admin/login/")
        except urllib.error.HTTPError as error:
            return error.code, True

    with gunicorn(env, tmp_path / "a.log") as first, gunicorn(env, tmp_path / "b.log") as second:
        assert log_in(second, "a-strong-pass-123") == (200, False)  # in, on the admin's index
        assert log_in(first, "wrong") == (200, True)
        assert log_in(second, "wrong") == (200, True)
        assert log_in(first, "wrong") == (429, True)
        assert log_in(second, "a-strong-pass-123") == (429, True)



@pytest.mark.parametrize("action, event", [("deactivate", "user_deactivated"), ("revoke_tokens", "admin_revoked")])
def test_staff_revocations_end_the_users_sessions_and_tell_the_revocation_feed(admin_client, api_client, action, event):
    user, _ = registered(api_client)
    refresh_token = api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()["refresh_token"]

    run_action(admin_client, action, user)

    assert not Session.objects.live().filter(user=user).exists()
    assert api_client.post("/api/auth/token/refresh", {"refresh_token": refresh_token}).status_code == 401
    assert list(RevocationEvent.objects.filter(user_id=user.pk).values_list("type", "session_id")) == [(event, None)]


# Sessions

def signed_in_devices(api_client, user, *names):
    return [api_client.post("/api/auth/register", {"phone_number": user.phone_number, "device_name": name}).json()
            for name in names]


def test_the_users_page_lists_their_sessions_newest_first_with_a_link_to_all(admin_client, api_client, time_machine):
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    user, _ = registered(api_client)
    for n in range(22):
        time_machine.shift(60)
        signed_in_devices(api_client, user, f"Device {n}")

    page = admin_client.get(change_url(user)).content.decode()

    table = page[page.index('class="device-sessions"'):]
    assert table.index("Device 21") < table.index("Device 20")
    assert "Device 1<" not in table  # 23 sessions: only the newest 20 are on the page
    assert "The newest 20." in page
    assert reverse("admin:accounts_session_changelist") + f"?user__id__exact={user.pk}" in page


def test_staff_revoke_one_session_from_the_users_page_and_the_others_go_on(admin_client, api_client, validate, caplog):
    user, _ = registered(api_client)
    lost, laptop = signed_in_devices(api_client, user, "Lost phone", "Laptop")
    url = reverse("admin:accounts_session_revoke", args=[lost["session_id"]])
    assert url in admin_client.get(change_url(user)).content.decode()

    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and "Lost phone" in confirm.content.decode()
    assert validate(lost["token"]).json()["valid"] is True  # nothing happens before the confirmation

    response = admin_client.post(url)

    assert response.status_code == 302 and response["Location"] == change_url(user)
    assert validate(lost["token"]).json() == {"valid": False, "user": None, "message": "Session has been revoked"}
    assert validate(laptop["token"]).json()["valid"] is True
    assert Session.objects.get(pk=lost["session_id"]).revoked_reason == "admin_revoked"
    entry = LogEntry.objects.get(object_id=str(user.pk))
    assert entry.get_change_message() == f"Revoked session {lost['session_id']} (Lost phone)"
    assert list(RevocationEvent.objects.values_list("type", "session_id")) == [("session_revoked", uuid.UUID(lost["session_id"]))]


def test_the_session_list_filters_live_revoked_and_expired_and_links_to_the_user(admin_client, api_client, time_machine):
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    user, _ = registered(api_client)
    expired, revoked, live = signed_in_devices(api_client, user, "Old tablet", "Lost phone", "Laptop")
    Session.objects.filter(pk=expired["session_id"]).update(idle_expires_at=timezone.now())
    Session.objects.filter(pk=revoked["session_id"]).revoke(reason="user_revoked")
    changelist = reverse("admin:accounts_session_changelist")

    for state, device in (("live", "Laptop"), ("revoked", "Lost phone"), ("expired", "Old tablet")):
        page = admin_client.get(f"{changelist}?state={state}").content.decode()
        shown = {name for name in ("Old tablet", "Lost phone", "Laptop") if f">{name}<" in page}
        assert shown == {device}, (state, shown)
    assert change_url(user) in admin_client.get(changelist).content.decode()


def test_without_the_revoke_permission_a_session_cannot_be_revoked(client, api_client):
    user, _ = registered(api_client)
    [session] = signed_in_devices(api_client, user, "Phone")
    client.force_login(staff_member("view_user", "view_session"))

    assert client.post(reverse("admin:accounts_session_revoke", args=[session["session_id"]])).status_code == 403
    assert Session.objects.get(pk=session["session_id"]).revoked_at is None
