"""Phone-number parsing: every number Kriya stores or compares is E.164."""

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
