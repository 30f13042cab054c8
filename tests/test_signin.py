"""The hosted sign-in pages in this process: what they ask, every error as a message on the page, the headers
that keep them safe, Hindi, and the browser's Kriya session (remember, single sign-on, not you?, revocation)."""

import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from accounts.models import Session, User
from tests.oidc_fixtures import OTHER_REDIRECT_URI, callback_params, error_text
from tests.otp_fixtures import code_in

pytestmark = pytest.mark.django_db
PHONE = "+919876543210"


def at_code_page(rp, browser=None, phone="98765 43210"):
    """A browser on the code page of a sign-in for rp; (browser, the authorize path)."""
    browser = browser or Client()
    path, _ = rp.authorize_path()
    response = browser.get(path)
    assert browser.get(response.headers["Location"]).status_code == 200  # the sign-in page, with the way back
    response = browser.post("/signin", {"phone": phone})
    assert response.status_code == 302 and response.headers["Location"] == "/signin/code", error_text(response)
    return browser, path


def test_the_pages_are_framed_by_nobody_cached_by_nobody_and_run_only_kriyas_own_script(rp):
    browser = Client()
    browser.get(rp.authorize_path()[0])

    response = browser.get("/signin")

    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "no-store" in response.headers["Cache-Control"]
    html = response.content.decode()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from elsewhere
    assert re.search(r'<label for="phone">', html)
    assert re.search(r'<input id="phone" name="phone" type="tel" autocomplete="tel"', html)
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_code_page_asks_for_a_one_time_code_and_counts_down_to_a_resend(rp, sms_outbox):
    browser, _ = at_code_page(rp)

    html = browser.get("/signin/code").content.decode()

    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html
    assert re.search(r'id="resend" data-wait="(59|60)"', html)
    assert re.search(r'<span id="seconds">(59|60)</span>', html)
    assert "+9198***3210" in html and PHONE not in html  # the number, masked
    assert sms_outbox[-1].to == PHONE and "sign in" in sms_outbox[-1].body


def test_a_number_in_any_usual_format_reads_with_the_default_region(rp, sms_outbox, settings):
    settings.SIGNIN_DEFAULT_REGION = "US"
    at_code_page(rp, phone="(650) 253-0001")

    assert sms_outbox[-1].to == "+16502530001"


def test_the_code_is_always_asked_even_when_the_api_needs_none(rp, settings, sms_outbox, make_user):
    settings.PHONE_VERIFICATION = "off"
    make_user(PHONE)
    browser, path = at_code_page(rp)

    assert browser.get(path).headers["Location"].startswith("/signin")  # not signed in before the code
    assert len(sms_outbox) == 1


@pytest.mark.parametrize(("typed", "message"), [
    ("12", "Enter a valid phone number."),
    ("call me", "Enter a valid phone number."),
    ("", "Enter a valid phone number."),
])
def test_a_bad_number_is_a_message_on_the_page(rp, typed, message):
    browser = Client()
    browser.get(rp.authorize_path()[0])

    response = browser.post("/signin", {"phone": typed})

    assert response.status_code == 400 and error_text(response) == message
    assert 'aria-invalid="true"' in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_a_number_of_a_country_codes_are_not_sent_to(rp, settings, sms_outbox):
    settings.OTP_ALLOWED_REGIONS = ["US"]
    browser = Client()

    response = browser.post("/signin", {"phone": "+91 98765 43210"})

    assert error_text(response) == "Codes cannot be sent to numbers of this country."
    assert sms_outbox == []


def test_an_sms_provider_that_is_down_is_a_message_and_no_stack_trace(rp, broken_sender):
    response = Client().post("/signin", {"phone": "+91 98765 43210"})

    assert response.status_code == 503
    assert error_text(response) == "We could not send the text message just now. Please try again in a few minutes."
    assert "Traceback" not in response.content.decode() and response["Content-Type"].startswith("text/html")


def test_the_apis_rate_limits_apply_and_say_when_to_retry(rp, settings, sms_outbox):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "otp_ip": "1/hour"}
    Client().post("/signin", {"phone": "+91 98765 43210"})

    response = Client().post("/signin", {"phone": "+91 98765 43211"})

    assert response.status_code == 429
    assert re.fullmatch(r"Too many attempts\. Try again in \d+ minutes\.", error_text(response))
    assert len(sms_outbox) == 1


def test_a_resend_within_the_cooldown_says_how_long_to_wait_and_after_it_sends(rp, sms_outbox):
    browser, _ = at_code_page(rp)

    early = browser.post("/signin/code", {"action": "resend"})
    assert early.status_code == 429 and re.fullmatch(r"Too many attempts\. Try again in \d+ seconds\.", error_text(early))
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        later = browser.post("/signin/code", {"action": "resend"})
    assert later.status_code == 302 and len(sms_outbox) == 2


