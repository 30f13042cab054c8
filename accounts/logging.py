import logging
import re
from urllib.parse import unquote

# Bearer tokens, ?token= values, API keys and JWT-shaped strings, wherever a message carries them.
_SECRETS = [
    (re.compile(r"(?i)([?&](?:token|code)=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[\w-]*\.[\w-]+\.[\w-]*"), "[redacted-jwt]"),
]


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def redact(text: str) -> str:
    text = _redact_plain(text)
    # Percent-escapes can hide a secret from the patterns (?%74oken=, %2E between a JWT's parts): if decoding
    # reveals one, log the decoded text redacted, with any control character it decoded to escaped.
    decoded = text
    for _ in range(3):  # double and triple encoding too
        if "%" not in decoded:
            break
        decoded = unquote(decoded)
        if _redact_plain(decoded) != decoded:
            return _CONTROL.sub(lambda match: repr(match.group())[1:-1], _redact_plain(decoded))
    return text


def _redact_plain(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrite each record so no token, code or API key reaches a log handler."""

    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class SkipServiceUnavailable(logging.Filter):
    """Drop django.request's line for each 503: Kriya logs the cause itself, once per outage, not per request."""

    def filter(self, record):
        return getattr(record, "status_code", None) != 503
