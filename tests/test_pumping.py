"""SMS pumping: only mobile numbers get codes; per-IP, per-country, per-prefix and whole-service limits on texts;
the optional human check; texts sent vs codes verified per country, in /metrics and on the staff console."""

import itertools
import json
import logging
import re
import subprocess
import sys
import threading
from urllib.parse import parse_qs
from xml.etree import ElementTree

import pytest
from django.core.checks import run_checks
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import SmsHourlyCount, ThrottleCount, User
from accounts.tokens import issue_token
from tests.servers import REPO, call, free_port, production_env

pytestmark = pytest.mark.django_db  # codes and the counts live in the database

HOUR_START = "2026-11-26 10:00:00+00:00"  # the hour's and the day's windows are aligned to the clock
SENT = {"success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}
NOT_MOBILE = "Codes can only be sent to mobile numbers; this is {}."


@pytest.fixture(autouse=True)
def hour_start(time_machine):
    """Each test starts as an hour does (10:00 UTC), so a whole hour's window lies ahead."""
    time_machine.move_to(HOUR_START, tick=True)
    return time_machine


@pytest.fixture
def rates(settings):
    def rates(**scopes):
        settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, **scopes}

    return rates


@pytest.fixture
def change_phone(api_client, make_user):
    """POST /api/auth/user/phone, each time as a new account (its current number is texted too, and may take only
    a few codes an hour), numbered +1 650 3nn …: prefixes of their own."""
    accounts = itertools.count(100)

    def change_phone(phone_number, **fields):
        token = issue_token(make_user(us_number(next(accounts)))).token
        return api_client.post("/api/auth/user/phone", {"phone_number": phone_number, **fields},
                               HTTP_AUTHORIZATION=f"Bearer {token}")

    return change_phone


def us_number(n: int) -> str:
    """A valid US number in its own 7-digit prefix (+1650 2nn …): the prefix limit never joins in."""
    return f"+1650{200 + n:03d}{1000 + n:04d}"


