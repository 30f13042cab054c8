"""Account takeover and code misuse: moving or deleting an account needs more than a stolen access token, a code
works only for what it was asked for, staff accounts and the admin's history are out of the API's reach, and a
stranger cannot lock a number out cheaply."""

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import psycopg
import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.checks import run_checks
from django.db import connection

from accounts.models import PhoneVerification, RevocationEvent, User
from tests.test_concurrency import all_at_once, call

pytestmark = pytest.mark.django_db

PHONE = "+16502530001"
THIEF = "+16502530666"
INVALID = {"detail": "Invalid or expired code"}


@pytest.fixture(autouse=True)
def throttles_off(settings):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


@pytest.fixture
def clock(time_machine):
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    return time_machine


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def wrong(code):
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def stolen(api_client, user, sms_outbox):
    """Ada's access token, in a thief's hands (the thief does not have Ada's phone)."""
    return api_client.post("/api/auth/register", {"phone_number": user.phone_number}).json()["token"]


# A stolen access token


@pytest.mark.parametrize("verification", ["off", "sms"])
def test_a_stolen_access_token_alone_cannot_move_the_account(api_client, user, stolen, settings, sms_outbox, texted_code,
                                                            verification):
    settings.PHONE_VERIFICATION = verification
    asked = api_client.post("/api/auth/user/phone", {"phone_number": THIEF}, **bearer(stolen))
    assert asked.status_code == 200
    thiefs_code = texted_code(THIEF)  # the thief holds the new phone, not Ada's

    attempts = [
        {"phone_number": THIEF, "code": thiefs_code},
        {"phone_number": THIEF, "code": thiefs_code, "current_code": thiefs_code},
        {"phone_number": THIEF, "code": thiefs_code, "current_code": "000000"},
    ]
    answers = [api_client.post("/api/auth/user/phone/verify", body, **bearer(stolen)) for body in attempts]

    assert [(a.status_code, a.json()) for a in answers] == [
        (400, {"current_code": ["This field is required."]}),
        (400, {"detail": "Invalid or expired code for your current phone number"}),
        (400, {"detail": "Invalid or expired code for your current phone number"}),
    ]
    assert User.objects.get(pk=user.pk).phone_number == PHONE
    assert not User.objects.filter(phone_number=THIEF).exists()
    assert "to move your account to a new phone number" in [m.body for m in sms_outbox if m.to == PHONE][-1]


def test_a_stolen_access_token_alone_cannot_delete_the_account(api_client, user, stolen, sms_outbox):
    asked = api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(stolen))
    assert asked.status_code == 200
    assert [m.to for m in sms_outbox] == [PHONE]  # the code goes to Ada's phone, never to the caller

    for body in ({}, {"code": "000000"}, {"code": "123456"}):
        assert api_client.delete("/api/auth/user", body, **bearer(stolen)).status_code == 400
    assert User.objects.filter(pk=user.pk).exists()


def test_the_number_the_account_left_is_told_with_the_new_number_masked(api_client, user, stolen, settings, sms_outbox,
                                                                       texted_code):
    settings.SUPPORT_CONTACT = "https://help.example.com"
    api_client.post("/api/auth/user/phone", {"phone_number": "+16502530099"}, **bearer(stolen))
    moved = api_client.post("/api/auth/user/phone/verify", {
        "phone_number": "+16502530099", "code": texted_code("+16502530099"), "current_code": texted_code(PHONE)},
        **bearer(stolen))

    assert moved.status_code == 200
    notice = sms_outbox[-1]
    assert notice.to == PHONE
    assert notice.body == ("Your Kriya account was moved from this number to +1650***0099. If you did not do this, "
                           "contact support: https://help.example.com")


