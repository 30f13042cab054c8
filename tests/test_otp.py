"""Phone verification: POST /api/auth/otp/request texts a code; register with PHONE_VERIFICATION=sms needs it."""

import hashlib
import hmac
import json
import re
import threading
from datetime import timedelta

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.utils import timezone

from accounts.models import AuditToken, PhoneVerification, User
from tests.conftest import session_fields
from tests.otp_fixtures import code_in
from tests.servers import call

pytestmark = pytest.mark.django_db  # throttles and codes live in the database

PHONE = "+16502530001"
SENT = {"success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}
INVALID = {"detail": "Invalid or expired code"}


@pytest.fixture(autouse=True)
def throttles_off(settings):
    """The codes' own limits are tested here, the request throttles in test_throttling.py."""
    settings.THROTTLE_RATES = {scope: "none" for scope in settings.THROTTLE_RATES}


@pytest.fixture
def register(api_client):
    def register(code=None, phone_number=PHONE, first_name="Ada", REMOTE_ADDR="127.0.0.1", **fields):
        body = {"phone_number": phone_number, "first_name": first_name, **fields}
        if code is not None:
            body["code"] = code
        return api_client.post("/api/auth/register", body, REMOTE_ADDR=REMOTE_ADDR)

    return register


@pytest.fixture
def clock(time_machine):
    """Time stands still until the test moves it with clock.shift(seconds)."""
    time_machine.move_to("2026-11-25 10:00:00+00:00", tick=False)
    return time_machine


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def assert_logged_in(response, message="Registration successful", phone=PHONE):
    assert response.status_code == 200, response.json()
    body = response.json()
    user = User.objects.get(phone_number=phone)
    assert body == {
        "success": True,
        "message": message,
        "token": body["token"],
        "user": {
            "id": str(user.pk),
            "phone_number": phone,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
        },
        "expires_at": body["expires_at"],
        **session_fields(body),
    }
    assert body["token"].count(".") == 2


# Requesting a code


def test_a_requested_code_is_six_digits_texted_to_the_e164_number(request_code, sms_outbox):
    response = request_code("+1 (650) 253-0001")

    assert response.status_code == 200
    assert response.json() == SENT
    assert [message.to for message in sms_outbox] == [PHONE]
    assert re.fullmatch(r"[0-9]{6} is your Kriya code to sign in\. It expires in 5 min\. Never share it\.",
                        sms_outbox[0].body)


def test_with_otp_sms_domain_the_text_ends_with_the_domain_bound_line(request_code, sms_outbox, settings):
    settings.OTP_SMS_DOMAIN = "auth.example.com"
    request_code()

    code = code_in(sms_outbox[0].body)
    assert sms_outbox[0].body.startswith(code)
    assert sms_outbox[0].body.endswith(f"\n\n@auth.example.com #{code}")


def test_the_answer_is_the_same_whether_or_not_the_phone_has_an_account(request_code, sms_outbox, make_user):
    make_user("+16502530002")

    unknown, known = request_code(PHONE), request_code("+16502530002")

    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json()) == (200, SENT)
    assert [message.to for message in sms_outbox] == [PHONE, "+16502530002"]


def test_the_route_accepts_a_trailing_slash(api_client, sms_outbox):
    response = api_client.post("/api/auth/otp/request/", {"phone_number": PHONE})

    assert (response.status_code, response.json()) == (200, SENT)


@pytest.mark.parametrize(
    "body, errors",
    [
        ({"phone_number": "6502530001"}, {"phone_number": ["Phone number must start with + and the country code."]}),
        ({"phone_number": "+1650"}, {"phone_number": ["Enter a valid phone number."]}),
        ({"phone_number": 16502530001}, {"phone_number": ["Must be a string."]}),
        ({}, {"phone_number": ["This field is required."]}),
    ],
)
def test_a_phone_number_is_checked_as_register_checks_it(api_client, sms_outbox, body, errors):
    response = api_client.post("/api/auth/otp/request", body)

    assert (response.status_code, response.json()) == (400, errors)
    assert sms_outbox == []


