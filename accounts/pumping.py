"""SMS pumping defences: who may be texted a code, how many texts a country, a number prefix and the whole
service may send, and the counts that tell pumping from a carrier failing (sent vs verified, per country).

check_before_sending() runs before a code is texted and raises the DRF error that answers the request; the
counts of texts sent and codes verified are accounts/smscounts.py's. The per-IP and per-phone limits are the
views' throttles (accounts/throttling.py); the counts here live in the same store, through the same atomic
count_hit().
"""

import logging
import threading
import time

import phonenumbers
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import connection
from rest_framework.exceptions import APIException, Throttled, ValidationError

from . import captcha, metrics
from .events import client_ip
from .smscounts import NON_GEOGRAPHIC, country_of
from .throttling import OtpIPThrottle, SettingsRateThrottle

logger = logging.getLogger(__name__)

HOUR, DAY = 3600, 86400
MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
# What the 400 calls a number of each other type.
TYPE_NAMES = {
    phonenumbers.PhoneNumberType.FIXED_LINE: "a landline number",
    phonenumbers.PhoneNumberType.TOLL_FREE: "a toll-free number",
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
    phonenumbers.PhoneNumberType.VOIP: "a VoIP number",
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    phonenumbers.PhoneNumberType.PAGER: "a pager number",
    phonenumbers.PhoneNumberType.UAN: "a company (UAN) number",
    phonenumbers.PhoneNumberType.VOICEMAIL: "a voicemail number",
}
NON_GEOGRAPHIC_NAMES = {
    800: "an international toll-free number", 808: "an international shared-cost number",
    870: "a satellite number", 881: "a satellite number", 882: "an international network number",
    883: "an international network number", 979: "an international premium-rate number",
}


class BudgetSpent(APIException):
    status_code = 503
    default_code = "sms_budget_spent"

    def __init__(self, window: str, wait: int):
        super().__init__(f"Kriya has sent as many verification codes as it may this {window}. Please try again later.")
        self.wait = wait  # DRF's handler sends it as Retry-After


class CaptchaUnavailable(APIException):
    status_code = 503
    default_detail = "The human check could not be verified. Please try again later."
    default_code = "captcha_unavailable"
    wait = 30


def prefix_of(phone_number: str) -> str:
    """The first OTP_PREFIX_DIGITS digits of an E.164 number, country code included: +16502530001 -> 1650253."""
    return phone_number.lstrip("+")[: settings.OTP_PREFIX_DIGITS]


def refuse_unless_mobile(number: phonenumbers.PhoneNumber) -> None:
    """400 for a number that is not a mobile one: a text there costs more, reaches nobody, or pays a pumping ring.

    Non-geographic numbers are refused whatever their type: phonenumbers calls +881 satellite phones mobile.
    """
    kind = phonenumbers.number_type(number)
    if country_of(number) == NON_GEOGRAPHIC:
        what = NON_GEOGRAPHIC_NAMES.get(number.country_code, "a non-geographic number")
    elif kind in MOBILE_TYPES:
        return
    else:
        what = TYPE_NAMES.get(kind, "a number of unknown type")
    raise ValidationError({"phone_number": [f"Codes can only be sent to mobile numbers; this is {what}."]})


class DestinationThrottle(SettingsRateThrottle):
    """Texts to one destination (a country, a number prefix) per THROTTLE_RATES[scope]; fails closed, as otp_ip."""

    fail_open = False

    def __init__(self, ident: str):
        self.ident = ident

    def get_cache_key(self, request, view):
        return self.key_for(self.ident)


class CountryThrottle(DestinationThrottle):
    scope = "otp_country"
    detail = "Too many codes were requested for phone numbers in this country."


class PrefixThrottle(DestinationThrottle):
    scope = "otp_prefix"
    detail = "Too many codes were requested for phone numbers like this one."


