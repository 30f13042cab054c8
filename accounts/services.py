"""Operations that span several models: find or create the user, record and issue a token."""

import logging
import math
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied, ValidationError

from . import otp, sms, smscounts
from .events import client_ip, mask_phone
from .models import PhoneVerification, RevocationEvent, User
from .sessions import SessionTokens, sign_in, start_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientMeta:
    ip_address: str | None
    user_agent: str

    @property
    def requester(self) -> str | None:
        """Who asks, as the codes' limits count it (an IP, an IPv6 /64)."""
        return otp.requester_for(self.ip_address)


@dataclass(frozen=True)
class LoginResult:
    tokens: SessionTokens
    created: bool

    @property
    def user(self) -> User:
        return self.tokens.user

    @property
    def message(self) -> str:
        return "Registration successful" if self.created else "Login successful"


def client_meta(request) -> ClientMeta:
    return ClientMeta(
        ip_address=client_ip(request),
        user_agent=request.headers.get("User-Agent", "")[:255],
    )


def register_or_login(
    *, phone_number: str, meta: ClientMeta, first_name: str = "", last_name: str = "", email: str | None = None,
    code: str | None = None, device_name: str = "",
) -> LoginResult:
    """Log in the phone's user, creating it first if it is new. An existing profile is never changed.

    With a code (PHONE_VERIFICATION=sms) the phone's live sign-in code must match; otp.InvalidCode otherwise.
    With SIGNUP=closed an unknown number gets no account: SignupClosed, or with a code the wrong code's answer.
    """
    if code is None:  # the common sign-in, a known phone: one statement on PostgreSQL; else a new phone
        user, tokens = sign_in(phone_number=phone_number, ip_address=meta.ip_address, user_agent=meta.user_agent,
                               device_name=device_name)
        if tokens is not None:
            return LoginResult(tokens=tokens, created=False)
        if user is not None:
            raise PermissionDenied("User account is disabled")
    else:  # outside the transaction: a wrong guess stays counted
        otp.check_code(phone_number=phone_number, code=code, purpose=otp.SIGN_IN, requester=meta.requester)
    created = False
    with transaction.atomic():
        if code is not None:
            otp.consume_code(phone_number=phone_number, code=code, purpose=otp.SIGN_IN)  # rolled back if the login fails
            user = User.objects.filter(phone_number=phone_number).first()
        if user is None:
            if signup_closed():  # with a code, the answer of a wrong code: whether a number has an account stays unsaid
                raise otp.InvalidCode() if code is not None else SignupClosed()
            if not first_name:
                raise ValidationError({"first_name": ["This field is required to register a new phone number."]})
            # get_or_create recovers from the IntegrityError when a concurrent request created the user first.
            user, created = User.objects.get_or_create(
                phone_number=phone_number,
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "email": email or None,
                    "password": make_password(None),  # phone users sign in by phone, never by password
                },
            )
        if not user.is_active:
            raise PermissionDenied("User account is disabled")
        tokens = start_session(user=user, ip_address=meta.ip_address, user_agent=meta.user_agent, device_name=device_name)
    return LoginResult(tokens=tokens, created=created)


class SignupClosed(Exception):
    """SIGNUP=closed and the number has no account."""


def signup_closed() -> bool:
    return settings.SIGNUP == "closed"


def request_code(*, phone_number: str, purpose: str = otp.SIGN_IN, requester: str | None = None,
                 language: str | None = None) -> otp.IssuedCode:
    """Text the phone a new code for purpose (replacing its old one); a code that could not be sent is killed.

    A test number (OTP_TEST_NUMBERS) gets its fixed code and no text. With SIGNUP=closed, an unknown number asking
    to sign in is answered like any other, cooldown and caps included, but nothing is texted (and the code
    stored is one nobody knows).
    """
    fixed = settings.OTP_TEST_NUMBERS.get(phone_number)
    issued = otp.create_code(phone_number=phone_number, purpose=purpose, requester=requester, code=fixed)
    if fixed is not None:
        return replace(issued, test_number=True, sent=False)
    if purpose == otp.SIGN_IN and signup_closed() and not User.objects.filter(phone_number=phone_number).exists():
        return replace(issued, sent=False)
    try:
        sms.send_sms(to=phone_number, body=otp.text_for(issued, language))
    except sms.SmsError as exc:
        otp.cancel_code(issued)
        logger.error("Verification code not sent: %s", exc)
        raise
    except Exception as exc:  # a custom backend's failure: the code must not stay live; its text may quote credentials
        otp.cancel_code(issued)
        logger.error("Verification code not sent: %s", type(exc).__name__)
        raise sms.SmsError(type(exc).__name__) from exc
    smscounts.record_sent(phone_number)  # texts per country: the conversion signal and the staff console's charts
    return issued


class PhoneTaken(Exception):
    """The new phone number belongs to another account (said only once its codes are verified)."""


class AccountGone(Exception):
    """The account was deleted by a request that ran at the same time (a double click)."""


class StaffAccount(Exception):
    """Staff accounts, and accounts with a history in the admin, change phone and are deleted only in the admin."""


class TooManyPhoneChanges(Exception):
    def __init__(self, retry_after: int):
        super().__init__("Too many phone number changes for this account today.")
        self.retry_after = retry_after


