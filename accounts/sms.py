"""SMS senders picked by SMS_BACKEND, like Django's EMAIL_BACKEND. No DRF here: callers translate SmsError."""

import base64
import json
import sys
import threading
import urllib.parse
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

from . import outbound


ALIASES = {
    "console": "accounts.sms.ConsoleBackend",
    "locmem": "accounts.sms.LocmemBackend",
    "twilio": "accounts.sms.TwilioBackend",
    "webhook": "accounts.sms.WebhookBackend",
}

# What the locmem backend sent, oldest first, like django.core.mail.outbox. Tests clear it.
outbox: list["SmsMessage"] = []


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str


class SmsError(Exception):
    """The provider did not take the message. The text names the provider and why, never the message body."""


def backend_class(name: str | None = None) -> type:
    path = name or settings.SMS_BACKEND
    return import_string(ALIASES.get(path, path))


def send_sms(*, to: str, body: str) -> None:
    """Send one text through the configured backend, or raise SmsError."""
    backend_class()().send_messages([SmsMessage(to=to, body=body)])


class BaseSmsBackend:
    def send_messages(self, messages: list[SmsMessage]) -> int:
        """Send every message, or raise SmsError at the first that fails; return how many were sent."""
        raise NotImplementedError


class ConsoleBackend(BaseSmsBackend):
    """Development: print each text so `make run` works with no SMS account. It shows the code: never in production."""

    _lock = threading.Lock()

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send_messages(self, messages: list[SmsMessage]) -> int:
        with self._lock:
            for message in messages:
                self.stream.write(f"SMS to {message.to}: {message.body}\n")
            self.stream.flush()
        return len(messages)


class LocmemBackend(BaseSmsBackend):
    """Tests: keep each text in accounts.sms.outbox."""

    def send_messages(self, messages: list[SmsMessage]) -> int:
        outbox.extend(messages)
        return len(messages)


@dataclass(frozen=True)
class HttpPost:
    url: str
    body: bytes
    headers: dict[str, str]


class HttpBackend(BaseSmsBackend):
    """One POST per message within SMS_TIMEOUT_SECONDS in all (wall-clock: accounts/outbound.py); anything but a
    2xx answer is an SmsError. Redirects are not followed: credentials go to the configured URL only."""

    provider = "SMS provider"

    def send_messages(self, messages: list[SmsMessage]) -> int:
        for message in messages:
            self.post(self.request_for(message))
        return len(messages)

    def request_for(self, message: SmsMessage) -> "HttpPost":
        raise NotImplementedError

    def post(self, request: "HttpPost") -> None:
        try:
            status, body = outbound.post(request.url, request.body, request.headers, timeout=settings.SMS_TIMEOUT_SECONDS)
        except outbound.Unreachable as error:
            raise SmsError(f"{self.provider} could not be reached: {error}") from None
        if not 200 <= status < 300:
            raise SmsError(f"{self.provider} answered HTTP {status}{self.error_code(body)}")

    def error_code(self, body: bytes) -> str:
        return ""


class TwilioBackend(HttpBackend):
    """Twilio's Messages API: POST {TWILIO_API_BASE}/2010-04-01/Accounts/{SID}/Messages.json."""

    provider = "Twilio"

    def request_for(self, message: SmsMessage) -> HttpPost:
        sid = settings.TWILIO_ACCOUNT_SID
        fields = {"To": message.to, "Body": message.body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            fields["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            fields["From"] = settings.TWILIO_FROM_NUMBER
        credentials = base64.b64encode(f"{sid}:{settings.TWILIO_AUTH_TOKEN}".encode()).decode("ascii")
        url = f"{settings.TWILIO_API_BASE.rstrip('/')}/2010-04-01/Accounts/{urllib.parse.quote(sid)}/Messages.json"
        return HttpPost(
            url,
            urllib.parse.urlencode(fields).encode(),
            {
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )

    def error_code(self, body: bytes) -> str:
        """Twilio's own error number (e.g. 21211, invalid To), which its docs explain; not its message."""
        try:
            code = json.loads(body).get("code")
        except (ValueError, AttributeError, OSError):
            return ""
        return f" (Twilio error {code})" if isinstance(code, int) else ""


class WebhookBackend(HttpBackend):
    """POST {"to", "body"} as JSON to SMS_WEBHOOK_URL with Authorization: Bearer SMS_WEBHOOK_SECRET."""

    provider = "SMS webhook"

    def request_for(self, message: SmsMessage) -> HttpPost:
        headers = {"Content-Type": "application/json"}
        if settings.SMS_WEBHOOK_SECRET:
            headers["Authorization"] = f"Bearer {settings.SMS_WEBHOOK_SECRET}"
        body = json.dumps({"to": message.to, "body": message.body}).encode()
        return HttpPost(settings.SMS_WEBHOOK_URL, body, headers)
