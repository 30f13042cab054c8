"""One-time SMS codes. Only a keyed hash is stored; a phone's row lock orders every change to its code.

A code is bound to what it is for (its purpose is in the hash): a code asked to sign in cannot delete an account.
Requests and wrong guesses are also counted per requester (an IP, an IPv6 /64), so a stranger cannot use up a
number's codes or kill its owner's live code alone; wrong guesses per number are capped over 24 hours.

No DRF here: callers translate InvalidCode, TooManyCodes and TooManyGuesses.
"""

import hashlib
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from . import smscounts
from .models import PhoneVerification

CODE_DIGITS = 6
HOUR = 3600
DAY = 86400
MAX_BACKOFF_SECONDS = HOUR

SIGN_IN = "sign_in"
PHONE_CHANGE_OLD = "phone_change_old"  # the account's current number agrees to the move
PHONE_CHANGE_NEW = "phone_change_new"  # the new number is the caller's
DELETE_ACCOUNT = "delete_account"
PURPOSES = (SIGN_IN, PHONE_CHANGE_OLD, PHONE_CHANGE_NEW, DELETE_ACCOUNT)

# The code comes first, so phones offer it for autofill; the action is named, so a code is not read out to
# whoever asks for it "to sign in" when it would delete the account.
TEXTS = {
    SIGN_IN: _("%(code)s is your Kriya code to sign in. It expires in %(minutes)s min. Never share it."),
    PHONE_CHANGE_OLD: _("%(code)s is your Kriya code to move your account to a new phone number. It expires in "
                        "%(minutes)s min. If you did not ask for this, do not share it."),
    PHONE_CHANGE_NEW: _("%(code)s is your Kriya code to make this your account's phone number. It expires in "
                        "%(minutes)s min. Never share it."),
    DELETE_ACCOUNT: _("%(code)s is your Kriya code to delete your account. It expires in %(minutes)s min. "
                      "If you did not ask for this, do not share it."),
}


class InvalidCode(Exception):
    """Wrong, expired, already used, for another purpose or out of attempts: the caller is told no more than that."""

    def __init__(self, tries_left: int | None = None):
        super().__init__("Invalid or expired code")
        self.tries_left = tries_left  # wrong guesses this code still takes (None: no live code)


class TooManyCodes(Exception):
    def __init__(self, reason: str, retry_after: int):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class TooManyGuesses(TooManyCodes):
    """Guesses at this number's code are refused for now (this requester's share, the daily cap or back-off)."""


@dataclass(frozen=True)
class IssuedCode:
    phone_number: str
    code: str
    sent_at: datetime
    expires_in: int  # seconds
    resend_after: int  # seconds
    purpose: str = SIGN_IN
    test_number: bool = False  # OTP_TEST_NUMBERS: the fixed code, no text
    sent: bool = True  # False: nothing was texted (a test number, or an unknown number while sign-up is closed)


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def hash_code(phone_number: str, code: str, purpose: str = SIGN_IN) -> str:
    """HMAC-SHA256 keyed by OTP_SECRET (or SECRET_KEY): a database reader cannot test the million codes.
    The purpose is in the hash: a code matches only for what it was asked for."""
    secret = settings.OTP_SECRET or settings.SECRET_KEY
    return salted_hmac("kriya.otp", f"{purpose}:{phone_number}:{code}", secret=secret, algorithm="sha256").hexdigest()


