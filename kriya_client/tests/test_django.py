"""The Django/DRF glue on a Plane-shaped relying party: the authentication class, the resolver, sign-in, the hook."""

import pytest
from conftest import wait_for
from django.contrib.sessions.models import Session
from django.test import Client
from planelike.models import User

from kriya_client import django as kriya_django
from kriya_client.adapter import KriyaAdapter, synthetic_email
from kriya_client.models import KriyaIdentity, SignedInSession

pytestmark = pytest.mark.django_db(transaction=True)  # the follower's thread writes through its own connection


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def follower_running():
    client = kriya_django.get_client()
    wait_for(lambda: client.follower.polled_at is not None)
    return client


def test_a_valid_token_reaches_the_endpoint_as_a_local_user_made_on_first_use(kriya, rp):
    ada = kriya.add_user()
    response = Client().get("/api/me", **bearer(kriya.issue(ada)))

    assert response.status_code == 200
    user = User.objects.get()
    assert response.json() == {"id": user.pk, "email": synthetic_email("+16502530001")}
    assert (user.first_name, user.last_name, user.mobile_number) == ("Ada", "Lovelace", "+16502530001")
    assert not user.has_usable_password()


def test_the_same_phone_is_the_same_local_user(kriya, rp):
    ada = kriya.add_user()
    for _ in range(2):
        assert Client().get("/api/me", **bearer(kriya.issue(ada))).status_code == 200
    assert User.objects.count() == 1


def test_kriyas_email_never_picks_an_existing_account(kriya, rp):
    victim = User.objects.create_user("ada@example.com")  # Kriya's user claims this email, unverified
    response = Client().get("/api/me", **bearer(kriya.issue(kriya.add_user())))

    assert response.json()["id"] != victim.pk


def test_a_cached_token_costs_no_query_and_no_call_to_kriya(kriya, rp, django_assert_num_queries):
    token = kriya.issue(kriya.add_user())
    follower_running()
    assert Client().get("/api/me", **bearer(token)).status_code == 200

    with django_assert_num_queries(0):
        assert Client().get("/api/me", **bearer(token)).status_code == 200
    assert kriya.validate_calls == 1


def test_without_the_local_user_cache_each_request_resolves_it_again(kriya, rp, django_assert_num_queries):
    rp.KRIYA_CACHE_LOCAL_USER = False
    token = kriya.issue(kriya.add_user())
    follower_running()
    assert Client().get("/api/me", **bearer(token)).status_code == 200

    with django_assert_num_queries(1):  # the identity link, joined with its user
        response = Client().get("/api/me", **bearer(token))
    assert response.status_code == 200
    assert kriya.validate_calls == 1


def test_an_invalid_token_is_401_with_a_bearer_challenge(kriya, rp):
    response = Client().get("/api/me", **bearer("not.a.token"))

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or expired token"}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_no_credentials_is_401(kriya, rp):
    assert Client().get("/api/me").status_code == 401


def test_kriya_down_with_an_untrusted_cache_is_503_never_a_pass(kriya, rp):
    token = kriya.issue(kriya.add_user())
    kriya.down = True
    response = Client().get("/api/me", **bearer(token))

    assert response.status_code == 503
    assert response.json() == {"detail": "Authentication service unavailable"}


def test_a_deactivated_local_user_is_refused(kriya, rp):
    token = kriya.issue(kriya.add_user())
    Client().get("/api/me", **bearer(token))
    User.objects.update(is_active=False)
    kriya_django.get_client().cache.clear()

    assert Client().get("/api/me", **bearer(token)).status_code == 401


def test_sign_in_exchanges_a_token_for_a_session_that_a_logout_at_kriya_ends(kriya, rp):
    ada = kriya.add_user()
    follower_running()
    browser = Client()

    response = browser.post("/auth/kriya", **bearer(kriya.issue(ada)))
    assert response.status_code == 200
    assert response.json() == {"id": str(User.objects.get().pk), "email": synthetic_email("+16502530001")}
    assert browser.get("/api/session-me").status_code == 200
    assert SignedInSession.objects.get().kriya_user_id == ada["id"]

    kriya.logout(ada)
    # The hook ends the session, then drops its record: wait for both (the record a moment after the session).
    wait_for(lambda: not Session.objects.exists() and not SignedInSession.objects.exists(), timeout=2)
    assert browser.get("/api/session-me").status_code == 403  # anonymous again