def test_an_account_moves_at_most_once_a_day(api_client, user, clock, sms_outbox, texted_code):
    def move(token, old, new):
        asked = api_client.post("/api/auth/user/phone", {"phone_number": new}, **bearer(token))
        if asked.status_code != 200:
            return asked
        return api_client.post("/api/auth/user/phone/verify", {
            "phone_number": new, "code": texted_code(new), "current_code": texted_code(old)}, **bearer(token))

    token = api_client.post("/api/auth/register", {"phone_number": PHONE}).json()["token"]
    assert move(token, PHONE, "+16502530002").status_code == 200
    clock.shift(timedelta(hours=23))
    token = api_client.post("/api/auth/register", {"phone_number": "+16502530002"}).json()["token"]

    refused = move(token, "+16502530002", "+16502530003")

    assert refused.status_code == 429
    assert refused["Retry-After"] == str(3600)
    assert User.objects.get(pk=user.pk).phone_number == "+16502530002"
    clock.shift(timedelta(hours=1, seconds=1))
    assert move(token, "+16502530002", "+16502530003").status_code == 200


# Codes are bound to their purpose


def test_a_code_asked_to_sign_in_cannot_delete_the_account(api_client, user, stolen, settings, sms_outbox, texted_code):
    settings.PHONE_VERIFICATION = "sms"
    api_client.post("/api/auth/otp/request", {"phone_number": PHONE})
    sign_in_code = texted_code(PHONE)
    assert "to sign in" in sms_outbox[-1].body

    response = api_client.delete("/api/auth/user", {"code": sign_in_code}, **bearer(stolen))

    assert (response.status_code, response.json()) == (400, INVALID)
    assert User.objects.filter(pk=user.pk).exists()
    signed_in = api_client.post("/api/auth/register", {"phone_number": PHONE, "code": sign_in_code})
    assert signed_in.status_code == 200  # still good for what it was asked for


def test_a_deletion_code_cannot_sign_in_and_a_phone_change_code_cannot_delete(api_client, user, stolen, settings,
                                                                              sms_outbox, texted_code):
    settings.PHONE_VERIFICATION = "sms"
    api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(stolen))
    deletion = texted_code(PHONE)
    assert "to delete your account" in sms_outbox[-1].body

    assert api_client.post("/api/auth/register", {"phone_number": PHONE, "code": deletion}).json() == INVALID

    PhoneVerification.objects.filter(phone_number=PHONE).update(sent_at=None)  # past the resend cooldown
    api_client.post("/api/auth/user/phone", {"phone_number": "+16502530099"}, **bearer(stolen))
    move_code = texted_code(PHONE)
    assert api_client.delete("/api/auth/user", {"code": move_code}, **bearer(stolen)).json() == INVALID
    assert User.objects.filter(pk=user.pk).exists()


def test_the_account_code_endpoint_names_the_purposes_it_knows(api_client, stolen):
    response = api_client.post("/api/auth/user/code", {"purpose": "sign_in"}, **bearer(stolen))

    assert (response.status_code, response.json()) == (400, {"purpose": ['"sign_in" is not a valid choice.']})


# Staff accounts and the admin's history


@pytest.fixture
def staff_token(api_client, make_user):
    def staff_token(**flags):
        staff = make_user("+16502530042", first_name="Root", **flags)
        return staff, api_client.post("/api/auth/register", {"phone_number": staff.phone_number}).json()["token"]

    return staff_token


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_staff": True, "is_superuser": True}, {"is_superuser": True}])
def test_a_staff_account_is_refused_on_delete_and_phone_change(api_client, staff_token, sms_outbox, flags):
    staff, token = staff_token(**flags)
    LogEntry.objects.create(user=staff, content_type=ContentType.objects.get_for_model(User), object_id=str(staff.pk),
                            object_repr=str(staff), action_flag=CHANGE, change_message="[]")

    answers = [
        api_client.delete("/api/auth/user", {"code": "123456"}, **bearer(token)),
        api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer(token)),
        api_client.post("/api/auth/user/phone", {"phone_number": "+16502530099"}, **bearer(token)),
        api_client.post("/api/auth/user/phone/verify", {"phone_number": "+16502530099", "code": "123456",
                                                        "current_code": "123456"}, **bearer(token)),
    ]

    for answer in answers:
        assert answer.status_code == 403
        assert answer.json()["detail"].startswith("This is a staff account")
    assert User.objects.filter(pk=staff.pk, phone_number="+16502530042").exists()
    assert LogEntry.objects.filter(user=staff).count() == 1
    assert sms_outbox == []


