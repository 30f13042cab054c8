"""SMS senders (SMS_BACKEND): console, locmem, and Twilio and a webhook against a local HTTP server."""

import base64
import io
import json
import time
from urllib.parse import parse_qs

import pytest

from accounts import sms
from accounts.models import User
from tests.chaos import Trickler
from tests.otp_fixtures import code_in
from tests.servers import free_port

pytestmark = pytest.mark.django_db  # throttles and codes live in the database

PHONE = "+16502530001"
SENT = {"success": True, "message": "Verification code sent", "expires_in": 300, "resend_after": 60}
UNAVAILABLE = {"detail": "The verification code could not be sent. Please try again later."}
INVALID = {"detail": "Invalid or expired code"}
TWILIO_PATH = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"


def send(body="123456 is your code"):
    sms.send_sms(to=PHONE, body=body)


def register_with(api_client, code):
    return api_client.post("/api/auth/register", {"phone_number": PHONE, "first_name": "Ada", "code": code})


# Choosing a sender


@pytest.mark.parametrize(
    "name, cls",
    [
        ("console", sms.ConsoleBackend),
        ("locmem", sms.LocmemBackend),
        ("twilio", sms.TwilioBackend),
        ("webhook", sms.WebhookBackend),
        ("accounts.sms.LocmemBackend", sms.LocmemBackend),
    ],
)
def test_sms_backend_is_an_alias_or_a_dotted_path(settings, name, cls):
    settings.SMS_BACKEND = name

    assert sms.backend_class() is cls


def test_the_console_sender_prints_the_text_so_make_run_needs_no_account(settings, capsys, request_code):
    settings.SMS_BACKEND = "console"

    response = request_code()

    assert (response.status_code, response.json()) == (200, SENT)
    printed = capsys.readouterr().out
    assert printed.startswith(f"SMS to {PHONE}: ") and code_in(printed)


def test_the_console_sender_writes_one_line_per_text():
    stream = io.StringIO()

    sms.ConsoleBackend(stream).send_messages([sms.SmsMessage("+16502530001", "a"), sms.SmsMessage("+919876543210", "b")])

    assert stream.getvalue() == "SMS to +16502530001: a\nSMS to +919876543210: b\n"


def test_the_locmem_sender_keeps_texts_in_the_outbox(sms_outbox):
    send("first")
    send("second")

    assert sms_outbox == [sms.SmsMessage(PHONE, "first"), sms.SmsMessage(PHONE, "second")]


# Twilio


def test_twilio_gets_a_form_post_with_basic_auth(twilio):
    send("123456 is your code")

    [request] = twilio.requests
    assert request["path"] == TWILIO_PATH
    credentials = base64.b64decode(request["headers"]["Authorization"].removeprefix("Basic ")).decode()
    assert credentials == "AC0123456789abcdef0123456789abcdef:twilio-auth-token-for-tests"
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request["body"]) == {"To": [PHONE], "From": ["+15005550006"], "Body": ["123456 is your code"]}