def test_a_session_revocation_ends_only_the_django_session_signed_in_with_it(kriya, rp):
    ada = kriya.add_user()
    follower_running()
    phone, laptop = Client(), Client()
    phone.post("/auth/kriya", **bearer(kriya.issue(ada, sid="33333333-3333-3333-3333-333333333333")))
    laptop.post("/auth/kriya", **bearer(kriya.issue(ada)))

    kriya.revoke_session(ada, "33333333-3333-3333-3333-333333333333")
    wait_for(lambda: Session.objects.count() == 1, timeout=2)
    assert phone.get("/api/session-me").status_code == 403
    assert laptop.get("/api/session-me").status_code == 200


def test_sign_in_refuses_an_invalid_token_or_a_missing_header(kriya, rp):
    assert Client().post("/auth/kriya", **bearer("nope")).status_code == 401
    assert Client().post("/auth/kriya", {"token": "x"}).status_code == 401
    assert not Session.objects.exists()


def test_sign_in_while_kriya_is_down_is_503(kriya, rp):
    token = kriya.issue(kriya.add_user())
    kriya.down = True
    assert Client().post("/auth/kriya", **bearer(token)).status_code == 503


def test_a_local_logout_forgets_the_mapping(kriya, rp):
    browser = Client()
    browser.post("/auth/kriya", **bearer(kriya.issue(kriya.add_user())))
    browser.logout()
    assert not SignedInSession.objects.exists()


def test_the_resolver_is_pluggable(kriya, rp):
    rp.KRIYA_USER_RESOLVER = "test_django.resolve_to_the_first_user"
    first = User.objects.create_user("first@example.com")
    response = Client().get("/api/me", **bearer(kriya.issue(kriya.add_user())))

    assert response.json()["id"] == first.pk


def resolve_to_the_first_user(kriya_user):
    return User.objects.order_by("pk").first()


def test_the_command_follows_the_feed_into_a_shared_cache(kriya, rp, settings):
    from django.core.management import call_command

    settings.KRIYA_CACHE = "default"
    settings.KRIYA_FOLLOWER = "command"
    ada = kriya.add_user()
    browser = Client()
    call_command("kriya_follow_revocations", max_polls=1)  # the heartbeat: the shared cache is trusted
    browser.post("/auth/kriya", **bearer(kriya.issue(ada)))
    assert kriya_django.get_client().follower._thread is None  # no thread in the web process

    kriya.logout(ada)
    call_command("kriya_follow_revocations", max_polls=2)
    assert not Session.objects.exists()


def test_a_logout_while_the_relying_party_was_down_ends_the_session_when_it_is_back(kriya, rp):
    ada = kriya.add_user()
    follower_running()
    browser = Client()
    browser.post("/auth/kriya", **bearer(kriya.issue(ada)))
    for client in kriya_django._clients.values():  # the relying party stops
        client.close()
    kriya_django._clients.clear()

    kriya.logout(ada)
    follower_running()  # ... and starts again: its follower resumes at the saved cursor
    wait_for(lambda: not Session.objects.exists(), timeout=2)
    assert browser.get("/api/session-me").status_code == 403


def test_a_session_signed_in_after_a_logout_survives_that_logouts_replay(kriya, rp):
    ada = kriya.add_user()
    logout = kriya.logout(ada)
    browser = Client()
    browser.post("/auth/kriya", **bearer(kriya.issue(ada)))  # a token of the new version

    kriya_django.delete_revoked_sessions(logout)
    assert browser.get("/api/session-me").status_code == 200
    kriya_django.delete_revoked_sessions(kriya.logout(ada))
    assert browser.get("/api/session-me").status_code == 403


def test_a_number_changed_at_kriya_keeps_its_local_account(kriya, rp):
    ada = kriya.add_user()
    first = Client().get("/api/me", **bearer(kriya.issue(ada))).json()
    ada["phone_number"] = "+16502530009"  # Ada moved to a new number at Kriya

    assert Client().get("/api/me", **bearer(kriya.issue(ada))).json() == first
    assert User.objects.get().mobile_number == "+16502530009"


def test_a_number_given_to_someone_else_never_opens_its_previous_owners_account(kriya, rp):
    ada = kriya.add_user()
    adas = Client().get("/api/me", **bearer(kriya.issue(ada))).json()
    ada["phone_number"] = "+16502530009"
    bob = kriya.add_user(phone="+16502530001", first_name="Bob")  # Ada's old number, now Bob's

    bobs = Client().get("/api/me", **bearer(kriya.issue(bob))).json()
    assert bobs["id"] != adas["id"]
    assert bobs["email"] == synthetic_email("+16502530001").replace("@", f".{bob['id'][:8]}@")
    assert Client().get("/api/me", **bearer(kriya.issue(ada))).json() == adas