def test_an_account_with_a_history_in_the_admin_is_not_deleted_through_the_api(api_client, staff_token, sms_outbox):
    former, token = staff_token()  # staff once: no longer, but its entries in the admin's history remain
    LogEntry.objects.create(user=former, content_type=ContentType.objects.get_for_model(User), object_id="1",
                            object_repr="someone", action_flag=CHANGE, change_message="[]")

    response = api_client.delete("/api/auth/user", {"code": "123456"}, **bearer(token))

    assert response.status_code == 403
    assert LogEntry.objects.count() == 1


def test_the_admin_cannot_delete_a_user_whose_deletion_would_erase_its_history(client, make_user):
    root = make_user("+16502530042", is_staff=True, is_superuser=True)
    LogEntry.objects.create(user=root, content_type=ContentType.objects.get_for_model(User), object_id=str(root.pk),
                            object_repr=str(root), action_flag=CHANGE, change_message="[]")
    other = make_user("+16502530043", is_staff=True, is_superuser=True)
    client.force_login(other)

    page = client.get(f"/admin/accounts/user/{root.pk}/delete/")
    bulk = client.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [str(root.pk)],
                                                 "post": "yes"})

    assert page.status_code == 403
    assert bulk.status_code in (200, 302, 403)
    assert User.objects.filter(pk=root.pk).exists()
    assert LogEntry.objects.filter(user=root).count() == 1


# Guessing and lockout


def test_wrong_guesses_back_off_and_stop_for_the_day(api_client, settings, clock, sms_outbox, texted_code):
    settings.PHONE_VERIFICATION = "sms"
    settings.OTP_RESEND_SECONDS = 0
    settings.OTP_MAX_PER_HOUR = 100  # this test is about guesses, not about how many codes a phone may get
    failures = 0

    def guess_round(ip):
        nonlocal failures
        api_client.post("/api/auth/otp/request", {"phone_number": PHONE}, REMOTE_ADDR=ip)
        code = texted_code(PHONE)
        answer = api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "A", "code": wrong(code)},
                                 REMOTE_ADDR=ip)
        failures += answer.status_code == 400
        return answer

    for n in range(10):  # ten wrong guesses from several networks in a day cost nothing
        assert guess_round(f"203.0.113.{n}").status_code == 400
    backed_off = guess_round("203.0.113.50")
    assert backed_off.status_code == 429
    assert backed_off["Retry-After"] == "30"
    waits = []
    while failures < settings.OTP_MAX_FAILURES_PER_DAY:
        clock.shift(int(backed_off["Retry-After"]))
        assert guess_round(f"198.51.{failures}.1").status_code == 400  # waited: the guess is compared
        backed_off = guess_round(f"198.51.{failures}.2")  # at once: not even compared
        assert backed_off.status_code == 429
        waits.append(int(backed_off["Retry-After"]))
    assert backed_off.json()["detail"].startswith("Too many wrong codes for this phone number today.")
    assert waits[:4] == [60, 120, 240, 480]  # doubling, up to an hour
    clock.shift(waits[-1])  # a day after the first wrong guess, guessing opens again
    assert guess_round("192.0.2.1").status_code == 400


def test_a_stranger_cannot_kill_the_owners_live_code(api_client, settings, sms_outbox, texted_code):
    settings.PHONE_VERIFICATION = "sms"
    api_client.post("/api/auth/otp/request", {"phone_number": PHONE})
    code = texted_code(PHONE)
    stranger = [api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "E", "code": wrong(code)},
                                REMOTE_ADDR="203.0.113.9").status_code for _ in range(6)]

    assert stranger == [400, 400, 400, 429, 429, 429]
    owner = api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "Ada", "code": code},
                            REMOTE_ADDR="198.51.100.7")
    assert owner.status_code == 200


