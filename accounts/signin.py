"""The hosted sign-in pages: phone number -> code -> first name (a new number) -> back to the relying party.

Plain Django views and templates (templates/signin/), usable without JavaScript. The phone is always proven
by a texted code, whatever PHONE_VERIFICATION says for the API; the API's throttles, limits, events and metrics
apply (a browser is just another client). A signed-in browser holds the id of a Kriya session in its Django
session, nothing else: revoking that session (API, staff, RP-initiated logout) signs the browser out.
"""

import functools
import math
import time

import phonenumbers
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework.exceptions import APIException, Throttled, ValidationError

from . import metrics, otp, pumping, services, sms
from .events import log_event, mask_phone
from .models import PhoneVerification, Session, User
from .phones import find_phone
from .sessions import start_session
from .throttling import (
    OtpIPThrottle,
    OtpPhoneThrottle,
    RateLimitUnavailable,
    RegisterIPThrottle,
    RegisterPhoneThrottle,
)

# Keys in the browser's Django session.
SESSION_ID = "kriya_session_id"  # the signed-in Kriya session
PHONE_VERIFIED = "kriya_phone_verified"  # that sign-in proved the phone by a code
NEXT = "signin_next"  # where to go once signed in (the authorization request)
PHONE = "signin_phone"  # the number a code was texted to
RESEND_AT = "signin_resend_at"  # epoch seconds from which another code may be requested
REMEMBER = "signin_remember"
PROVEN = "signin_proven"  # (phone, epoch seconds): a new number's code was right, its first name is next
REAUTHENTICATE = "signin_reauthenticate"  # prompt=login: prove the phone again even though signed in
PENDING = (NEXT, PHONE, RESEND_AT, REMEMBER, PROVEN, REAUTHENTICATE)