def refuse_staff(user: User) -> None:
    """The API must not move or delete a staff account, nor erase the admin's history (LogEntry rows go with
    their user): the admin does it, on the record."""
    if user.is_staff or user.is_superuser or LogEntry.objects.filter(user_id=user.pk).exists():
        raise StaffAccount()


def check_phone_change_quota(user: User, now=None) -> None:
    """At most PHONE_CHANGES_PER_DAY moves in 24 hours, counted from the revocation events a move writes."""
    now = now or timezone.now()
    since = now - timedelta(days=1)
    moves = list(RevocationEvent.objects.filter(user_id=user.pk, type="phone_changed", at__gt=since)
                 .order_by("at").values_list("at", flat=True))
    if len(moves) >= settings.PHONE_CHANGES_PER_DAY:
        raise TooManyPhoneChanges(retry_after=max(1, math.ceil((moves[0] - since).total_seconds())))


def update_profile(*, user: User, **fields) -> list[str]:
    """Change the user's own name or email; return the fields that changed. AccountGone if it was just deleted."""
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:  # an UPDATE that finds no row (deleted meanwhile) is an answer, not Django's DatabaseError
        if not User.objects.filter(pk=user.pk).update(**{name: fields[name] for name in changed}, updated_at=timezone.now()):
            raise AccountGone()
    return changed


def request_phone_change(*, user: User, phone_number: str, requester: str | None = None) -> otp.IssuedCode:
    """Text a code to the new number and one to the current number: moving an identity needs proof of both."""
    refuse_staff(user)
    check_phone_change_quota(user)
    issued = request_code(phone_number=phone_number, purpose=otp.PHONE_CHANGE_NEW, requester=requester)
    request_code(phone_number=user.phone_number, purpose=otp.PHONE_CHANGE_OLD, requester=requester)
    return issued


def change_phone(*, user: User, phone_number: str, code: str, current_code: str, requester: str | None = None) -> str:
    """Move the account to a new phone number, proven by its code and by a code to the current number; every token
    and session ends, and the current number is told. Return the previous number.
    Raises otp.InvalidCode (the new number's) or InvalidCurrentCode, PhoneTaken, TooManyPhoneChanges, StaffAccount."""
    refuse_staff(user)
    previous = user.phone_number
    try:  # outside the transaction: a wrong guess stays counted
        otp.check_code(phone_number=previous, code=current_code, purpose=otp.PHONE_CHANGE_OLD, requester=requester)
    except otp.InvalidCode as exc:
        raise InvalidCurrentCode(exc.tries_left) from None
    otp.check_code(phone_number=phone_number, code=code, purpose=otp.PHONE_CHANGE_NEW, requester=requester)
    with transaction.atomic():
        if not User.objects.select_for_update().filter(pk=user.pk).exists():  # two moves at once queue here
            raise AccountGone()
        check_phone_change_quota(user)
        otp.consume_code(phone_number=previous, code=current_code, purpose=otp.PHONE_CHANGE_OLD)
        otp.consume_code(phone_number=phone_number, code=code, purpose=otp.PHONE_CHANGE_NEW)
        if User.objects.filter(phone_number=phone_number).exclude(pk=user.pk).exists():
            raise PhoneTaken()
        try:
            with transaction.atomic():  # a concurrent claim of the same number loses on the unique index
                User.objects.filter(pk=user.pk).update(phone_number=phone_number, updated_at=timezone.now())
        except IntegrityError:
            raise PhoneTaken() from None
        user.phone_number = phone_number
        user.revoke_tokens(reason="phone_changed")  # they sign in again, on the new number
    tell_previous_number(previous, phone_number)
    return previous


class InvalidCurrentCode(otp.InvalidCode):
    """The code for the account's current number is wrong or expired."""


def tell_previous_number(previous: str, new: str) -> None:
    """The number the account left hears of it, with the way to support: a thief's move does not go unseen."""
    contact = settings.SUPPORT_CONTACT
    with translation.override(settings.LANGUAGE_CODE):
        body = (_("Your Kriya account was moved from this number to %(new)s. If you did not do this, contact support: "
                  "%(contact)s") if contact else
                _("Your Kriya account was moved from this number to %(new)s. If you did not do this, contact the "
                  "support of the app you use it with.")) % {"new": mask_phone(new), "contact": contact}
    try:
        sms.send_sms(to=previous, body=str(body))
    except Exception as exc:  # the move is done; a failed notice is logged, not a failed request
        logger.error("Phone change notice not sent: %s", exc if isinstance(exc, sms.SmsError) else type(exc).__name__)


def delete_account(*, user: User, code: str | None = None, requester: str | None = None) -> None:
    """Delete the user with their sessions, token records and codes; a deletion code proves the phone when required.
    Raises StaffAccount, otp.InvalidCode, AccountGone."""
    refuse_staff(user)
    if code is not None:
        otp.check_code(phone_number=user.phone_number, code=code, purpose=otp.DELETE_ACCOUNT, requester=requester)
    with transaction.atomic():
        if not User.objects.select_for_update().filter(pk=user.pk).exists():  # a double click: the first one won
            raise AccountGone()
        if code is not None:
            otp.consume_code(phone_number=user.phone_number, code=code, purpose=otp.DELETE_ACCOUNT)
        user.revoke_tokens(reason="account_deleted")  # the feed tells relying parties, in this transaction
        PhoneVerification.objects.filter(phone_number=user.phone_number).delete()
        user.delete()  # sessions and token records (IP, user agent: personal data) go with it