def test_one_network_makes_at_most_five_wrong_guesses_a_day_at_a_number(api_client, settings, clock, sms_outbox,
                                                                        texted_code):
    settings.PHONE_VERIFICATION = "sms"
    stranger = {"REMOTE_ADDR": "203.0.113.9"}
    answers = []
    for _ in range(4):  # two guesses per fresh code, four codes: within the per-code share each time
        api_client.post("/api/auth/otp/request", {"phone_number": PHONE}, REMOTE_ADDR="198.51.100.1")
        code = texted_code(PHONE)
        for _ in range(2):
            answers.append(api_client.post("/api/auth/register", {"phone_number": PHONE, "code": wrong(code)},
                                           **stranger))
        clock.shift(61)

    assert [a.status_code for a in answers] == [400] * 5 + [429] * 3
    assert answers[-1].json()["detail"].startswith("Too many wrong codes from your network today.")
    assert int(answers[-1]["Retry-After"]) > 23 * 3600


def test_one_strangers_wrong_guesses_do_not_keep_the_owner_from_signing_in(api_client, user, settings, clock,
                                                                          sms_outbox, texted_code):
    settings.PHONE_VERIFICATION = "sms"
    stranger, owner = {"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "198.51.100.7"}
    failures = 0
    for _ in range(200):  # one IP, within every limit: a code, one wrong guess, and wait when told to
        asked = api_client.post("/api/auth/otp/request", {"phone_number": PHONE}, **stranger)
        if asked.status_code == 429:
            clock.shift(int(asked["Retry-After"]))
            continue
        guess = api_client.post("/api/auth/register", {"phone_number": PHONE, "code": wrong(texted_code(PHONE))},
                                **stranger)
        if guess.status_code == 429:
            clock.shift(int(guess["Retry-After"]))
            continue
        failures += 1
        if failures == settings.OTP_MAX_FAILURES_PER_DAY:
            break
    clock.shift(120)

    api_client.post("/api/auth/otp/request", {"phone_number": PHONE}, **owner)
    signed_in = api_client.post("/api/auth/register", {"phone_number": PHONE, "code": texted_code(PHONE)}, **owner)

    assert (signed_in.status_code, signed_in.json().get("detail")) == (200, None)


@pytest.mark.xfail(strict=True, reason="known limit (README, Phone verification): OTP_MAX_PER_HOUR counts every "
                                       "requester, so four networks (here four /64s of one /56) use up a number's "
                                       "codes for an hour; the IP, country, prefix and budget limits bound the cost")
def test_one_ipv6_subscriber_does_not_use_up_the_owners_codes(api_client, user, settings, clock, sms_outbox):
    # Ten codes in ten minutes from four /64s of one /56 (what an ISP delegates to a home), each within its share.
    for n in range(settings.OTP_MAX_PER_HOUR):
        asked = api_client.post("/api/auth/otp/request", {"phone_number": PHONE},
                                REMOTE_ADDR=f"2001:db8:0:{n // settings.OTP_MAX_PER_HOUR_PER_REQUESTER}::1")
        assert asked.status_code == 200
        clock.shift(settings.OTP_RESEND_SECONDS)

    owner = api_client.post("/api/auth/otp/request", {"phone_number": PHONE}, REMOTE_ADDR="198.51.100.7")

    assert (owner.status_code, owner.json().get("detail")) == (200, None)


# Test numbers


@pytest.fixture
def test_number(settings, sms_outbox):
    settings.PHONE_VERIFICATION = "sms"
    settings.OTP_TEST_NUMBERS = {"+12025550142": "123456"}
    return "+12025550142"


def test_a_test_number_gets_its_fixed_code_and_no_text(api_client, test_number, sms_outbox, events):
    asked = api_client.post("/api/auth/otp/request", {"phone_number": "+1 202 555 0142"})
    signed_in = api_client.post("/api/auth/register", {"phone_number": test_number, "first_name": "Reviewer",
                                                       "code": "123456"})

    assert asked.status_code == 200
    assert signed_in.status_code == 200
    assert sms_outbox == []
    assert [e["phone"] for e in events() if e["event"] == "otp_test_number_used"] == ["+1202***0142"]
    assert not [e for e in events() if e["event"] == "otp_sent"]


def test_a_test_number_obeys_every_other_limit(api_client, test_number, sms_outbox):
    assert api_client.post("/api/auth/otp/request", {"phone_number": test_number}).status_code == 200
    assert api_client.post("/api/auth/otp/request", {"phone_number": test_number}).status_code == 429  # cooldown
    assert api_client.post("/api/auth/register", {"phone_number": test_number, "first_name": "R",
                                                  "code": "654321"}).json() == INVALID
    assert api_client.post("/api/auth/register", {"phone_number": test_number, "first_name": "R"}).status_code == 400
    fixed = api_client.post("/api/auth/register", {"phone_number": test_number, "first_name": "R", "code": "123456"})
    assert fixed.status_code == 200
    again = api_client.post("/api/auth/register", {"phone_number": test_number, "first_name": "R", "code": "123456"})
    assert again.json() == INVALID  # used once, like any code: ask again for the next sign-in


def test_an_account_moving_off_a_test_number_texts_the_test_number_nothing(api_client, test_number, make_user,
                                                                          sms_outbox, texted_code):
    make_user(test_number, first_name="Reviewer")
    api_client.post("/api/auth/otp/request", {"phone_number": test_number})
    token = api_client.post("/api/auth/register", {"phone_number": test_number, "code": "123456"}).json()["token"]
    PhoneVerification.objects.filter(phone_number=test_number).update(sent_at=None)  # past the resend cooldown

    api_client.post("/api/auth/user/phone", {"phone_number": "+16502530099"}, **bearer(token))
    moved = api_client.post("/api/auth/user/phone/verify", {"phone_number": "+16502530099", "current_code": "123456",
                                                            "code": texted_code("+16502530099")}, **bearer(token))

    assert moved.status_code == 200
    assert [m.to for m in sms_outbox] == ["+16502530099"]  # a test number is texted nothing, the notice included


def test_check_deploy_refuses_test_numbers_unless_meant_for_production(settings):
    settings.DEBUG = False
    settings.OTP_TEST_NUMBERS = {"+12025550142": "123456"}

    refused = [m for m in run_checks(include_deployment_checks=True) if m.id == "kriya.E057"]
    settings.OTP_TEST_NUMBERS_IN_PRODUCTION = True
    allowed = [m for m in run_checks(include_deployment_checks=True) if m.id == "kriya.E057"]

    assert len(refused) == 1 and "OTP_TEST_NUMBERS_IN_PRODUCTION=True" in refused[0].hint
    assert allowed == []


# Invite-only


def test_with_signup_closed_an_unknown_number_is_answered_as_a_known_one_and_texted_nothing(
        api_client, settings, make_user, sms_outbox):
    settings.SIGNUP = "closed"
    settings.PHONE_VERIFICATION = "sms"
    make_user("+16502530002")

    unknown = api_client.post("/api/auth/otp/request", {"phone_number": PHONE})
    known = api_client.post("/api/auth/otp/request", {"phone_number": "+16502530002"})
    unknown_again = api_client.post("/api/auth/otp/request", {"phone_number": PHONE})
    known_again = api_client.post("/api/auth/otp/request", {"phone_number": "+16502530002"})

    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert (unknown_again.status_code, unknown_again.json()["detail"][:30]) == (
        known_again.status_code, known_again.json()["detail"][:30])
    assert [m.to for m in sms_outbox] == ["+16502530002"]
    refused = api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "Eve", "code": "123456"})
    assert refused.json() == INVALID
    assert not User.objects.filter(phone_number=PHONE).exists()