def test_the_code_is_stored_only_as_a_keyed_hash(request_code, texted_code, settings):
    settings.OTP_SECRET = "an-otp-secret-for-this-test-0123456789"
    request_code()
    code = texted_code()

    row = PhoneVerification.objects.get(phone_number=PHONE)
    stored = json.dumps([str(value) for value in row.__dict__.values()])
    assert code not in stored
    key = hashlib.sha256(b"kriya.otp" + settings.OTP_SECRET.encode()).digest()  # Django's salted_hmac
    assert row.code_hash == hmac.new(key, f"sign_in:{PHONE}:{code}".encode(), hashlib.sha256).hexdigest()
    assert row.code_hash != hashlib.sha256(f"{PHONE}:{code}".encode()).hexdigest()


def test_codes_go_only_to_the_allowed_regions(settings, request_code, sms_outbox):
    settings.OTP_ALLOWED_REGIONS = ["IN", "US"]
    refused = {"phone_number": ["Verification codes are sent only to phone numbers in: IN, US."]}

    for phone in ("+442079460958", "+14165550123"):  # Britain, and Canada, which shares +1 with the US
        response = request_code(phone)
        assert (response.status_code, response.json()) == (400, refused)
    assert sms_outbox == []
    for phone in ("+919876543210", PHONE):
        assert request_code(phone).status_code == 200
    assert [message.to for message in sms_outbox] == ["+919876543210", PHONE]


# Resend cooldown, hourly cap, replacement


def test_asking_again_within_the_cooldown_is_429_with_retry_after(clock, request_code, sms_outbox):
    assert request_code().status_code == 200
    clock.shift(20)

    response = request_code()

    assert response.status_code == 429
    assert response.json() == {"detail": "Please wait before requesting another code. Expected available in 40 seconds."}
    assert response["Retry-After"] == "40"
    assert len(sms_outbox) == 1
    clock.shift(40)
    assert (request_code().status_code, len(sms_outbox)) == (200, 2)


def test_one_phones_cooldown_does_not_hold_another_phone(request_code, sms_outbox):
    assert request_code(PHONE).status_code == 200
    assert request_code("+16502530002").status_code == 200


def test_at_most_ten_codes_per_phone_per_hour_from_every_network_together(clock, request_code, sms_outbox):
    for n in range(10):
        assert request_code(REMOTE_ADDR=f"203.0.113.{n}").status_code == 200
        clock.shift(60)

    response = request_code(REMOTE_ADDR="198.51.100.1")  # an hour after the first code minus 3000 s

    assert response.status_code == 429
    assert response.json() == {
        "detail": "Too many codes requested for this phone number. Expected available in 3000 seconds."
    }
    assert response["Retry-After"] == "3000"
    assert len(sms_outbox) == 10
    clock.shift(3000)
    assert (request_code(REMOTE_ADDR="198.51.100.1").status_code, len(sms_outbox)) == (200, 11)


def test_a_stranger_uses_up_only_their_networks_share_of_a_phones_codes(clock, request_code, sms_outbox):
    for _ in range(3):
        assert request_code(REMOTE_ADDR="203.0.113.7").status_code == 200
        clock.shift(61)

    refused = request_code(REMOTE_ADDR="203.0.113.7")

    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many codes requested for this phone number from your network.")
    assert request_code(REMOTE_ADDR="198.51.100.1").status_code == 200  # the owner still gets a code
    assert len(sms_outbox) == 4


def test_an_ipv6_network_counts_as_one_requester(clock, request_code):
    for host in range(1, 4):
        assert request_code(REMOTE_ADDR=f"2001:db8:1:2::{host}").status_code == 200
        clock.shift(61)

    assert request_code(REMOTE_ADDR="2001:db8:1:2:ffff::9").status_code == 429  # the same /64
    assert request_code(REMOTE_ADDR="2001:db8:1:3::1").status_code == 200  # another /64