def test_a_wrong_code_says_how_many_tries_are_left_then_that_none_are(rp, sms_outbox, settings):
    settings.OTP_MAX_ATTEMPTS_PER_REQUESTER = 5
    browser, _ = at_code_page(rp)
    wrong = "000000" if code_in(sms_outbox[-1].body) != "000000" else "111111"

    messages = [error_text(browser.post("/signin/code", {"code": wrong})) for _ in range(settings.OTP_MAX_ATTEMPTS)]

    assert messages[0] == "That code is not right. You have 4 tries left."
    assert messages[3] == "That code is not right. You have 1 try left."
    assert messages[4] == "Too many wrong codes. Request a new code."
    right = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})
    assert error_text(right) == "Too many wrong codes. Request a new code."


def test_an_expired_code_says_so(rp, sms_outbox, settings):
    browser, _ = at_code_page(rp)

    with time_machine.travel(timezone.now() + timedelta(seconds=settings.OTP_TTL_SECONDS + 1)):
        response = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})

    assert error_text(response) == "This code has expired. Request a new code."


def test_a_code_that_is_not_six_digits_is_a_message(rp, sms_outbox):
    browser, _ = at_code_page(rp)

    assert error_text(browser.post("/signin/code", {"code": "12ab"})) == "Enter the 6-digit code from the text message."


def test_a_disabled_account_is_told_so(rp, sms_outbox, make_user):
    make_user(PHONE, is_active=False)
    browser, _ = at_code_page(rp)

    response = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})

    assert response.status_code == 403 and error_text(response) == "This account has been disabled."


def test_a_new_number_needs_a_first_name(rp, sms_outbox):
    browser, _ = at_code_page(rp)
    assert browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)}).headers["Location"] == "/signin/name"

    assert 'autocomplete="given-name"' in browser.get("/signin/name").content.decode()
    assert error_text(browser.post("/signin/name", {"first_name": "   "})) == "Enter your first name."
    assert browser.post("/signin/name", {"first_name": "Asha"}).headers["Location"].startswith("/oauth/authorize")
    assert User.objects.get(phone_number=PHONE).first_name == "Asha"


def test_the_name_page_needs_a_proven_number(rp):
    assert Client().get("/signin/name").headers["Location"] == "/signin"


def test_the_pages_speak_hindi_to_a_browser_that_asks_for_it(rp, sms_outbox):
    browser = Client(HTTP_ACCEPT_LANGUAGE="hi-IN,hi;q=0.9,en;q=0.5")
    browser.get(rp.authorize_path()[0])

    page = browser.get("/signin")
    html = page.content.decode()
    assert '<html lang="hi">' in html and "अपने फ़ोन से साइन इन करें" in html
    assert page.headers["Content-Language"] == "hi" and "Accept-Language" in page.headers["Vary"]
    assert error_text(browser.post("/signin", {"phone": "12"})) == "सही फ़ोन नंबर डालें।"

    browser.post("/signin", {"phone": "98765 43210"})
    assert "कोड डालें" in browser.get("/signin/code").content.decode()
    assert "साइन इन" in sms_outbox[-1].body  # the text too, in the page's language


def test_an_unsafe_next_is_ignored(sms_outbox, sign_in, rp):
    browser = Client()
    browser.get("/signin?next=https://evil.example/")
    browser.post("/signin", {"phone": PHONE})
    response = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})
    response = browser.post("/signin/name", {"first_name": "Asha"})

    assert response.headers["Location"] == "/signin/done"


def test_a_second_client_signs_in_without_a_new_code(sign_in, rp, make_rp, sms_outbox):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    other = make_rp("Grafana", OTHER_REDIRECT_URI)
    texts = len(sms_outbox)

    params = callback_params(browser.get(other.authorize_path()[0]))

    assert "code" in params and len(sms_outbox) == texts
    assert Session.objects.count() == 1  # one Kriya session, two relying parties


def test_remember_keeps_the_cookie_for_the_kriya_session_and_otherwise_until_the_browser_closes(sign_in, rp, settings):
    remembered, forgotten = Client(), Client()
    sign_in(remembered, rp.authorize_path()[0], remember=True)
    sign_in(forgotten, rp.authorize_path()[0], phone="+919876543211", remember=False)

    cookie = remembered.cookies[settings.SESSION_COOKIE_NAME]
    assert settings.SESSION_MAX_DAYS * 86400 - 60 < int(cookie["max-age"]) <= settings.SESSION_MAX_DAYS * 86400
    assert forgotten.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == ""


