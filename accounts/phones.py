"""Phone-number parsing: every number Kriya stores or compares is E.164."""

import contextlib
import re

import phonenumbers

# Digits with the separators people type; letters (vanity numbers) and anything else are refused.
_ALLOWED = re.compile(r"^\+[0-9 ().\-]+$")


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(raw: str) -> str:
    """Return raw as E.164 (+16502530001) or raise InvalidPhoneNumber saying why."""
    value = raw.strip()
    if not value.startswith("+"):
        raise InvalidPhoneNumber("Phone number must start with + and the country code.")
    if not _ALLOWED.match(value):
        raise InvalidPhoneNumber("Phone number may contain only digits, spaces, dashes, dots and parentheses.")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber("Enter a valid phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("Enter a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)



def find_phone(raw: str, region: str | None = None) -> str | None:
    """What staff type, as E.164 if it reads as one whole phone number, else None.

    +1 (650) 253-0001 carries its country code. Without a +, 650-253-0001 or (650) 253-0001 is first read as
    a number of region (ADMIN_PHONE_REGION), then 16502530001 as one with its country code. Letters or a
    partial number give None.
    """
    value = raw.strip()
    if value.startswith("+"):
        with contextlib.suppress(InvalidPhoneNumber):
            return normalize_phone(value)
        return None
    if not value or not _ALLOWED.match(f"+{value}"):
        return None
    if region:
        with contextlib.suppress(phonenumbers.NumberParseException):
            number = phonenumbers.parse(value, region)
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    with contextlib.suppress(InvalidPhoneNumber):
        return normalize_phone(f"+{value}")
    return None