def test_a_new_request_replaces_the_previous_code(clock, sms_mode, request_code, texted_code, register):
    request_code()
    first = texted_code()
    clock.shift(60)
    request_code()
    second = texted_code()
    if first == second:
        pytest.skip("the two random codes happened to be equal")

    response = register(first)

    assert (response.status_code, response.json()) == (400, INVALID)
    assert_logged_in(register(second))


# Registering with a code


def test_the_whole_flow_registers_with_the_texted_code_once(sms_mode, request_code, texted_code, register):
    assert request_code().status_code == 200
    code = texted_code()

    assert_logged_in(register(code, last_name="Lovelace"))
    assert User.objects.get(phone_number=PHONE).last_name == "Lovelace"
    again = register(code)
    assert (again.status_code, again.json()) == (400, INVALID)
    assert AuditToken.objects.count() == 1


def test_an_existing_user_logs_in_with_a_code_and_keeps_the_profile(sms_mode, request_code, texted_code, register, make_user):
    make_user(PHONE, first_name="Grace")
    request_code()

    assert_logged_in(register(texted_code(), first_name="Someone Else"), message="Login successful")
    assert User.objects.get(phone_number=PHONE).first_name == "Grace"


def test_in_sms_mode_a_register_without_a_code_is_a_field_error(sms_mode, request_code, register):
    request_code()

    response = register()

    assert (response.status_code, response.json()) == (400, {"code": ["This field is required."]})
    assert not User.objects.exists()


@pytest.mark.parametrize("code", ["12345", "1234567", "12a456", " 123 456", "", "١٢٣٤٥٦"])
def test_in_sms_mode_a_code_that_is_not_six_digits_is_a_field_error(sms_mode, register, code):
    response = register(code)

    assert (response.status_code, response.json()) == (400, {"code": ["Enter the 6-digit code."]})
    assert not User.objects.exists()


def test_a_wrong_code_is_refused_creates_no_user_and_leaves_the_right_one_usable(sms_mode, request_code, texted_code, register):
    request_code()
    code = texted_code()

    response = register(wrong(code))

    assert (response.status_code, response.json()) == (400, INVALID)
    assert not User.objects.exists()
    assert_logged_in(register(code))


def test_a_code_for_another_phone_is_refused(sms_mode, request_code, texted_code, register):
    request_code("+16502530002")

    response = register(texted_code("+16502530002"))

    assert (response.status_code, response.json()) == (400, INVALID)
    assert not User.objects.exists()


def test_a_phone_that_never_asked_for_a_code_is_refused(sms_mode, register):
    response = register("123456")

    assert (response.status_code, response.json()) == (400, INVALID)
    assert not User.objects.exists()


@pytest.mark.parametrize("elapsed, status", [(299, 200), (300, 400), (3600, 400)])
def test_a_code_expires_after_otp_ttl_seconds(clock, sms_mode, request_code, texted_code, register, elapsed, status):
    request_code()
    clock.shift(elapsed)

    response = register(texted_code())

    assert response.status_code == status
    if status == 400:
        assert response.json() == INVALID
        assert not User.objects.exists()


def test_five_wrong_guesses_kill_the_code(clock, sms_mode, request_code, texted_code, register):
    request_code()
    code = texted_code()
    for n in range(5):
        refused = register(wrong(code), REMOTE_ADDR=f"203.0.113.{n}")
        assert (refused.status_code, refused.json()) == (400, INVALID)

    response = register(code)

    assert (response.status_code, response.json()) == (400, INVALID)
    assert not User.objects.exists()
    clock.shift(60)
    request_code()
    assert_logged_in(register(texted_code()))


def test_four_wrong_guesses_leave_the_code_usable(sms_mode, request_code, texted_code, register):
    request_code()
    code = texted_code()
    for n in range(4):
        assert register(wrong(code), REMOTE_ADDR=f"203.0.113.{n}").status_code == 400

    assert_logged_in(register(code))