def test_a_revoked_kriya_session_signs_the_browser_out(sign_in, rp):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])

    Session.objects.all().revoke(reason="admin_revoked")

    response = browser.get(rp.authorize_path()[0])
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin?next=")


def test_not_you_signs_out_ends_the_session_and_keeps_the_relying_party(sign_in, rp, make_rp, sms_outbox):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    third = make_rp("Outline", OTHER_REDIRECT_URI, first_party=False)
    path, _ = third.authorize_path()
    assert "Not Asha? Sign out" in browser.get(path).content.decode()

    response = browser.post("/signin/signout")

    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    assert Session.objects.get().revoked_reason == "signed_out"
    assert browser.get(path).headers["Location"].startswith("/signin")


def test_a_staff_members_admin_login_is_not_a_sign_in_here(rp):
    staff = User.objects.create_superuser("+16502530009", password="a-strong-pass-for-the-test-1", first_name="Admin")
    browser = Client()
    browser.force_login(staff)
    assert browser.get("/admin/").status_code == 200

    response = browser.get(rp.authorize_path()[0])

    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")


def test_the_forms_need_their_csrf_token(rp):
    browser = Client(enforce_csrf_checks=True)
    browser.get("/signin")

    response = browser.post("/signin", {"phone": PHONE})

    assert response.status_code == 403


def test_the_sign_in_page_of_a_signed_in_browser_offers_not_you(sign_in, rp):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])

    html = browser.get("/signin").content.decode()

    assert "You are signed in" in html and "Not Asha? Sign out" in html


def test_a_person_typing_slowly_is_not_rushed(rp, sms_outbox):
    """The name page accepts the proven number for the code's lifetime."""
    browser, _ = at_code_page(rp)
    browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})

    with time_machine.travel(time.time() + 120):
        response = browser.post("/signin/name", {"first_name": "Asha"})

    assert response.headers["Location"].startswith("/oauth/authorize")


def test_prompt_login_asks_for_the_phone_again_and_replaces_the_browsers_session(sign_in, rp, sms_outbox):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    first = Session.objects.get()

    response = browser.get(rp.authorize_path(prompt="login")[0])
    assert response.status_code == 302 and response.headers["Location"].startswith("/signin")
    page = browser.get(response.headers["Location"])
    assert 'id="phone"' in page.content.decode()  # the phone form, not "you are signed in"
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):  # past the resend cooldown
        assert browser.post("/signin", {"phone": PHONE}).headers["Location"] == "/signin/code"
        done = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})
        params = callback_params(browser.get(done.headers["Location"]))

    assert "code" in params
    first.refresh_from_db()
    assert first.revoked_reason == "signed_in_again"
    assert Session.objects.live().count() == 1


def test_a_browser_whose_session_was_revoked_keeps_the_way_back_to_the_relying_party(sign_in, rp, sms_outbox):
    browser = Client()
    sign_in(browser, rp.authorize_path()[0])
    Session.objects.all().revoke(reason="user_revoked")
    path, _ = rp.authorize_path()

    assert browser.get("/signin", {"next": path}).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        browser.post("/signin", {"phone": PHONE})
        done = browser.post("/signin/code", {"code": code_in(sms_outbox[-1].body)})

    assert done.headers["Location"] == path


def test_a_number_that_is_not_a_mobile_gets_no_code(rp, sms_outbox):
    response = Client().post("/signin", {"phone": "+91 11 2345 6789"})  # a Delhi landline

    assert response.status_code == 400 and error_text(response) == "Codes can only be sent to mobile numbers."
    assert sms_outbox == []


def test_a_spent_sms_budget_is_a_message_to_come_back_later(rp, sms_outbox, settings):
    settings.SMS_BUDGET_PER_HOUR = 1
    assert Client().post("/signin", {"phone": "+91 98765 43210"}).status_code == 302

    response = Client().post("/signin", {"phone": "+91 98765 43211"})

    assert response.status_code == 503
    assert error_text(response) == "Sign-in is unavailable for a moment. Try again in a minute."
    assert len(sms_outbox) == 1


def test_with_a_human_check_configured_the_pages_send_nothing_and_say_so(rp, sms_outbox, settings):
    settings.CAPTCHA_PROVIDER, settings.CAPTCHA_SECRET = "turnstile", "captcha-secret-for-the-test"

    response = Client().post("/signin", {"phone": "+91 98765 43210"})

    assert response.status_code == 503
    assert error_text(response) == "Sign-in from this page is not available right now. Please sign in from the app."
    assert sms_outbox == []