def test_twilio_can_send_from_a_messaging_service_instead_of_a_number(twilio, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG0123456789abcdef0123456789abcdef"

    send("hello")

    assert parse_qs(twilio.requests[0]["body"]) == {
        "To": [PHONE], "MessagingServiceSid": ["MG0123456789abcdef0123456789abcdef"], "Body": ["hello"]
    }


def test_the_whole_flow_through_twilio(twilio, settings, request_code, api_client):
    settings.PHONE_VERIFICATION = "sms"

    response = request_code()

    assert (response.status_code, response.json()) == (200, SENT)
    [text] = twilio.texts()
    assert register_with(api_client, code_in(text)).status_code == 200


@pytest.mark.parametrize(
    "status, body, error",
    [
        (400, {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
         "Twilio answered HTTP 400 (Twilio error 21211)"),
        (401, {"code": 20003, "message": "Authenticate", "status": 401}, "Twilio answered HTTP 401 (Twilio error 20003)"),
        (500, "<html>Internal Server Error</html>", "Twilio answered HTTP 500"),
        (302, "", "Twilio answered HTTP 302"),  # credentials are never sent on to another URL
    ],
)
def test_a_twilio_error_answer_is_an_sms_error_naming_the_status(twilio, status, body, error):
    twilio.answer(status, body)

    with pytest.raises(sms.SmsError) as raised:
        send()

    assert str(raised.value) == error
    assert len(twilio.requests) == 1


def test_a_twilio_that_does_not_answer_in_sms_timeout_seconds_is_an_sms_error(twilio, settings):
    settings.SMS_TIMEOUT_SECONDS = 0.3
    twilio.answer(201, {"sid": "SM1"}, delay=3)

    started = time.monotonic()
    with pytest.raises(sms.SmsError) as raised:
        send()

    assert time.monotonic() - started < 2
    assert str(raised.value) == "Twilio could not be reached: timed out"


def test_an_unreachable_twilio_is_an_sms_error(twilio, settings):
    settings.TWILIO_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    with pytest.raises(sms.SmsError) as raised:
        send()

    assert str(raised.value).startswith("Twilio could not be reached: ")


@pytest.mark.parametrize("status, delay", [(500, 0), (400, 0), (201, 3)])
def test_when_twilio_fails_the_caller_gets_503_and_the_code_is_dead(twilio, settings, request_code, api_client, status, delay):
    settings.PHONE_VERIFICATION = "sms"
    settings.SMS_TIMEOUT_SECONDS = 0.3
    twilio.answer(status, {"code": 30001, "message": "Queue overflow"}, delay=delay)

    response = request_code()

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    sent_anyway = code_in(twilio.texts()[0])  # the provider saw it, and might deliver it late
    refused = register_with(api_client, sent_anyway)
    assert (refused.status_code, refused.json()) == (400, INVALID)
    assert not User.objects.exists()


def test_twilio_errors_are_logged_without_the_code(twilio, caplog, request_code):
    twilio.answer(400, {"code": 21211, "message": "The 'To' number +16502530001 is not valid."})

    request_code()

    code = code_in(twilio.texts()[0])
    assert "Verification code not sent: Twilio answered HTTP 400 (Twilio error 21211)" in caplog.text
    assert code not in caplog.text


# Webhook


def test_the_webhook_gets_json_with_a_bearer_secret(webhook):
    send("123456 is your code")

    [request] = webhook.requests
    assert request["path"] == "/sms"
    assert request["headers"]["Authorization"] == "Bearer webhook-secret-for-tests"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"to": PHONE, "body": "123456 is your code"}


def test_the_whole_flow_through_the_webhook(webhook, settings, request_code, api_client):
    settings.PHONE_VERIFICATION = "sms"
    webhook.answer(204, "")

    assert (request_code().status_code, request_code().status_code) == (200, 429)
    [text] = webhook.texts()
    assert register_with(api_client, code_in(text)).status_code == 200


@pytest.mark.parametrize("status, error", [(500, "SMS webhook answered HTTP 500"), (403, "SMS webhook answered HTTP 403")])
def test_a_webhook_error_answer_is_an_sms_error(webhook, status, error):
    webhook.answer(status, {"error": "no"})

    with pytest.raises(sms.SmsError) as raised:
        send()

    assert str(raised.value) == error


def test_a_webhook_that_does_not_answer_in_sms_timeout_seconds_is_an_sms_error(webhook, settings):
    settings.SMS_TIMEOUT_SECONDS = 0.3
    webhook.answer(200, {}, delay=3)

    started = time.monotonic()
    with pytest.raises(sms.SmsError) as raised:
        send()

    assert time.monotonic() - started < 2
    assert str(raised.value) == "SMS webhook could not be reached: timed out"


@pytest.mark.parametrize("status, delay", [(500, 0), (201, 3)])
def test_when_the_webhook_fails_the_caller_gets_503_and_may_ask_again(webhook, settings, request_code, status, delay):
    settings.SMS_TIMEOUT_SECONDS = 0.3
    webhook.answer(status, {}, delay=delay)

    failed = request_code()

    assert (failed.status_code, failed.json()) == (503, UNAVAILABLE)
    webhook.answer(200, {})
    retried = request_code()
    assert (retried.status_code, retried.json()) == (200, SENT)


def test_a_provider_that_trickles_its_answer_is_cut_off_at_the_total_deadline(settings, request_code, api_client):
    """SMS_TIMEOUT_SECONDS bounds the whole exchange, not each read: a byte every 0.2 s never finishes."""
    settings.PHONE_VERIFICATION = "sms"
    settings.SMS_TIMEOUT_SECONDS = 0.8
    with Trickler(interval=0.2, limit=10) as trickler:
        settings.SMS_BACKEND, settings.SMS_WEBHOOK_URL = "webhook", trickler.url
        started = time.monotonic()
        response = request_code()
        elapsed = time.monotonic() - started

    assert (response.status_code, response.json()) == (503, UNAVAILABLE)
    assert 0.7 < elapsed < 1.5
    refused = register_with(api_client, code_in(trickler.bodies[0]))  # the provider got it, and may deliver it late
    assert (refused.status_code, refused.json()) == (400, INVALID)