def test_one_network_may_use_only_three_of_a_codes_five_tries(sms_mode, request_code, texted_code, register):
    request_code()
    code = texted_code()
    for _ in range(3):
        assert register(wrong(code), REMOTE_ADDR="203.0.113.7").status_code == 400

    refused = register(code, REMOTE_ADDR="203.0.113.7")  # not even compared: the stranger's share is spent

    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("Too many wrong codes from your network: request a new code.")
    assert_logged_in(register(code, REMOTE_ADDR="198.51.100.1"))  # the owner's code is still alive


def test_a_refused_registration_does_not_use_the_code_up(sms_mode, request_code, texted_code, register):
    request_code()
    code = texted_code()

    response = register(code, first_name="")

    assert response.status_code == 400
    assert response.json() == {"first_name": ["This field is required to register a new phone number."]}
    assert_logged_in(register(code))


def test_with_phone_verification_off_register_needs_no_code_and_ignores_one(settings, register):
    assert settings.PHONE_VERIFICATION == "off"

    assert_logged_in(register())
    assert_logged_in(register("000000", phone_number="+16502530002"), phone="+16502530002")
    assert_logged_in(register("", phone_number="+16502530003"), phone="+16502530003")


# A provider that fails


def test_a_code_that_could_not_be_sent_is_dead_and_the_phone_may_ask_again(sms_mode, broken_sender, settings, request_code, register):
    response = request_code()

    assert response.status_code == 503
    assert response.json() == {"detail": "The verification code could not be sent. Please try again later."}
    leaked = code_in(broken_sender[0].body)  # as if the provider had delivered it after all
    refused = register(leaked)
    assert (refused.status_code, refused.json()) == (400, INVALID)
    settings.SMS_BACKEND = "locmem"
    assert request_code().status_code == 200  # the failure started no cooldown
    assert request_code().status_code == 429  # but this success did


def test_a_backend_failing_in_any_other_way_is_a_503_and_leaves_no_live_code(sms_mode, settings, request_code, caplog):
    settings.SMS_BACKEND = "tests.otp_fixtures.CrashingSender"

    response = request_code()

    assert response.status_code == 503
    assert response.json() == {"detail": "The verification code could not be sent. Please try again later."}
    assert "hunter2" not in caplog.text
    settings.SMS_BACKEND = "locmem"
    assert request_code().status_code == 200  # the failed code started no cooldown


# Two requests with one code


