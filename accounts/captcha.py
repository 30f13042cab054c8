"""The optional human check on code requests: a Cloudflare Turnstile or hCaptcha token, verified server-side.

Both providers take the same form POST (secret, response, remoteip) at their siteverify URL and answer JSON
with "success". No DRF here: callers translate CaptchaFailed and CaptchaUnavailable.
"""

import json
import logging
import urllib.parse

from django.conf import settings

from . import metrics, outbound

logger = logging.getLogger(__name__)

VERIFY_URLS = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
}
MAX_TOKEN_LENGTH = 4096  # Turnstile's are at most 2048 characters; hCaptcha's are shorter still


class CaptchaFailed(Exception):
    """No token, or the provider said it was not solved (or is used up or expired)."""

    def __init__(self, missing: bool):
        super().__init__("missing" if missing else "failed")
        self.missing = missing


class CaptchaUnavailable(Exception):
    """The provider did not give a verdict in time, and CAPTCHA_FAIL_OPEN says refuse."""


def enabled() -> bool:
    return bool(settings.CAPTCHA_PROVIDER)


def verify(token: str | None, *, remote_ip: str | None) -> None:
    """Return if the check is off or the token is a solved challenge; raise CaptchaFailed or CaptchaUnavailable."""
    if not enabled():
        return
    if not token:
        metrics.count_captcha("missing")
        raise CaptchaFailed(missing=True)
    url = settings.CAPTCHA_VERIFY_URL or VERIFY_URLS[settings.CAPTCHA_PROVIDER]
    fields = {"secret": settings.CAPTCHA_SECRET, "response": token, **({"remoteip": remote_ip} if remote_ip else {})}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    try:
        status, body = outbound.post(url, urllib.parse.urlencode(fields).encode(), headers,
                                     timeout=settings.CAPTCHA_TIMEOUT_SECONDS)
        if status != 200:
            raise outbound.Unreachable(f"HTTP {status}")
        answer = json.loads(body)
        if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
            raise outbound.Unreachable("an answer without success")
    except (outbound.Unreachable, ValueError) as error:
        fail_open = settings.CAPTCHA_FAIL_OPEN
        metrics.count_captcha("unavailable")
        logger.warning("Captcha check not verified (%s: %s): the code request is %s", settings.CAPTCHA_PROVIDER,
                       error if isinstance(error, outbound.Unreachable) else "not JSON",
                       "let through (CAPTCHA_FAIL_OPEN=True)" if fail_open else "refused with 503")
        if fail_open:
            return
        raise CaptchaUnavailable() from None
    if not answer["success"]:
        metrics.count_captcha("failed")
        raise CaptchaFailed(missing=False)
    metrics.count_captcha("passed")
