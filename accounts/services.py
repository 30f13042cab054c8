"""Operations that span several models: find or create the user, record and issue a token."""

import logging
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from rest_framework.exceptions import PermissionDenied, ValidationError

from . import otp, sms
from .events import client_ip
from .models import PhoneVerification, User
from .sessions import SessionTokens, sign_in, start_session

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientMeta:
    ip_address: str | None
    user_agent: str


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

    With a code (PHONE_VERIFICATION=sms) the phone's live code must match; otp.InvalidCode otherwise.
    """
    if code is None:  # the common sign-in, a known phone: one statement on PostgreSQL; else a new phone
        user, tokens = sign_in(phone_number=phone_number, ip_address=meta.ip_address, user_agent=meta.user_agent,
                               device_name=device_name)
        if tokens is not None:
            return LoginResult(tokens=tokens, created=False)
        if user is not None:
            raise PermissionDenied("User account is disabled")
    else:
        otp.check_code(phone_number=phone_number, code=code)  # outside the transaction: a wrong guess stays counted
    created = False
    with transaction.atomic():
        if code is not None:
            otp.consume_code(phone_number=phone_number, code=code)  # rolled back if the login fails below
            user = User.objects.filter(phone_number=phone_number).first()
        if user is None:
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


def request_code(*, phone_number: str) -> otp.IssuedCode:
    """Text the phone a new code (replacing the old one); a code that could not be sent is killed."""
    issued = otp.create_code(phone_number=phone_number)
    minutes = max(1, issued.expires_in // 60)
    body = f"{issued.code} is your Kriya verification code. It expires in {minutes} min. Never share it."
    try:
        sms.send_sms(to=phone_number, body=body)
    except Exception as exc:  # any sender's failure, a custom backend's too: the code must not stay live
        otp.cancel_code(issued)
        reason = str(exc) if isinstance(exc, sms.SmsError) else type(exc).__name__  # others may quote credentials
        logger.error("Verification code not sent: %s", reason)
        raise sms.SmsError(reason) from exc
    return issued


class PhoneTaken(Exception):
    """The new phone number belongs to another account (said only once its code is verified)."""


def update_profile(*, user: User, **fields) -> list[str]:
    """Change the user's own name or email; return the fields that changed."""
    changed = [name for name, value in fields.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, fields[name])
    if changed:
        user.save(update_fields=[*changed, "updated_at"])
    return changed


def change_phone(*, user: User, phone_number: str, code: str) -> str:
    """Move the account to a new phone number proven by its code; every token and session ends.
    Return the previous number. Raises otp.InvalidCode or PhoneTaken."""
    otp.check_code(phone_number=phone_number, code=code)  # outside the transaction: a wrong guess stays counted
    previous = user.phone_number
    with transaction.atomic():
        otp.consume_code(phone_number=phone_number, code=code)
        if User.objects.filter(phone_number=phone_number).exclude(pk=user.pk).exists():
            raise PhoneTaken()
        user.phone_number = phone_number
        try:
            with transaction.atomic():  # a concurrent claim of the same number loses on the unique index
                user.save(update_fields=["phone_number", "updated_at"])
        except IntegrityError:
            raise PhoneTaken() from None
        user.revoke_tokens(reason="phone_changed")  # they sign in again, on the new number
    return previous


def delete_account(*, user: User, code: str | None = None) -> None:
    """Delete the user with their sessions, token records and codes; a code proves the phone when required."""
    if code is not None:
        otp.check_code(phone_number=user.phone_number, code=code)
    with transaction.atomic():
        if code is not None:
            otp.consume_code(phone_number=user.phone_number, code=code)
        user.revoke_tokens(reason="account_deleted")  # the feed tells relying parties, in this transaction
        PhoneVerification.objects.filter(phone_number=user.phone_number).delete()
        user.delete()  # sessions and token records (IP, user agent: personal data) go with it
