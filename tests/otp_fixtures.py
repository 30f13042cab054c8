"""Fixtures for the OTP, SMS and throttling tests. Import them into a test module by name."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from accounts import sms


@pytest.fixture
def sms_outbox(settings):
    """The locmem sender's outbox, empty."""
    settings.SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()


@pytest.fixture
def sms_mode(settings, sms_outbox):
    """PHONE_VERIFICATION=sms with codes sent to the locmem outbox."""
    settings.PHONE_VERIFICATION = "sms"
    return sms_outbox


@pytest.fixture
def request_code(api_client):
    def request_code(phone_number="+16502530001", **extra):
        return api_client.post("/api/auth/otp/request", {"phone_number": phone_number}, **extra)

    return request_code


def code_in(body: str) -> str:
    return re.search(r"\b([0-9]{6})\b", body).group(1)


@pytest.fixture
def texted_code(sms_outbox):
    """The code in the last text sent to a phone."""

    def texted_code(phone_number="+16502530001"):
        bodies = [message.body for message in sms_outbox if message.to == phone_number]
        assert bodies, f"no text was sent to {phone_number}"
        return code_in(bodies[-1])

    return texted_code


class FakeProvider:
    """An HTTP server on 127.0.0.1 standing in for an SMS provider: records requests, answers as told."""

    def __init__(self):
        self.requests = []
        self.status, self.body, self.delay = 201, b'{"sid": "SM0001"}', 0.0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                provider.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length).decode()}
                )
                time.sleep(provider.delay)
                try:
                    self.send_response(provider.status)
                    if provider.status in (301, 302, 307):
                        self.send_header("Location", f"http://127.0.0.1:{provider.port}/elsewhere")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(provider.body)))
                    self.end_headers()
                    self.wfile.write(provider.body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def answer(self, status: int, body: dict | str = "", delay: float = 0.0):
        self.status, self.delay = status, delay
        self.body = (json.dumps(body) if isinstance(body, dict) else body).encode()

    def texts(self) -> list[str]:
        """Every message body the provider was sent."""
        return [json.loads(r["body"])["body"] if r["body"].startswith("{") else parse_qs(r["body"])["Body"][0]
                for r in self.requests]


@pytest.fixture
def provider():
    fake = FakeProvider()
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()


@pytest.fixture
def twilio(settings, provider):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE = provider.url
    settings.TWILIO_ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
    settings.TWILIO_AUTH_TOKEN = "twilio-auth-token-for-tests"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.SMS_TIMEOUT_SECONDS = 0.5
    return provider


@pytest.fixture
def webhook(settings, provider):
    settings.SMS_BACKEND = "webhook"
    settings.SMS_WEBHOOK_URL = provider.url + "/sms"
    settings.SMS_WEBHOOK_SECRET = "webhook-secret-for-tests"
    settings.SMS_TIMEOUT_SECONDS = 0.5
    return provider


class BrokenSender(sms.BaseSmsBackend):
    """A provider that takes the message and then fails: what it was sent is kept in .attempted."""

    attempted: list[sms.SmsMessage] = []

    def send_messages(self, messages):
        BrokenSender.attempted.extend(messages)
        raise sms.SmsError("Broken provider answered HTTP 500")


@pytest.fixture
def broken_sender(settings):
    settings.SMS_BACKEND = "tests.otp_fixtures.BrokenSender"
    BrokenSender.attempted.clear()
    yield BrokenSender.attempted
    BrokenSender.attempted.clear()


class CrashingSender(sms.BaseSmsBackend):
    """A custom backend that fails with something other than SmsError, quoting a credential."""

    def send_messages(self, messages):
        raise ValueError("nonnumeric port: 'hunter2@sms.example.com'")