def test_with_signup_closed_a_failing_provider_does_not_tell_a_known_number_from_an_unknown_one(
        api_client, settings, make_user, broken_sender, events):
    # The provider is down, or refuses one number (opted out, unreachable), or the operator's budget is spent.
    settings.SIGNUP = "closed"
    settings.PHONE_VERIFICATION = "sms"
    make_user("+16502530002")

    def answers(phone):
        return [(a.status_code, a.json()["detail"][:30] if "detail" in a.json() else a.json())
                for a in (api_client.post("/api/auth/otp/request", {"phone_number": phone}) for _ in range(2))]

    unknown, known = answers(PHONE), answers("+16502530002")

    assert unknown == known
    assert [m.to for m in broken_sender] == ["+16502530002"]  # tried once: the cooldown holds, as for the unknown
    failed = [e for e in events() if e["event"] == "otp_failed"]
    assert [(e["phone"], e["reason"]) for e in failed] == [("+1650***0002", "not sent")]  # the operator still sees it


def test_with_signup_closed_and_verification_off_an_unknown_number_is_refused(api_client, settings, make_user):
    settings.SIGNUP = "closed"
    make_user("+16502530002")

    refused = api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "Eve"})
    member = api_client.post("/api/auth/register", {"phone_number": "+16502530002"})

    assert refused.status_code == 403
    assert refused.json() == {"detail": "Sign-up is closed: only phone numbers that already have an account can sign in."}
    assert member.status_code == 200
    assert User.objects.count() == 1