def scrape(api_client) -> dict:
    samples = {}
    for family in text_string_to_metric_families(api_client.get("/metrics").content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


@pytest.fixture
def counted(api_client):
    """How much a metric grew since the test began (the registry outlives tests); None if it has no series."""
    before = scrape(api_client)

    def counted(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        now = scrape(api_client)
        return now[key] - before.get(key, 0) if key in now else None

    return counted


# Only mobile numbers


@pytest.mark.parametrize("number, what", [
    ("+979 1234 56789", "an international premium-rate number"),
    ("+881 6 1234 5678", "a satellite number"),
    ("+1 900 555 0123", "a premium-rate number"),
    ("+1 800 555 0123", "a toll-free number"),
    ("+44 909 123 4567", "a premium-rate number"),
    ("+44 20 7183 8750", "a landline number"),
])
def test_numbers_that_are_not_mobile_get_a_400_naming_the_problem_and_no_text(number, what, request_code, change_phone,
                                                                             sms_outbox):
    for response in (request_code(number), change_phone(number)):
        assert (response.status_code, response.json()) == (400, {"phone_number": [NOT_MOBILE.format(what)]})
    assert sms_outbox == []
    assert not ThrottleCount.objects.filter(key__contains="otp_country").exists()  # nor counted against anything


@pytest.mark.parametrize("number", ["+16502530001", "+12025550142", "+44 7400 123456", "+91 70123 45678", "+33 6 12 34 56 78"])
def test_mobile_numbers_and_numbers_that_may_be_mobile_get_their_code(number, request_code, sms_outbox):
    assert (request_code(number).status_code, len(sms_outbox)) == (200, 1)


# Per IP, across every endpoint that texts


def test_from_one_ip_the_texts_of_every_endpoint_add_up_to_the_documented_hourly_limit(settings, request_code,
                                                                                     change_phone, sms_outbox):
    limit = int(settings.THROTTLE_RATES["otp_ip"].split("/")[0])
    assert settings.THROTTLE_RATES["otp_ip"] == f"{limit}/hour" and limit == 30  # the README's number
    answers = []
    for n in range(26):  # alternately a phone change (two texts: the new number, the current one) and a sign-in code
        answers.append((change_phone if n % 2 == 0 else request_code)(us_number(n)))

    assert [answer.status_code for answer in answers] == [200] * 20 + [429] * 6
    assert len(sms_outbox) == limit
    assert 3500 < int(answers[-1]["Retry-After"]) <= 3600
    assert request_code(us_number(50), REMOTE_ADDR="198.51.100.7").status_code == 200  # another client


def test_a_phone_change_counts_both_its_texts_against_the_same_ip_limit_as_otp_request(rates, request_code,
                                                                                        change_phone, sms_outbox):
    rates(otp_ip="4/hour")
    assert request_code(us_number(1)).status_code == 200
    assert change_phone(us_number(2)).status_code == 200  # texts 2 and 3
    assert change_phone(us_number(3)).status_code == 429  # its second text would be the 5th

    assert request_code(us_number(4)).status_code == 429  # the 5th request: refused before anything
    assert len(sms_outbox) == 3


def test_a_phone_change_from_a_number_that_cannot_take_texts_is_refused(api_client, make_user, sms_outbox):
    token = issue_token(make_user("+442071838750")).token  # registered with PHONE_VERIFICATION=off

    refused = api_client.post("/api/auth/user/phone", {"phone_number": us_number(1)}, HTTP_AUTHORIZATION=f"Bearer {token}")

    assert (refused.status_code, refused.json()) == (400, {"detail": "Codes can only be sent to mobile numbers; your "
                                                          "current number is a landline number. A staff member can "
                                                          "change it in the admin."})
    assert sms_outbox == []


def test_ipv6_clients_are_counted_per_64(rates, request_code, sms_outbox):
    rates(otp_ip="2/hour")
    assert request_code(us_number(1), REMOTE_ADDR="2001:db8:1:2::1").status_code == 200
    assert request_code(us_number(2), REMOTE_ADDR="2001:db8:1:2:a:b:c:d").status_code == 200

    refused = request_code(us_number(3), REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:ffff")

    assert refused.status_code == 429
    assert request_code(us_number(4), REMOTE_ADDR="2001:db8:1:3::1").status_code == 200  # the next /64
    assert ThrottleCount.objects.filter(key__startswith="throttle_otp_ip_2001:db8:1:2::/64:").get().hits == 3


def test_an_ipv4_mapped_ipv6_address_counts_as_its_ipv4_address(rates, request_code, sms_outbox):
    rates(otp_ip="1/hour")
    assert request_code(us_number(1), REMOTE_ADDR="192.0.2.5").status_code == 200

    assert request_code(us_number(2), REMOTE_ADDR="::ffff:192.0.2.5").status_code == 429


# Per country, per prefix


def test_texts_to_one_country_are_limited_and_other_countries_go_on(rates, request_code, sms_outbox):
    rates(otp_country="2/hour")
    assert request_code(us_number(1)).status_code == 200
    assert request_code(us_number(2)).status_code == 200

    refused = request_code(us_number(3))

    assert (refused.status_code, refused.json()) == (429, {
        "detail": "Too many codes were requested for phone numbers in this country. Expected available in 3600 seconds."})
    assert refused["Retry-After"] == "3600"
    assert request_code("+91 70123 45678").status_code == 200
    assert [message.to for message in sms_outbox] == [us_number(1), us_number(2), "+917012345678"]


def test_texts_to_one_number_prefix_are_limited(rates, settings, request_code, sms_outbox, hour_start):
    rates(otp_prefix="2/hour")
    assert settings.OTP_PREFIX_DIGITS == 7
    assert request_code("+1 650 253 0001").status_code == 200
    assert request_code("+1 650 253 0002").status_code == 200

    refused = request_code("+1 650 253 0003")

    assert (refused.status_code, refused.json()) == (429, {
        "detail": "Too many codes were requested for phone numbers like this one. Expected available in 3600 seconds."})
    assert request_code("+1 650 254 0003").status_code == 200  # 1650254: another prefix
    assert len(sms_outbox) == 3
    hour_start.move_to("2026-11-26 11:00:00+00:00")
    assert request_code("+1 650 253 0003").status_code == 200  # the next hour


def test_the_prefix_length_is_a_setting(rates, settings, request_code, sms_outbox):
    rates(otp_prefix="1/hour")
    settings.OTP_PREFIX_DIGITS = 4  # +1650…: the whole area code shares one limit
    assert request_code("+1 650 253 0001").status_code == 200

    assert request_code("+1 650 999 0001").status_code == 429
    assert request_code("+1 415 253 0001").status_code == 200


# The budget


def test_the_hourly_budget_trips_with_503_and_retry_after_logs_once_and_recovers_next_hour(
        settings, request_code, sms_outbox, hour_start, caplog, counted):
    settings.SMS_BUDGET_PER_HOUR = 3
    hour_start.move_to("2026-11-26 10:45:00+00:00", tick=False)
    assert [request_code(us_number(n)).status_code for n in range(3)] == [200, 200, 200]

    with caplog.at_level(logging.ERROR, logger="accounts.pumping"):
        refused = [request_code(us_number(n)) for n in range(3, 6)]

    for response in refused:
        assert (response.status_code, response.json()) == (503, {
            "detail": "Kriya has sent as many verification codes as it may this hour. Please try again later."})
        assert response["Retry-After"] == "900"  # 15 minutes to 11:00
    assert len(sms_outbox) == 3
    spent = [record.getMessage() for record in caplog.records if record.name == "accounts.pumping"]
    assert spent == ["SMS budget spent: SMS_BUDGET_PER_HOUR=3 codes texted this hour; code requests are refused "
                     "with 503 until it ends"]
    assert counted("kriya_sms_budget_refusals_total", window="hour") == 3

    hour_start.move_to("2026-11-26 11:00:00+00:00", tick=False)
    assert request_code(us_number(9)).status_code == 200
    assert len(sms_outbox) == 4


def test_the_daily_budget_holds_until_midnight_utc(settings, request_code, sms_outbox, hour_start):
    settings.SMS_BUDGET_PER_DAY = 2
    hour_start.move_to("2026-11-26 22:00:00+00:00", tick=False)
    assert [request_code(us_number(n)).status_code for n in range(2)] == [200, 200]
    hour_start.move_to("2026-11-26 23:30:00+00:00", tick=False)

    refused = request_code(us_number(2))

    assert (refused.status_code, refused["Retry-After"]) == (503, "1800")
    assert refused.json()["detail"].endswith("this day. Please try again later.")
    hour_start.move_to("2026-11-27 00:00:00+00:00", tick=False)
    assert request_code(us_number(2)).status_code == 200


def test_a_budget_of_zero_is_no_budget(settings, rates, request_code, sms_outbox):
    settings.SMS_BUDGET_PER_HOUR = settings.SMS_BUDGET_PER_DAY = 0
    rates(otp_ip="none")

    assert {request_code(us_number(n)).status_code for n in range(5)} == {200}
    assert not ThrottleCount.objects.filter(key__contains="sms_budget").exists()


def test_refused_requests_do_not_spend_the_budget(settings, rates, request_code, sms_outbox):
    settings.SMS_BUDGET_PER_HOUR = 2
    rates(otp_prefix="1/hour")
    assert request_code("+1 650 253 0001").status_code == 200
    assert request_code("+1 650 253 0002").status_code == 429  # the prefix, before the budget
    assert request_code("+1 800 555 0123").status_code == 400  # toll-free, before anything is counted

    assert request_code(us_number(1)).status_code == 200
    assert request_code(us_number(2)).status_code == 503


# check --deploy and the regions


def kriya_checks(deploy=False) -> dict[str, str]:
    return {m.id: m.msg for m in run_checks(include_deployment_checks=deploy) if m.id and m.id.startswith("kriya.")}


def production_sms(settings):
    settings.DEBUG = False
    settings.PHONE_VERIFICATION = "sms"
    settings.SMS_BACKEND = "webhook"
    settings.SMS_WEBHOOK_URL = "https://sms.example.com/send"


def test_check_deploy_refuses_sms_verification_to_every_country_unless_chosen(settings):
    production_sms(settings)
    settings.OTP_ALLOWED_REGIONS = []

    assert kriya_checks(deploy=True)["kriya.E060"] == (
        "PHONE_VERIFICATION=sms with OTP_ALLOWED_REGIONS empty: codes go to every country, so anyone can run up the "
        "SMS bill with texts to the most expensive destinations (SMS pumping).")
    assert "kriya.E060" not in kriya_checks()  # a deployment check only
    for allowed in (["*"], ["IN", "US"]):
        settings.OTP_ALLOWED_REGIONS = allowed
        assert "kriya.E060" not in kriya_checks(deploy=True)
    settings.DEBUG, settings.OTP_ALLOWED_REGIONS = True, []
    assert "kriya.E060" not in kriya_checks(deploy=True)


def test_manage_py_check_deploy_fails_naming_otp_allowed_regions():
    env = production_env(PHONE_VERIFICATION="sms", SMS_BACKEND="webhook", SMS_WEBHOOK_URL="https://sms.example.com/send",
                         OTP_ALLOWED_REGIONS="")
    refused = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=120)
    allowed = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, capture_output=True,
                             text=True, timeout=120, env={**env, "OTP_ALLOWED_REGIONS": "*"})

    assert refused.returncode != 0 and "kriya.E060" in refused.stderr and "OTP_ALLOWED_REGIONS" in refused.stderr
    assert "kriya.E060" not in allowed.stdout + allowed.stderr


def test_a_star_allows_every_country_and_a_list_only_its_own(settings, request_code, sms_outbox):
    settings.OTP_ALLOWED_REGIONS = ["*"]
    assert request_code("+91 70123 45678").status_code == 200

    settings.OTP_ALLOWED_REGIONS = ["US"]
    refused = request_code("+33 6 12 34 56 78")
    assert (refused.status_code, refused.json()) == (
        400, {"phone_number": ["Verification codes are sent only to phone numbers in: US."]})


@pytest.mark.parametrize("overrides, check_id, message", [
    ({"CAPTCHA_PROVIDER": "recaptcha"}, "kriya.E061",
     "CAPTCHA_PROVIDER must be turnstile or hcaptcha (or empty: off), not 'recaptcha'."),
    ({"CAPTCHA_PROVIDER": "turnstile", "CAPTCHA_SECRET": ""}, "kriya.E062", "CAPTCHA_PROVIDER=turnstile needs CAPTCHA_SECRET."),
    ({"CAPTCHA_PROVIDER": "hcaptcha", "CAPTCHA_SECRET": "s", "CAPTCHA_VERIFY_URL": "ftp://x"}, "kriya.E063",
     "CAPTCHA_VERIFY_URL must be an http(s) URL (or empty: the provider's own)."),
    ({"SMS_BUDGET_PER_HOUR": -1}, "kriya.E026", "SMS_BUDGET_PER_HOUR must be at least 0."),
    ({"OTP_PREFIX_DIGITS": 0}, "kriya.E026", "OTP_PREFIX_DIGITS must be at least 1."),
    ({"THROTTLE_RATES": {"otp_country": "lots"}}, "kriya.E024",
     "THROTTLE_RATES: otp_country='lots' is not a rate like 10/min or none."),
])
def test_pumping_settings_that_cannot_work_fail_the_checks(settings, overrides, check_id, message):
    for name, value in overrides.items():
        setattr(settings, name, value)

    assert kriya_checks()[check_id] == message


# The human check


@pytest.fixture(params=["turnstile", "hcaptcha"])
def captcha(request, settings, provider):
    """The provider's siteverify endpoint, stood in for by a local HTTP server."""
    settings.CAPTCHA_PROVIDER = request.param
    settings.CAPTCHA_SECRET = "captcha-secret-for-tests"
    settings.CAPTCHA_VERIFY_URL = provider.url + "/siteverify"
    settings.CAPTCHA_TIMEOUT_SECONDS = 0.5
    provider.answer(200, {"success": True, "error-codes": []})
    return provider


@pytest.fixture
def ask(api_client):
    """otp/request with more fields in the body (captcha_token)."""

    def ask(phone_number, remote_addr="127.0.0.1", **fields):
        return api_client.post("/api/auth/otp/request", {"phone_number": phone_number, **fields}, REMOTE_ADDR=remote_addr)

    return ask


def test_a_solved_captcha_lets_the_code_through_verified_server_side(captcha, ask, change_phone, sms_outbox, counted):
    sent = ask(us_number(1), captcha_token="solved-token-1", remote_addr="198.51.100.4")
    moved = change_phone(us_number(2), captcha_token="solved-token-2")

    assert (sent.status_code, sent.json()) == (200, SENT)
    assert moved.status_code == 200
    assert len(sms_outbox) == 3  # the phone change texts the new number and the current one
    assert [request["path"] for request in captcha.requests] == ["/siteverify", "/siteverify"]
    assert parse_qs(captcha.requests[0]["body"]) == {
        "secret": ["captcha-secret-for-tests"], "response": ["solved-token-1"], "remoteip": ["198.51.100.4"]}
    assert captcha.requests[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert counted("kriya_captcha_checks_total", result="passed") == 2


def test_a_captcha_the_provider_refuses_is_a_400_and_no_text(captcha, ask, sms_outbox, counted):
    captcha.answer(200, {"success": False, "error-codes": ["invalid-input-response"]})

    refused = ask(us_number(1), captcha_token="forged")

    assert (refused.status_code, refused.json()) == (
        400, {"captcha_token": ["The human check failed. Please solve it again."]})
    assert sms_outbox == []
    assert counted("kriya_captcha_checks_total", result="failed") == 1


@pytest.mark.parametrize("fields, message", [({}, "This field is required."),
                                             ({"captcha_token": ""}, "This field may not be blank.")])
def test_without_a_token_the_request_is_refused_before_the_provider_is_asked(captcha, ask, sms_outbox, fields, message):
    refused = ask(us_number(1), **fields)

    assert (refused.status_code, refused.json()) == (400, {"captcha_token": [message]})
    assert captcha.requests == [] and sms_outbox == []


@pytest.mark.parametrize("answer", [
    {"status": 200, "body": {"success": True}, "delay": 2.0},  # slower than CAPTCHA_TIMEOUT_SECONDS
    {"status": 500, "body": "upstream error"},
    {"status": 200, "body": "<html>not json</html>"},
    {"status": 200, "body": {"errors": []}},  # no verdict
], ids=["timeout", "http-500", "not-json", "no-verdict"])
def test_a_provider_that_gives_no_verdict_refuses_with_503_by_default(captcha, ask, sms_outbox, answer, caplog, counted):
    captcha.answer(**answer)

    refused = ask(us_number(1), captcha_token="token")

    assert (refused.status_code, refused.json()) == (
        503, {"detail": "The human check could not be verified. Please try again later."})
    assert refused["Retry-After"] == "30"
    assert sms_outbox == []
    assert "Captcha check not verified" in caplog.text and "captcha-secret-for-tests" not in caplog.text
    assert counted("kriya_captcha_checks_total", result="unavailable") == 1


def test_with_captcha_fail_open_a_provider_that_times_out_lets_the_code_through(captcha, ask, settings, sms_outbox):
    settings.CAPTCHA_FAIL_OPEN = True
    captcha.answer(200, {"success": False}, delay=2.0)  # its verdict comes too late to count

    assert ask(us_number(1), captcha_token="token").status_code == 200
    assert len(sms_outbox) == 1


def test_an_unreachable_provider_follows_the_fail_policy(settings, ask, sms_outbox):
    settings.CAPTCHA_PROVIDER, settings.CAPTCHA_SECRET = "turnstile", "captcha-secret-for-tests"
    settings.CAPTCHA_VERIFY_URL = f"http://127.0.0.1:{free_port()}/siteverify"  # nothing listens

    assert ask(us_number(1), captcha_token="token").status_code == 503
    settings.CAPTCHA_FAIL_OPEN = True
    assert ask(us_number(2), captcha_token="token").status_code == 200


def test_without_a_provider_no_token_is_needed_and_none_is_checked(settings, ask, sms_outbox):
    assert settings.CAPTCHA_PROVIDER == ""

    assert ask(us_number(1)).status_code == 200
    assert ask(us_number(2), captcha_token="anything").status_code == 200


def test_a_captcha_token_must_be_a_string_of_reasonable_length(captcha, ask, sms_outbox):
    assert ask(us_number(1), captcha_token=12345).json() == {"captcha_token": ["Must be a string."]}
    assert ask(us_number(1), captcha_token="x" * 4097).json() == {
        "captcha_token": ["Ensure this field has no more than 4096 characters."]}
    assert captcha.requests == []


# Conversion: texts sent vs codes verified, per country


def test_metrics_count_texts_and_verified_codes_per_country(sms_mode, api_client, request_code, texted_code, counted):
    us, india = "+16502530001", "+917012345678"
    assert request_code(us).status_code == 200
    assert request_code(india).status_code == 200
    signed_in = api_client.post("/api/auth/register", {"phone_number": us, "first_name": "Ada", "code": texted_code(us)})
    assert signed_in.status_code == 200

    assert counted("kriya_otp_texts_total", country="US") == 1
    assert counted("kriya_otp_verified_total", country="US") == 1
    assert counted("kriya_otp_texts_total", country="IN") == 1
    assert counted("kriya_otp_verified_total", country="IN") == 0  # a series at 0: the conversion alert sees it
    rows = {row.country: (row.sent, row.verified) for row in SmsHourlyCount.objects.all()}
    assert rows == {"US": (1, 1), "IN": (1, 0)}
    assert {row.hour_start for row in SmsHourlyCount.objects.all()} == {1795687200}  # 2026-11-26 10:00 UTC


def test_a_wrong_code_is_not_counted_as_verified(sms_mode, api_client, request_code, counted):
    assert request_code().status_code == 200

    wrong = api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada", "code": "000000"})

    assert wrong.status_code == 400
    assert counted("kriya_otp_verified_total", country="US") == 0
    assert SmsHourlyCount.objects.get().verified == 0


def test_the_hourly_counts_add_up_across_requests_in_one_row_per_hour_and_country(request_code, sms_outbox, hour_start):
    for n in range(3):
        assert request_code(us_number(n)).status_code == 200
    hour_start.move_to("2026-11-26 11:00:00+00:00")
    assert request_code(us_number(3)).status_code == 200

    assert sorted(SmsHourlyCount.objects.values_list("hour_start", "country", "sent")) == [
        (1795687200, "US", 3), (1795690800, "US", 1)]


# The staff console's front page


@pytest.fixture
def staff_client(client, settings, db):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    client.force_login(User.objects.create_superuser("+16502530009", "a-strong-pass-123", first_name="Admin"))
    return client


def dashboard_of(page: str) -> str:
    start = page.index('<div class="module kriya-dashboard" id="sms-dashboard">')
    return page[start:page.index('<div class="app-', start)]


def test_the_front_page_draws_texts_verified_conversion_budget_and_sign_ins(sms_mode, api_client, request_code,
                                                                             texted_code, staff_client, hour_start):
    hour_start.move_to("2026-11-23 08:30:00+00:00", tick=False)  # three days ago: in the 7 days, not the 24 hours
    assert request_code("+16502530005").status_code == 200
    hour_start.move_to("2026-11-26 10:30:00+00:00", tick=False)
    for number in ("+16502530001", "+16502540002", "+917012345678"):
        assert request_code(number).status_code == 200
    code = texted_code("+16502530001")
    assert api_client.post("/api/auth/register", {"phone_number": "+16502530001", "first_name": "Ada", "code": code}).status_code == 200

    response = staff_client.get("/admin/")

    assert response.status_code == 200
    board = dashboard_of(response.content.decode())
    charts = re.findall(r"<svg viewBox=.*?</svg>", board, re.S)
    assert len(charts) == 4
    for chart in charts:
        ElementTree.fromstring(chart)  # well-formed SVG
    labels = re.findall(r'<svg viewBox="0 0 240 90" role="img" aria-label="([^"]+)"', board)
    assert labels == ["Codes texted and verified, 24 hours: 3 texted, 1 verified in 24 hours",
                      "Codes texted and verified, 7 days: 4 texted, 1 verified in 7 days",
                      "Sign-ins, 24 hours: 1 sign-ins in 24 hours",
                      "Sign-ins, 7 days: 1 sign-ins in 7 days"]
    assert "<title>10:00–11:00 UTC: 3 texted, 1 verified</title>" in board
    assert "<title>Mon 23 Nov (UTC): 1 texted, 0 verified</title>" in board
    rows = {country: re.sub(r"<[^>]+>|\s+", " ", row).split() for country, row in
            re.findall(r'<tr class="country-(\w+)[^"]*">(.*?)</tr>', board, re.S)}
    assert rows == {"US": ["US", "2", "1", "50", "%", "3", "1", "33", "%"], "IN": ["IN", "1", "0", "0", "%", "1", "0", "0", "%"]}
    assert re.sub(r"\s+", " ", re.sub(r"<svg.*?</svg>", "", board, flags=re.S)).count("left") == 2
    assert "This hour: <strong>297</strong> of 300 left" in board
    assert "This day: <strong>2997</strong> of 3000 left" in board
    assert "http://" not in board and "https://" not in board  # nothing fetched from outside Kriya


def test_the_front_page_works_with_no_texts_and_no_budget(staff_client, settings):
    settings.SMS_BUDGET_PER_HOUR = settings.SMS_BUDGET_PER_DAY = 0

    board = dashboard_of(staff_client.get("/admin/").content.decode())

    assert "No codes texted in the last 7 days." in board
    assert "No SMS budget is set (SMS_BUDGET_PER_HOUR, SMS_BUDGET_PER_DAY)." in board
    assert len(re.findall(r"<svg viewBox=", board)) == 4


def test_a_country_whose_texts_are_rarely_verified_is_flagged(staff_client):
    SmsHourlyCount.objects.create(hour_start=1795687200, country="001", sent=40, verified=1)
    SmsHourlyCount.objects.create(hour_start=1795687200, country="US", sent=40, verified=35)

    board = dashboard_of(staff_client.get("/admin/").content.decode())

    assert '<tr class="country-001 low">' in board and "001 (non-geographic)" in board
    assert '<tr class="country-US">' in board
    assert board.index("country-001") < board.index("country-US")  # equal volume: ordered by code


def test_with_the_counts_in_redis_the_budget_trips_and_the_front_page_reads_what_is_left(
        settings, use_redis, redis_url, request_code, sms_outbox, staff_client):
    use_redis(redis_url)
    from django.core.cache import cache

    cache.clear()
    settings.SMS_BUDGET_PER_HOUR = 2
    assert [request_code(us_number(n)).status_code for n in range(3)] == [200, 200, 503]

    board = dashboard_of(staff_client.get("/admin/").content.decode())

    assert "This hour: <strong>0</strong> of 2 left" in board
    assert "This day: <strong>2998</strong> of 3000 left" in board  # the refused third was not counted for the day
    assert not ThrottleCount.objects.exists()  # nothing counted in the database
    cache.clear()


def test_the_front_page_still_answers_when_the_counts_store_is_down(use_redis, staff_client):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")

    board = dashboard_of(staff_client.get("/admin/").content.decode())

    assert "This hour: unknown (the rate-limit store cannot be reached)" in board


@pytest.mark.postgres
def test_parallel_requests_spend_the_budget_exactly_and_every_text_is_counted(live_server, settings, sms_outbox):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    settings.SMS_BUDGET_PER_HOUR = 8
    start = threading.Barrier(12)
    statuses = []

    def ask(n):
        start.wait()
        body = json.dumps({"phone_number": us_number(n)}).encode()
        statuses.append(call(live_server.url, "POST", "/api/auth/otp/request", body, {"X-Forwarded-For": f"192.0.2.{n}"})[0])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200] * 8 + [503] * 4
    assert len(sms_outbox) == 8
    assert SmsHourlyCount.objects.get(country="US").sent == 8


def test_the_deletion_code_request_takes_the_human_check_too(captcha, api_client, make_user, sms_outbox):
    token = issue_token(make_user(us_number(1))).token
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    refused = api_client.post("/api/auth/user/code", {"purpose": "delete_account"}, **bearer)
    sent = api_client.post("/api/auth/user/code", {"purpose": "delete_account", "captcha_token": "solved"}, **bearer)

    assert (refused.status_code, refused.json()) == (400, {"captcha_token": ["This field is required."]})
    assert sent.status_code == 200
    assert [message.to for message in sms_outbox] == [us_number(1)]