class BudgetThrottle(SettingsRateThrottle):
    """Every text counts against the service's budget: SMS_BUDGET_PER_HOUR per clock hour, _PER_DAY per UTC day."""

    fail_open = False
    windows = {"hour": ("SMS_BUDGET_PER_HOUR", HOUR), "day": ("SMS_BUDGET_PER_DAY", DAY)}

    def __init__(self, window: str):
        self.window = window
        self.scope = f"sms_budget_{window}"

    def rate(self) -> tuple[int, int] | None:
        name, period = self.windows[self.window]
        limit = getattr(settings, name)
        return (limit, period) if limit > 0 else None

    def get_cache_key(self, request, view):
        return self.key_for("all")

    def count_refusal(self) -> None:
        metrics.count_budget_refusal(self.window)
        budget_log.spent(self.window, int(time.time() // self.rate()[1]))


class _BudgetLog:
    """One ERROR per spent window per process: the alert is the metric, the log says when and why."""

    def __init__(self):
        self.lock = threading.Lock()
        self.logged: dict[str, int] = {}

    def spent(self, window: str, number: int) -> None:
        with self.lock:
            if self.logged.get(window) == number:
                return
            self.logged[window] = number
        name, _ = BudgetThrottle.windows[window]
        logger.error("SMS budget spent: %s=%d codes texted this %s; code requests are refused with 503 until it ends",
                     name, getattr(settings, name), window)


budget_log = _BudgetLog()


def check_before_sending(request, phone_number: str, *, current_number: str | None = None) -> None:
    """Raise what refuses a code request before anything is texted: 400 (not a mobile number, the human check
    failed), 429 (the country's or the prefix's velocity limit) or 503 (the budget is spent, or the human check
    could not be verified). The cheap checks come first; the counts only see requests that passed the others.

    current_number: the request also texts the account's current number (a phone change). Its text counts like
    any other, against the requester's IP limit too (which counted the request once), and it must be a mobile.
    """
    number = phonenumbers.parse(phone_number, None)
    refuse_unless_mobile(number)
    current = phonenumbers.parse(current_number, None) if current_number else None
    if current is not None:
        try:
            refuse_unless_mobile(current)
        except ValidationError as refused:
            reason = str(refused.detail["phone_number"][0]).replace("this is", "your current number is")
            raise ValidationError({"detail": f"{reason} A staff member can change it in the admin."}) from None
    token = request.data.get("captcha_token") if isinstance(request.data, dict) else None
    try:
        captcha.verify(token if isinstance(token, str) else None, remote_ip=client_ip(request))
    except captcha.CaptchaFailed as failed:
        message = "This field is required." if failed.missing else "The human check failed. Please solve it again."
        raise ValidationError({"captcha_token": [message]}) from None
    except captcha.CaptchaUnavailable:
        raise CaptchaUnavailable() from None
    texts = [(number, phone_number), *([(current, current_number)] if current is not None else [])]
    throttles = [throttle for parsed, e164 in texts
                 for throttle in (CountryThrottle(country_of(parsed)), PrefixThrottle(prefix_of(e164)))]
    if current is not None:
        throttles.append(OtpIPThrottle())  # the request was counted once; its second text counts too
    for throttle in throttles:
        if not throttle.allow_request(request, None):
            raise Throttled(wait=throttle.wait(), detail=getattr(throttle, "detail", None))
    for window in BudgetThrottle.windows:
        budget = BudgetThrottle(window)
        for _ in texts:
            if not budget.allow_request(request, None):
                raise BudgetSpent(window, budget.wait())


def budget_used(window: str) -> tuple[int, int, int] | None:
    """(codes counted, budget, seconds until it starts again) of the current hour or day; None: no budget.

    A read of the count the budget check keeps: code requests that passed every other check, sent or not.
    """
    budget = BudgetThrottle(window)
    rate = budget.rate()
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    key = f"{budget.key_for('all')}:{int(now // period)}"
    store = caches["default"]
    if isinstance(store, DatabaseCache):
        with connection.cursor() as cursor:
            cursor.execute('SELECT hits FROM throttle_counts WHERE "key" = %s', [key])
            row = cursor.fetchone()
        used = row[0] if row else 0
    else:
        used = store.get(key) or 0
    return min(used, limit), limit, int(period - now % period)