# Races on one account: an answer each, never a 500


@pytest.mark.postgres
def test_six_deletes_at_once_with_one_token_delete_once_and_answer_each(live_server, settings, make_user, sms_outbox):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}
    make_user(PHONE)
    base = f"{live_server.url}/api/auth"
    _, signed_in = call(f"{base}/register", "POST", {"phone_number": PHONE})
    auth = {"Authorization": f"Bearer {signed_in['token']}"}
    call(f"{base}/user/code", "POST", {"purpose": "delete_account"}, auth)
    code = sms_outbox[-1].body[:6]

    answers = all_at_once(lambda _: call(f"{base}/user", "DELETE", {"code": code}, auth), range(6))

    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) == 1, answers
    assert set(statuses) <= {200, 400, 401, 404}, answers
    assert not User.objects.filter(phone_number=PHONE).exists()


@pytest.mark.postgres
def test_edits_racing_a_delete_answer_and_never_fail(live_server, settings, make_user, sms_outbox):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}
    base = f"{live_server.url}/api/auth"
    for round_ in range(3):
        phone = f"+1650253{round_ + 10:04d}"
        make_user(phone)
        _, signed_in = call(f"{base}/register", "POST", {"phone_number": phone})
        auth = {"Authorization": f"Bearer {signed_in['token']}"}
        call(f"{base}/user/code", "POST", {"purpose": "delete_account"}, auth)
        code = sms_outbox[-1].body[:6]

        def act(n):
            if n == 0:
                return call(f"{base}/user", "DELETE", {"code": code}, auth)
            return call(f"{base}/user", "PATCH", {"last_name": f"L{n}"}, auth)

        answers = all_at_once(act, range(8))

        assert {status for status, _ in answers} <= {200, 401, 404}, answers
        assert answers[0][0] == 200
        assert not RevocationEvent.objects.filter(type="account_deleted").count() > round_ + 1


# An account deleted while another of its requests is on its way (found in review)