DEVICE_NAME = "Browser sign-in"
# No inline script or style, nothing from elsewhere, never in a frame. (No form-action: after the sign-in
# and the consent form the browser is redirected to the relying party, which form-action would block.)
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def page(view):
    """A hosted page: the language of Accept-Language, a strict CSP, never framed, never cached."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        language = translation.get_language_from_request(request)
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = view(request, *args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # a TemplateResponse renders in the page's language
        response.headers.setdefault("Content-Language", language)
        patch_vary_headers(response, ["Accept-Language", "Cookie"])
        response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response["X-Frame-Options"] = "DENY"
        # The authorization request stays here; same-origin, not no-referrer: with that, Chrome sends Origin: null on
        # the form posts, which CSRF protection refuses.
        response["Referrer-Policy"] = "same-origin"
        add_never_cache_headers(response)
        response["Pragma"] = "no-cache"
        return response

    return wrapped


# --- the browser's Kriya session ---


def current_session(request) -> Session | None:
    """The live Kriya session this browser is signed in with; a revoked or expired one signs it out."""
    session_id = request.session.get(SESSION_ID)
    if session_id is None:
        return None
    session = Session.objects.live().select_related("user").filter(pk=session_id).first()
    if session is None or not session.user.is_active:
        for key in (SESSION_ID, PHONE_VERIFIED):  # signed out; a sign-in under way (its next page) carries on
            request.session.pop(key, None)
        return None
    return session


def phone_verified(request) -> bool:
    return bool(request.session.get(PHONE_VERIFIED))


def sign_in_browser(request, user: User, *, created: bool) -> Session:
    """Start a Kriya session for this browser (listed in GET /api/auth/sessions like any other)."""
    meta = services.client_meta(request)
    tokens = start_session(user=user, ip_address=meta.ip_address, user_agent=meta.user_agent, device_name=DEVICE_NAME)
    previous = request.session.get(SESSION_ID)  # signed in again (prompt=login): one browser, one session
    if previous is not None and Session.objects.filter(pk=previous).revoke(reason="signed_in_again"):
        log_event("session_revoked", request=request, session_id=previous, reason="signed_in_again")
    next_url, remember = request.session.get(NEXT), request.session.get(REMEMBER, False)
    request.session.cycle_key()  # a new cookie value at sign-in: nobody who knew the old one is signed in
    for key in PENDING:
        request.session.pop(key, None)
    request.session[SESSION_ID] = str(tokens.session.pk)
    request.session[PHONE_VERIFIED] = True
    if next_url:
        request.session[NEXT] = next_url
    # Remembered: until the Kriya session ends (SESSION_MAX_DAYS); otherwise until the browser closes.
    request.session.set_expiry(int((tokens.session.expires_at - timezone.now()).total_seconds()) if remember else 0)
    User.objects.filter(pk=user.pk).update(last_login=tokens.session.created_at)
    log_event("registered" if created else "logged_in", request=request, user=user, client="browser")
    log_event("session_created", request=request, user=user, session_id=tokens.session.id)
    metrics.count_login(created)
    return tokens.session


def sign_out_browser(request) -> None:
    session = current_session(request)
    if session is not None and Session.objects.filter(pk=session.pk).revoke(reason="signed_out"):
        log_event("session_revoked", request=request, user=session.user, session_id=session.pk, reason="signed_out")
    request.session.flush()


# --- codes: the one place each, so that the codes' purpose is added in one spot ---


def send_sign_in_code(request, phone_number: str) -> otp.IssuedCode:
    """Text a sign-in code as POST /api/auth/otp/request does (the anti-pumping checks, then the code), in the
    page's language. Raises what the API answers with: DRF's ValidationError, Throttled or APIException (the
    checks), otp.TooManyCodes, sms.SmsError."""
    pumping.check_before_sending(_ThrottledRequest(request, phone_number), phone_number)
    return services.request_code(phone_number=phone_number, purpose=otp.SIGN_IN,
                                 requester=services.client_meta(request).requester, language=request.LANGUAGE_CODE)


def verify_sign_in_code(request, phone_number: str, code: str) -> None:
    """Use the phone's sign-in code up, or raise otp.InvalidCode (a wrong guess stays counted) or
    otp.TooManyGuesses."""
    otp.check_code(phone_number=phone_number, code=code, purpose=otp.SIGN_IN,
                   requester=services.client_meta(request).requester)
    with transaction.atomic():
        otp.consume_code(phone_number=phone_number, code=code, purpose=otp.SIGN_IN)


def why_code_failed(phone_number: str, error: otp.InvalidCode) -> str:
    """What to tell a person whose code was refused: expired, no tries left, or how many are left."""
    left = error.tries_left
    if left is None:  # there was no live code to compare with: find out why
        row = PhoneVerification.objects.filter(phone_number=phone_number).first()
        if row is not None and row.code_hash and row.expires_at <= timezone.now():
            return _("This code has expired. Request a new code.")
        if row is not None and row.attempts >= settings.OTP_MAX_ATTEMPTS:
            return _("Too many wrong codes. Request a new code.")
        return _("This code can no longer be used. Request a new code.")
    if left == 0:
        return _("Too many wrong codes. Request a new code.")
    return ngettext("That code is not right. You have %(count)d try left.",
                    "That code is not right. You have %(count)d tries left.", left) % {"count": left}


# --- the API's rate limits, for a page ---


class _ThrottledRequest:
    """What the API's throttles read of a request: its address (META) and the phone number (data)."""

    def __init__(self, request, phone_number: str):
        self.META, self.headers = request.META, request.headers
        self.data = {"phone_number": phone_number}
        self.user = None


def retry_after(request, phone_number: str, throttles) -> int | None:
    """Seconds to wait if one of the API's limits refuses this request, else None. RateLimitUnavailable when a
    fail-closed limit cannot count."""
    shim = _ThrottledRequest(request, phone_number)
    waits = []
    for throttle_class in throttles:
        throttle = throttle_class()
        if not throttle.allow_request(shim, None):
            waits.append(throttle.wait())
    return max(waits) if waits else None


def wait_message(seconds: int) -> str:
    if seconds < 120:
        return ngettext("Too many attempts. Try again in %(count)d second.",
                        "Too many attempts. Try again in %(count)d seconds.", seconds) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("Too many attempts. Try again in %(count)d minute.",
                    "Too many attempts. Try again in %(count)d minutes.", minutes) % {"count": minutes}


# --- the pages ---