def test_the_synthetic_email_shows_no_digit_of_the_number_and_is_the_same_for_the_same_number(kriya, rp):
    email = Client().get("/api/me", **bearer(kriya.issue(kriya.add_user()))).json()["email"]

    local, domain = email.split("@")
    assert domain == "phone.kriya.invalid"
    assert "16502530001" not in email and "2530001" not in email
    assert email == synthetic_email("+16502530001") != synthetic_email("+16502530002")


def test_the_command_prints_the_address_a_number_signs_in_as_so_it_can_be_invited(kriya, rp, capsys):
    from django.core.management import call_command

    call_command("kriya_synthetic_email", "+16502530001")
    invited = capsys.readouterr().out.strip()
    assert Client().get("/api/me", **bearer(kriya.issue(kriya.add_user()))).json()["email"] == invited


def test_an_account_whose_email_showed_the_number_keeps_its_id_and_loses_the_digits(kriya, rp):
    ada = kriya.add_user()
    legacy = User.objects.create_user("16502530001@phone.kriya.invalid")  # made by the kit before 0.2
    KriyaIdentity.objects.create(kriya_user_id=ada["id"], user=legacy)

    response = Client().get("/api/me", **bearer(kriya.issue(ada)))
    assert response.json() == {"id": legacy.pk, "email": synthetic_email("+16502530001")}


class ClosedAdapter(KriyaAdapter):
    def is_open_for_signup(self, kriya_user, identity):
        return identity == synthetic_email("+16502530002")  # only this number was invited


def test_closed_sign_up_refuses_an_unknown_number_with_403_and_creates_nothing(kriya, rp):
    rp.KRIYA_ADAPTER = "test_django.ClosedAdapter"
    token = kriya.issue(kriya.add_user())
    detail = ("Sign-up is closed here and this phone number has no account: ask an administrator for an "
              "invitation")

    response = Client().post("/auth/kriya", **bearer(token))
    assert (response.status_code, response.json()) == (403, {"detail": detail})
    response = Client().get("/api/me", **bearer(token))
    assert (response.status_code, response.json()) == (403, {"detail": detail})
    assert not User.objects.exists() and not Session.objects.exists()

    invited = kriya.add_user(phone="+16502530002")
    assert Client().post("/auth/kriya", **bearer(kriya.issue(invited))).status_code == 200


def test_closed_sign_up_still_lets_a_known_user_in(kriya, rp):
    ada = kriya.add_user()
    assert Client().post("/auth/kriya", **bearer(kriya.issue(ada))).status_code == 200
    rp.KRIYA_ADAPTER = "test_django.ClosedAdapter"
    assert Client().post("/auth/kriya", **bearer(kriya.issue(ada))).status_code == 200


def test_sign_in_keeps_a_session_engines_long_keys(kriya, rp):
    rp.SESSION_ENGINE = "planelike.sessions"  # 128-character keys, as Plane's
    browser = Client()
    assert browser.post("/auth/kriya", **bearer(kriya.issue(kriya.add_user()))).status_code == 200

    assert len(SignedInSession.objects.get().session_key) == 128
    assert browser.get("/api/session-me").status_code == 200


@pytest.mark.filterwarnings("ignore::django.core.cache.CacheKeyWarning")  # the 300-character keys, on purpose
def test_a_session_the_kit_could_not_record_is_ended_not_left_beyond_revocation(kriya, rp):
    from django.db import DatabaseError, connection
    from planelike import sessions
    from planelike.sessions_too_long import SessionStore

    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce a column's length (KIT_DATABASE_URL=postgres://…)")
    rp.SESSION_ENGINE = "planelike.sessions_too_long"
    sessions.made.clear()
    with pytest.raises(DatabaseError):
        Client().post("/auth/kriya", **bearer(kriya.issue(kriya.add_user())))

    assert len(sessions.made) >= 1 and not any(SessionStore().exists(key) for key in sessions.made)
    assert not SignedInSession.objects.exists()


def test_a_logging_setup_that_would_silence_the_kit_is_a_warning(settings):
    from kriya_client.plane.checks import check_logging

    settings.LOGGING = {"version": 1, "disable_existing_loggers": True, "loggers": {"plane": {}}}
    assert [warning.id for warning in check_logging()] == ["kriya_client.W001"]
    settings.LOGGING["loggers"]["kriya_client"] = {"level": "INFO"}
    assert check_logging() == []
    settings.LOGGING = {"version": 1, "disable_existing_loggers": False}
    assert check_logging() == []