@contextlib.contextmanager
def paused(key: str, period: int):
    """Requests that count key (a throttle's, in the database cache) wait on this lock until the block ends: a
    request stopped between its authentication and its work, for as long as the test needs (under lock_timeout)."""
    db = connection.settings_dict
    locker = psycopg.connect(host="127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    window = int(time.time() // period)
    locker.execute('INSERT INTO throttle_counts ("key", hits, window_end) VALUES (%s, 0, %s) ON CONFLICT DO NOTHING',
                   [f"{key}:{window}", (window + 1) * period])
    locker.execute('SELECT 1 FROM throttle_counts WHERE "key" = %s FOR UPDATE', [f"{key}:{window}"])
    try:
        yield locker
    finally:
        locker.rollback()
        locker.close()


def wait_for_lock_waiters(locker, count: int, unless=lambda: False) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not unless():
        locker.execute("SELECT pg_stat_clear_snapshot()")  # else the transaction sees its first snapshot throughout
        waiting = locker.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND wait_event_type = 'Lock'").fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.01)
    if not unless():
        raise AssertionError(f"{count} request(s) never waited on the lock")


@pytest.mark.postgres
@pytest.mark.parametrize("path, body", [("user/code", {"purpose": "delete_account"}),
                                        ("user/phone", {"phone_number": "+16502530099"})])
def test_a_request_authenticated_just_before_its_account_was_deleted_answers_401(live_server, settings, make_user,
                                                                                 sms_outbox, path, body):
    settings.THROTTLE_RATES = {**{scope: "none" for scope in settings.THROTTLE_RATES}, "otp_ip": "1000/day"}
    make_user(PHONE)
    base = f"{live_server.url}/api/auth"
    auth = {"Authorization": f"Bearer {call(f'{base}/register', 'POST', {'phone_number': PHONE})[1]['token']}"}
    call(f"{base}/user/code", "POST", {"purpose": "delete_account"}, auth)
    code = sms_outbox[-1].body[:6]

    with paused("throttle_otp_ip_127.0.0.1", 86400) as locker, ThreadPoolExecutor(1) as pool:
        racer = pool.submit(call, f"{base}/{path}", "POST", body, auth)  # authenticated, then waits on the lock
        wait_for_lock_waiters(locker, 1)
        deleted = call(f"{base}/user", "DELETE", {"code": code}, auth)
        locker.rollback()
        answer = racer.result()

    assert deleted[0] == 200
    assert answer == (401, {"detail": "User not found"})


@contextlib.contextmanager
def held(sql, params=()):
    """Another transaction holds a lock (sql takes it) until the block ends or the test rolls it back."""
    db = connection.settings_dict
    locker = psycopg.connect(host="127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"])
    locker.execute(sql, params)
    try:
        yield locker
    finally:
        locker.rollback()
        locker.close()


@pytest.mark.postgres
@pytest.mark.parametrize("racer, pause", [
    # The deletion waits at its last step, the account's row and its sessions locked:
    ("sign_in", "revocations"), ("logout", "revocations"), ("refresh", "revocations"),
    ("refresh_retried", "revocations"),  # a refresh token just rotated, sent again (a retry): its session goes
    # The deletion waits on the account's newest session, which another transaction holds, and the racer refreshes
    # an older one: a refresh locks its session, then waits on the account's row (its foreign key). A deletion
    # that locked the account's row before its sessions deadlocked with it.
    ("refresh", "newest_session"),
])
def test_a_request_that_meets_the_accounts_deletion_in_the_database_answers_and_never_fails(
        live_server, settings, make_user, sms_outbox, racer, pause):
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}
    make_user(PHONE)
    base = f"{live_server.url}/api/auth"
    other, mine, newest = (call(f"{base}/register", "POST", {"phone_number": PHONE})[1] for _ in range(3))
    auth = {"Authorization": f"Bearer {mine['token']}"}
    call(f"{base}/user/code", "POST", {"purpose": "delete_account"}, auth)
    code = sms_outbox[-1].body[:6]
    request = {
        "sign_in": lambda: call(f"{base}/register", "POST", {"phone_number": PHONE}),
        "logout": lambda: call(f"{base}/logout", "DELETE", None, {"Authorization": f"Bearer {other['token']}"}),
        "refresh": lambda: call(f"{base}/token/refresh", "POST", {"refresh_token": other["refresh_token"]}),
        "refresh_retried": lambda: call(f"{base}/token/refresh", "POST", {"refresh_token": other["refresh_token"]}),
    }[racer]
    if racer == "refresh_retried":
        assert call(f"{base}/token/refresh", "POST", {"refresh_token": other["refresh_token"]})[0] == 200
    lock = {"revocations": ("LOCK TABLE revocation_events IN EXCLUSIVE MODE", []),
            "newest_session": ("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE", [newest["session_id"]])}[pause]

    with held(*lock) as locker, ThreadPoolExecutor(2) as pool:
        deleting = pool.submit(call, f"{base}/user", "DELETE", {"code": code}, auth)
        wait_for_lock_waiters(locker, 1)
        racing = pool.submit(request)
        wait_for_lock_waiters(locker, 2, unless=racing.done)  # a racer that waits on nothing may be done
        locker.rollback()
        deleted, answer = deleting.result(), racing.result()

    assert deleted == (200, {"success": True, "message": "Account deleted"})
    assert answer[0] in (200, 400, 401, 404), answer
    assert not User.objects.filter(phone_number=PHONE).exists()