def requester_for(ip: str | None) -> str | None:
    """Who asked, as counted for limits: the IPv4 address or the IPv6 /64 (one subscriber), hashed."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if address.version == 6:
        mapped = address.ipv4_mapped  # ::ffff:203.0.113.7 is that IPv4 client
        network = str(mapped) if mapped else str(ipaddress.ip_network(f"{address}/64", strict=False))
    else:
        network = str(address)
    return hashlib.sha256(network.encode()).hexdigest()[:16]


def region_allowed(phone_number: str) -> bool:
    """Whether OTP_ALLOWED_REGIONS (* or empty: every country) lets a code be sent to this E.164 number."""
    allowed = settings.OTP_ALLOWED_REGIONS
    if not allowed or "*" in allowed:
        return True
    return phonenumbers.region_code_for_number(phonenumbers.parse(phone_number, None)) in allowed


def text_for(issued: IssuedCode, language: str | None = None) -> str:
    """The SMS of a code: the code first, the action named, and the domain-bound line where configured."""
    minutes = max(1, issued.expires_in // 60)
    with translation.override(language or settings.LANGUAGE_CODE):
        body = str(TEXTS[issued.purpose]) % {"code": issued.code, "minutes": minutes}
    if settings.OTP_SMS_DOMAIN:  # WebOTP / iOS: the code is offered only on this site
        body += f"\n\n@{settings.OTP_SMS_DOMAIN} #{issued.code}"
    return body


def _recent(entries: list, since: float) -> list[tuple[float, str | None]]:
    """[(epoch, requester)] after since; rows written before requesters were kept hold bare numbers."""
    recent = []
    for entry in entries:
        when, who = (entry, None) if isinstance(entry, (int, float)) else (entry[0], entry[1])
        if when > since:
            recent.append((when, who))
    return recent


def create_code(*, phone_number: str, purpose: str = SIGN_IN, requester: str | None = None, code: str | None = None,
                now: datetime | None = None) -> IssuedCode:
    """Replace the phone's code with a new one for purpose, unless the resend cooldown or an hourly cap says wait.
    code: a fixed code (a test number) instead of a random one."""
    now = now or timezone.now()
    resend = settings.OTP_RESEND_SECONDS
    with transaction.atomic():
        row, _ = PhoneVerification.objects.select_for_update().get_or_create(phone_number=phone_number)
        if row.sent_at is not None and (wait := (row.sent_at - now).total_seconds() + resend) > 0:
            raise TooManyCodes("Please wait before requesting another code.", retry_after=math.ceil(wait))
        recent = _recent(row.recent_sends, now.timestamp() - HOUR)
        mine = [when for when, who in recent if requester is not None and who == requester]
        if len(mine) >= settings.OTP_MAX_PER_HOUR_PER_REQUESTER:  # a stranger's share: the owner keeps the rest
            raise TooManyCodes("Too many codes requested for this phone number from your network.",
                               retry_after=math.ceil(min(mine) + HOUR - now.timestamp()))
        if len(recent) >= settings.OTP_MAX_PER_HOUR:
            raise TooManyCodes("Too many codes requested for this phone number.",
                               retry_after=math.ceil(min(when for when, _ in recent) + HOUR - now.timestamp()))
        code = code or generate_code()
        row.purpose = purpose
        row.code_hash = hash_code(phone_number, code, purpose)
        row.sent_at = now
        row.expires_at = now + timedelta(seconds=settings.OTP_TTL_SECONDS)
        row.attempts = 0
        row.recent_sends = [*([when, who] for when, who in recent), [now.timestamp(), requester]]
        row.save()
    return IssuedCode(phone_number, code, now, expires_in=settings.OTP_TTL_SECONDS, resend_after=resend, purpose=purpose)


def cancel_code(issued: IssuedCode) -> None:
    """Kill a code that could not be sent, and give back its place in the cooldown and the hourly caps."""
    with transaction.atomic():
        row = PhoneVerification.objects.select_for_update().get(phone_number=issued.phone_number)
        if not constant_time_compare(row.code_hash, hash_code(issued.phone_number, issued.code, issued.purpose)):
            return  # already replaced or used
        row.code_hash = ""
        row.sent_at = row.expires_at = None
        sent = issued.sent_at.timestamp()
        row.recent_sends = [entry for entry in row.recent_sends
                            if (entry if isinstance(entry, (int, float)) else entry[0]) != sent]
        row.save()


def guess_refusal(row: PhoneVerification, requester: str | None, now: float) -> TooManyGuesses | None:
    """Why a guess at row's live code is refused before it is compared, or None."""
    failures = _recent(row.wrong_guesses, now - DAY)
    if len(failures) >= settings.OTP_MAX_FAILURES_PER_DAY:
        return TooManyGuesses("Too many wrong codes for this phone number today.",
                              retry_after=math.ceil(min(when for when, _ in failures) + DAY - now))
    if len(failures) >= settings.OTP_MAX_ATTEMPTS:  # beyond one code's worth in a day, each guess waits longer
        backoff = min(settings.OTP_GUESS_BACKOFF_SECONDS * 2 ** (len(failures) - settings.OTP_MAX_ATTEMPTS),
                      MAX_BACKOFF_SECONDS)
        if (wait := max(when for when, _ in failures) + backoff - now) > 0:
            return TooManyGuesses("Too many wrong codes: please wait before trying again.", retry_after=math.ceil(wait))
    if requester is not None:
        sent = row.sent_at.timestamp()
        mine = sum(1 for when, who in failures if who == requester and when >= sent)
        if mine >= settings.OTP_MAX_ATTEMPTS_PER_REQUESTER:  # the rest of the code's tries stay its owner's
            return TooManyGuesses("Too many wrong codes from your network: request a new code.",
                                  retry_after=max(1, math.ceil(row.expires_at.timestamp() - now)))
    return None


def check_code(*, phone_number: str, code: str, purpose: str = SIGN_IN, requester: str | None = None,
               now: datetime | None = None) -> None:
    """Raise InvalidCode unless code is the phone's live code for purpose, TooManyGuesses when guessing is refused
    for now. A wrong guess is committed before the raise."""
    now = now or timezone.now()
    with transaction.atomic():
        row = PhoneVerification.objects.select_for_update().filter(phone_number=phone_number).first()
        if row is None or not row.code_hash or row.expires_at <= now or row.attempts >= settings.OTP_MAX_ATTEMPTS:
            raise InvalidCode()
        if refusal := guess_refusal(row, requester, now.timestamp()):
            raise refusal
        right = constant_time_compare(row.code_hash, hash_code(phone_number, code, purpose))
        if not right:
            row.attempts += 1
            if row.attempts >= settings.OTP_MAX_ATTEMPTS:
                row.code_hash = ""  # dead: only a new request gives a usable code
            failures = _recent(row.wrong_guesses, now.timestamp() - DAY)
            row.wrong_guesses = [*([when, who] for when, who in failures), [now.timestamp(), requester]]
            row.save(update_fields=["attempts", "code_hash", "wrong_guesses"])
    if not right:
        raise InvalidCode(tries_left=max(0, settings.OTP_MAX_ATTEMPTS - row.attempts))


def consume_code(*, phone_number: str, code: str, purpose: str = SIGN_IN, now: datetime | None = None) -> None:
    """Use the code up inside the caller's transaction; of two requests with the same code only one gets here."""
    now = now or timezone.now()
    # A conditional UPDATE: a second request waits on the first's row lock, then matches nothing.
    used = PhoneVerification.objects.filter(
        phone_number=phone_number,
        code_hash=hash_code(phone_number, code, purpose),
        expires_at__gt=now,
        attempts__lt=settings.OTP_MAX_ATTEMPTS,
    ).update(code_hash="", expires_at=None)
    if not used:
        raise InvalidCode()
    smscounts.record_verified(phone_number)  # the conversion signal: texts sent vs codes verified, per country