@pytest.mark.postgres
def test_concurrent_registers_with_one_code_give_exactly_one_token(live_server, sms_mode, texted_code):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    status, _, _ = call(live_server.url, "POST", "/api/auth/otp/request", json.dumps({"phone_number": PHONE}).encode())
    assert status == 200
    body = json.dumps({"phone_number": PHONE, "first_name": "Ada", "code": texted_code()}).encode()
    start = threading.Barrier(6)
    answers = []

    def register():
        start.wait()
        status, _, content = call(live_server.url, "POST", "/api/auth/register", body)
        answers.append((status, json.loads(content)))

    threads = [threading.Thread(target=register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(status for status, _ in answers) == [200, 400, 400, 400, 400, 400]
    assert [body for status, body in answers if status == 400] == [INVALID] * 5
    assert User.objects.filter(phone_number=PHONE).count() == 1
    assert AuditToken.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("earlier_code", [False, True], ids=["new phone", "phone with an earlier code"])
def test_concurrent_code_requests_send_exactly_one_text(live_server, sms_outbox, earlier_code):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    if earlier_code:
        PhoneVerification.objects.create(phone_number=PHONE, sent_at=timezone.now() - timedelta(hours=2))
    body = json.dumps({"phone_number": PHONE}).encode()
    start = threading.Barrier(4)
    statuses = []

    def ask():
        start.wait()
        statuses.append(call(live_server.url, "POST", "/api/auth/otp/request", body)[0])

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200, 429, 429, 429]
    assert len(sms_outbox) == 1
    assert PhoneVerification.objects.filter(phone_number=PHONE).count() == 1


# Configuration


def kriya_checks(deploy=False) -> dict[str, str]:
    return {m.id: m.msg for m in run_checks(include_deployment_checks=deploy) if m.id and m.id.startswith("kriya.")}


def test_check_deploy_warns_when_production_runs_without_phone_verification(settings):
    settings.DEBUG = False
    settings.PHONE_VERIFICATION = "off"

    assert kriya_checks(deploy=True)["kriya.W001"] == (
        "PHONE_VERIFICATION=off: anyone who knows a phone number can log in as its owner."
    )
    assert "kriya.W001" not in kriya_checks(deploy=False)


def test_check_deploy_warns_when_codes_would_only_reach_the_log(settings):
    settings.DEBUG = False
    settings.PHONE_VERIFICATION = "sms"
    settings.SMS_BACKEND = "console"

    checks = kriya_checks(deploy=True)

    assert "kriya.W001" not in checks
    assert checks["kriya.W002"] == "SMS_BACKEND=console texts nobody: users never receive their codes."


def test_check_deploy_is_quiet_with_sms_verification_and_a_real_provider(settings):
    settings.DEBUG = False
    settings.PHONE_VERIFICATION = "sms"
    settings.SMS_BACKEND = "webhook"
    settings.SMS_WEBHOOK_URL = "https://sms.example.com/send"

    assert not {"kriya.W001", "kriya.W002"} & set(kriya_checks(deploy=True))


def test_the_default_settings_pass_the_checks():
    assert not [check_id for check_id in kriya_checks() if check_id.startswith("kriya.E02")]


@pytest.mark.parametrize(
    "overrides, check_id, message",
    [
        ({"PHONE_VERIFICATION": "yes"}, "kriya.E020", "PHONE_VERIFICATION must be off or sms, not 'yes'."),
        ({"SMS_BACKEND": "nowhere.Sender"}, "kriya.E021",
         "SMS_BACKEND 'nowhere.Sender' is neither an alias (console, locmem, twilio, webhook) nor an importable class."),
        ({"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "", "TWILIO_FROM_NUMBER": "",
          "TWILIO_MESSAGING_SERVICE_SID": ""}, "kriya.E022",
         "SMS_BACKEND=twilio needs TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID."),
        ({"SMS_BACKEND": "webhook", "SMS_WEBHOOK_URL": ""}, "kriya.E023",
         "SMS_BACKEND=webhook needs SMS_WEBHOOK_URL, an http(s) URL."),
        ({"THROTTLE_RATES": {"otp_ip": "10 per minute"}}, "kriya.E024",
         "THROTTLE_RATES: otp_ip='10 per minute' is not a rate like 10/min or none."),
        ({"THROTTLE_RATES": {"otp": "10/min"}}, "kriya.E024",
         "THROTTLE_RATES: unknown scope 'otp' (known: register_ip, register_phone, otp_ip, otp_phone, otp_country, otp_prefix, user, refresh_ip, refresh_session, account_ip)."),
        ({"OTP_ALLOWED_REGIONS": ["IN", "XX"]}, "kriya.E025",
         "OTP_ALLOWED_REGIONS: unknown region code(s) XX (e.g. IN, US)."),
        ({"OTP_MAX_ATTEMPTS": 0}, "kriya.E026", "OTP_MAX_ATTEMPTS must be at least 1."),
        ({"OTP_SECRET": "short-otp-secret"}, "kriya.E027", "OTP_SECRET must be at least 32 characters long (or empty)."),
    ],
)
def test_settings_that_cannot_work_fail_the_checks_naming_the_variable(settings, overrides, check_id, message):
    for name, value in overrides.items():
        setattr(settings, name, value)

    assert kriya_checks()[check_id] == message


def test_migrate_creates_the_shared_cache_table(settings):
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    assert settings.CACHES["default"]["LOCATION"] in connection.introspection.table_names()