def _safe_next(request, value: str | None) -> str | None:
    """Only a path on this Kriya: never an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and url_has_allowed_host_and_scheme(
            value, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return value
    return None


def _finish(request):
    next_url = request.session.pop(NEXT, None)
    return redirect(next_url or reverse("signin-done"))


def _show(request, template: str, context: dict, *, error: str = "", status: int = 200):
    return render(request, template, {**context, "message": error}, status=400 if error and status == 200 else status)


@page
@require_http_methods(["GET", "POST"])
def phone_page(request):
    if (next_url := _safe_next(request, request.GET.get("next"))) is not None:
        request.session[NEXT] = next_url
    signed_in = current_session(request)
    if signed_in is not None and not request.session.get(REAUTHENTICATE):
        if request.method == "GET" and request.session.get(NEXT):
            return _finish(request)
        return render(request, "signin/signed_in.html", {"kriya_session": signed_in})
    region = settings.SIGNIN_DEFAULT_REGION
    context = {"country_code": phonenumbers.country_code_for_region(region), "phone": request.POST.get("phone", "")[:40]}
    if request.method == "GET":
        return render(request, "signin/phone.html", context)
    phone = find_phone(request.POST.get("phone", "")[:40], settings.SIGNIN_DEFAULT_REGION)
    if phone is None:
        return _show(request, "signin/phone.html", context, error=_("Enter a valid phone number."))
    if not otp.region_allowed(phone):
        return _show(request, "signin/phone.html", context, error=_("Codes cannot be sent to numbers of this country."))
    return _send(request, phone, "signin/phone.html", context)


def _send(request, phone: str, template: str, context: dict):
    """Text phone a code and go to the code page; or the page again with why not."""
    try:
        wait = retry_after(request, phone, [OtpIPThrottle, OtpPhoneThrottle])
    except RateLimitUnavailable:
        return _show(request, template, context, error=_("Sign-in is unavailable for a moment. Try again in a minute."),
                     status=503)
    if wait is not None:
        return _show(request, template, context, error=wait_message(wait), status=429)
    try:
        issued = send_sign_in_code(request, phone)
    except ValidationError as exc:  # not a mobile number; or a human check, which these pages cannot show
        if "captcha_token" in exc.detail:
            return _show(request, template, context, error=_("Sign-in from this page is not available right now. "
                                                             "Please sign in from the app."), status=503)
        return _show(request, template, context, error=_("Codes can only be sent to mobile numbers."))
    except Throttled as exc:  # a country's or a number prefix's limit
        return _show(request, template, context, error=wait_message(math.ceil(exc.wait or 60)), status=429)
    except APIException:  # the SMS budget is spent, or the human check could not be verified
        return _show(request, template, context, error=_("Sign-in is unavailable for a moment. Try again in a minute."),
                     status=503)
    except otp.TooManyCodes as exc:
        metrics.count_throttled("otp_code")
        request.session[PHONE] = phone
        request.session[RESEND_AT] = time.time() + exc.retry_after
        return _show(request, template, context, error=wait_message(exc.retry_after), status=429)
    except sms.SmsError:
        metrics.count_otp_send(sent=False)
        log_event("otp_failed", request=request, phone=phone, reason="not sent", client="browser")
        return _show(request, template, context,
                     error=_("We could not send the text message just now. Please try again in a few minutes."),
                     status=503)
    if issued.test_number:
        log_event("otp_test_number_used", request=request, phone=phone, purpose=issued.purpose, client="browser")
    elif issued.sent:
        metrics.count_otp_send(sent=True)
        log_event("otp_sent", request=request, phone=phone, purpose=issued.purpose, client="browser")
    else:  # SIGNUP=closed and no account: the same page as if it were sent
        log_event("otp_not_sent", request=request, phone=phone, reason="signup_closed", client="browser")
    request.session[PHONE] = phone
    request.session[RESEND_AT] = time.time() + issued.resend_after
    return redirect("signin-code")


def _code_context(request, phone: str) -> dict:
    wait = max(0, math.ceil(request.session.get(RESEND_AT, 0) - time.time()))
    return {"phone": phone, "masked_phone": mask_phone(phone), "resend_wait": wait,
            "remember": request.session.get(REMEMBER, True), "digits": otp.CODE_DIGITS}


@page
@require_http_methods(["GET", "POST"])
def code_page(request):
    phone = request.session.get(PHONE)
    if phone is None:
        return redirect("signin-phone")
    if request.method == "GET":
        return render(request, "signin/code.html", _code_context(request, phone))
    if request.POST.get("action") == "resend":
        return _send(request, phone, "signin/code.html", _code_context(request, phone))
    request.session[REMEMBER] = request.POST.get("remember") == "on"
    code = "".join(request.POST.get("code", "").split())[:20]
    if not code.isdigit() or len(code) != otp.CODE_DIGITS:
        error = _("Enter the %(digits)d-digit code from the text message.") % {"digits": otp.CODE_DIGITS}
        return _show(request, "signin/code.html", _code_context(request, phone), error=error)
    try:
        wait = retry_after(request, phone, [RegisterIPThrottle, RegisterPhoneThrottle])
    except RateLimitUnavailable:
        wait = None  # these limits fail open, like the API's
    if wait is not None:
        return _show(request, "signin/code.html", _code_context(request, phone), error=wait_message(wait), status=429)
    try:
        verify_sign_in_code(request, phone, code)
    except otp.TooManyGuesses as exc:
        metrics.count_throttled("otp_guess")
        log_event("otp_failed", request=request, phone=phone, reason="guesses refused", client="browser")
        return _show(request, "signin/code.html", _code_context(request, phone), error=wait_message(exc.retry_after),
                     status=429)
    except otp.InvalidCode as exc:
        log_event("otp_failed", request=request, phone=phone, reason="invalid code", client="browser")
        return _show(request, "signin/code.html", _code_context(request, phone), error=why_code_failed(phone, exc))
    user = User.objects.filter(phone_number=phone).first()
    if user is None and services.signup_closed():  # the answer of a wrong code: who has an account stays unsaid
        return _show(request, "signin/code.html", _code_context(request, phone),
                     error=_("This code can no longer be used. Request a new code."))
    if user is None:
        request.session[PROVEN] = [phone, time.time()]
        return redirect("signin-name")
    if not user.is_active:
        return _show(request, "signin/code.html", _code_context(request, phone),
                     error=_("This account has been disabled."), status=403)
    sign_in_browser(request, user, created=False)
    return _finish(request)


@page
@require_http_methods(["GET", "POST"])
def name_page(request):
    proven = request.session.get(PROVEN)
    if not proven or time.time() - proven[1] > settings.OTP_TTL_SECONDS:
        request.session.pop(PROVEN, None)
        return redirect("signin-phone")
    phone = proven[0]
    first_name = " ".join(request.POST.get("first_name", "").split())
    context = {"masked_phone": mask_phone(phone), "first_name": first_name}
    if request.method == "GET":
        return render(request, "signin/name.html", context)
    if not first_name:
        return _show(request, "signin/name.html", context, error=_("Enter your first name."))
    if len(first_name) > User._meta.get_field("first_name").max_length:
        return _show(request, "signin/name.html", context, error=_("That name is too long."))
    if services.signup_closed() and not User.objects.filter(phone_number=phone).exists():
        request.session.pop(PROVEN, None)  # closed since the code was checked
        return redirect("signin-phone")
    user, created = User.objects.get_or_create(  # a concurrent sign-up of the same number: the first one wins
        phone_number=phone, defaults={"first_name": first_name, "password": make_password(None)})
    if not user.is_active:
        return _show(request, "signin/name.html", context, error=_("This account has been disabled."), status=403)
    sign_in_browser(request, user, created=created)
    return _finish(request)


@page
@require_POST
def sign_out_page(request):
    """"Not you?": end this browser's Kriya session and start again, for the same relying party."""
    next_url = request.session.get(NEXT)
    sign_out_browser(request)
    target = reverse("signin-phone")
    return redirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)


@page
def done_page(request):
    """Signed in with no relying party waiting (someone opened the sign-in page directly)."""
    session = current_session(request)
    if session is None:
        return redirect("signin-phone")
    return render(request, "signin/signed_in.html", {"kriya_session": session})
