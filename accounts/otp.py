"""One-time SMS codes. Only a keyed hash is stored; a phone's row lock orders every change to its code.

No DRF here: callers translate InvalidCode and TooManyCodes.
"""

import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from . import smscounts
from .models import PhoneVerification

CODE_DIGITS = 6
HOUR = 3600


class InvalidCode(Exception):
    """Wrong, expired, already used or out of attempts: the caller is told no more than that."""


class TooManyCodes(Exception):
    def __init__(self, reason: str, retry_after: int):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class IssuedCode:
    phone_number: str
    code: str
    sent_at: datetime
    expires_in: int  # seconds
    resend_after: int  # seconds


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(phone_number: str, code: str) -> str:
    """HMAC-SHA256 keyed by OTP_SECRET (or SECRET_KEY): a database reader cannot test the million codes."""
    secret = settings.OTP_SECRET or settings.SECRET_KEY
    return salted_hmac("kriya.otp", f"{phone_number}:{code}", secret=secret, algorithm="sha256").hexdigest()


def region_allowed(phone_number: str) -> bool:
    """Whether OTP_ALLOWED_REGIONS (* or empty: every country) lets a code be sent to this E.164 number."""
    allowed = settings.OTP_ALLOWED_REGIONS
    if not allowed or "*" in allowed:
        return True
    return phonenumbers.region_code_for_number(phonenumbers.parse(phone_number, None)) in allowed


def create_code(*, phone_number: str, now: datetime | None = None) -> IssuedCode:
    """Replace the phone's code with a new one, unless the resend cooldown or the hourly cap says wait."""
    now = now or timezone.now()
    resend = settings.OTP_RESEND_SECONDS
    with transaction.atomic():
        row, _ = PhoneVerification.objects.select_for_update().get_or_create(phone_number=phone_number)
        if row.sent_at is not None and (wait := (row.sent_at - now).total_seconds() + resend) > 0:
            raise TooManyCodes("Please wait before requesting another code.", retry_after=math.ceil(wait))
        recent = [sent for sent in row.recent_sends if sent > now.timestamp() - HOUR]
        if len(recent) >= settings.OTP_MAX_PER_HOUR:
            wait = min(recent) + HOUR - now.timestamp()
            raise TooManyCodes("Too many codes requested for this phone number.", retry_after=math.ceil(wait))
        code = generate_code()
        row.code_hash = hash_code(phone_number, code)
        row.sent_at = now
        row.expires_at = now + timedelta(seconds=settings.OTP_TTL_SECONDS)
        row.attempts = 0
        row.recent_sends = [*recent, now.timestamp()]
        row.save()
    return IssuedCode(phone_number, code, now, expires_in=settings.OTP_TTL_SECONDS, resend_after=resend)


def cancel_code(issued: IssuedCode) -> None:
    """Kill a code that could not be sent, and give back its place in the cooldown and the hourly cap."""
    with transaction.atomic():
        row = PhoneVerification.objects.select_for_update().get(phone_number=issued.phone_number)
        if not constant_time_compare(row.code_hash, hash_code(issued.phone_number, issued.code)):
            return  # already replaced or used
        row.code_hash = ""
        row.sent_at = row.expires_at = None
        row.recent_sends = [sent for sent in row.recent_sends if sent != issued.sent_at.timestamp()]
        row.save()


def check_code(*, phone_number: str, code: str, now: datetime | None = None) -> None:
    """Raise InvalidCode unless code is the phone's live code. A wrong guess is committed before the raise."""
    now = now or timezone.now()
    with transaction.atomic():
        row = PhoneVerification.objects.select_for_update().filter(phone_number=phone_number).first()
        if row is None or not row.code_hash or row.expires_at <= now or row.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise InvalidCode()
        right = constant_time_compare(row.code_hash, hash_code(phone_number, code))
        if not right:
            row.attempts += 1
            if row.attempts >= settings.OTP_MAX_ATTEMPTS:
                row.code_hash = ""  # dead: only a new request gives a usable code
            row.save(update_fields=["attempts", "code_hash"])
    if not right:
        raise InvalidCode()


def consume_code(*, phone_number: str, code: str, now: datetime | None = None) -> None:
    """Use the code up inside the caller's transaction; of two requests with the same code only one gets here."""
    now = now or timezone.now()
    # A conditional UPDATE: a second request waits on the first's row lock, then matches nothing.
    used = PhoneVerification.objects.filter(
        phone_number=phone_number,
        code_hash=hash_code(phone_number, code),
        expires_at__gt=now,
        attempts__lt=settings.OTP_MAX_ATTEMPTS,
    ).update(code_hash="", expires_at=None)
    if not used:
        raise InvalidCode()
    smscounts.record_verified(phone_number)  # the conversion signal: texts sent vs codes verified, per country
