"""KriyaAdapter: what the kit does with a Kriya user at the relying party, one small method per question.

KRIYA_ADAPTER names the class (default: this one; Plane: kriya_client.plane.adapter.PlaneAdapter). A project
overrides one method at a time: which local account a Kriya user is (resolve_user), whether it takes new users
(is_open_for_signup), what a new user gets (new_user_fields, create_user), and how a sign-in is recorded (login).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth import login as django_login
from django.contrib.auth.hashers import make_password
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string

from .errors import SignUpClosed

_adapters: dict[str, KriyaAdapter] = {}


def get_adapter() -> KriyaAdapter:
    """The KRIYA_ADAPTER instance (adapters keep no per-request state: one per class)."""
    path = getattr(settings, "KRIYA_ADAPTER", "kriya_client.adapter.KriyaAdapter")
    adapter = _adapters.get(path)
    if adapter is None:
        adapter = _adapters[path] = import_string(path)()
    return adapter


class KriyaAdapter:
    """For any Django user model: keyed by the E.164 number, or by a synthetic email when USERNAME_FIELD is email."""

    def resolve_user(self, kriya_user: dict):
        """The local user of this Kriya user, created on first sign-in; raises SignUpClosed when none may be.

        The first time, it is found through USERNAME_FIELD (local_identity() of the number); then linked to the
        Kriya user id (KriyaIdentity), which finds it ever after. Kriya's email never picks an account: Kriya does
        not verify emails.
        """
        from .models import KriyaIdentity

        model = get_user_model()
        phone, kriya_id = kriya_user["phone_number"], str(kriya_user["id"])
        link = KriyaIdentity.objects.select_related("user").filter(kriya_user_id=kriya_id).first()
        if link is not None:
            self.update_user(link.user, kriya_user)
            return link.user

        manager = model._default_manager
        identity = self.local_identity(phone)
        user = manager.filter(**{model.USERNAME_FIELD: identity}).first()
        if user is not None and KriyaIdentity.objects.filter(user=user).exclude(kriya_user_id=kriya_id).exists():
            # The number belonged to another Kriya user, who moved to a new one: never their account.
            identity = self.local_identity(phone, kriya_id)
            user = manager.filter(**{model.USERNAME_FIELD: identity}).first()
        if user is None:
            if not self.is_open_for_signup(kriya_user, identity):
                raise SignUpClosed("sign-up is closed and this number has no account here")
            user = self.create_user(kriya_user, identity)
        link, _ = KriyaIdentity.objects.get_or_create(kriya_user_id=kriya_id, defaults={"user": user})
        return link.user

    def is_open_for_signup(self, kriya_user: dict, identity: str) -> bool:
        return True

    def phone_field(self) -> str | None:
        """The local user field that receives the phone number (KRIYA_PHONE_FIELD), if the model has it."""
        model = get_user_model()
        name = getattr(settings, "KRIYA_PHONE_FIELD", "mobile_number")
        names = {field.name for field in model._meta.get_fields()}
        return name if name and name in names and name != model.USERNAME_FIELD else None

    def new_user_fields(self, kriya_user: dict, identity: str) -> dict:
        """A new user's fields besides USERNAME_FIELD: an unusable password, the names, the phone."""
        model = get_user_model()
        names = {field.name for field in model._meta.get_fields()}
        fields = {"password": make_password(None)}
        for name in ("first_name", "last_name"):
            if name in names:
                fields[name] = (kriya_user.get(name) or "")[: model._meta.get_field(name).max_length or None]
        if self.phone_field():
            fields[self.phone_field()] = kriya_user["phone_number"]
        return fields

    def create_user(self, kriya_user: dict, identity: str):
        """The new local user (or the one a concurrent first sign-in of the same number just made)."""
        model = get_user_model()
        # get_or_create on a unique key is safe to race, and needs no transaction around it: on SQLite one that
        # reads before it writes fails at once, instead of waiting, when another process writes.
        user, _ = model._default_manager.get_or_create(**{model.USERNAME_FIELD: identity},
                                                       defaults=self.new_user_fields(kriya_user, identity))
        return user

    def update_user(self, user, kriya_user: dict) -> None:
        """A known user signs in again: a number changed at Kriya is copied; a legacy email that showed it goes."""
        model = type(user)
        changes = {}
        field = self.phone_field()
        if field and getattr(user, field) != kriya_user["phone_number"]:  # the number changed at Kriya: same account
            changes[field] = kriya_user["phone_number"]
        if model.USERNAME_FIELD == "email" and self.is_legacy_email(getattr(user, "email", None)):
            changes.update(self.replacement_fields(user, kriya_user))
        if changes:
            model._default_manager.filter(pk=user.pk).update(**changes)
            for name, value in changes.items():
                setattr(user, name, value)

    def replacement_fields(self, user, kriya_user: dict) -> dict:
        """New fields for an account whose email the kit once made of the phone's digits (before 0.2)."""
        model = type(user)
        email = self.local_identity(kriya_user["phone_number"])
        if model._default_manager.filter(email=email).exclude(pk=user.pk).exists():
            email = self.local_identity(kriya_user["phone_number"], str(kriya_user["id"]))
        return {"email": email}

    def is_legacy_email(self, email: str | None) -> bool:
        domain = re.escape(getattr(settings, "KRIYA_EMAIL_DOMAIN", "phone.kriya.invalid"))
        return bool(email) and re.fullmatch(rf"\d+(\.[0-9a-f-]{{8}})?@{domain}", email) is not None

    def local_identity(self, phone_number: str, kriya_id: str | None = None) -> str:
        """The USERNAME_FIELD value of a Kriya user's local account (kriya_id: when the number was someone else's)."""
        if get_user_model().USERNAME_FIELD == "email":
            email = synthetic_email(phone_number)
            return email.replace("@", f".{kriya_id[:8]}@") if kriya_id else email
        return f"{phone_number}.{kriya_id[:8]}" if kriya_id else phone_number

    def login(self, request, user) -> None:
        """Start the Django session (the kit records it for revocations afterwards)."""
        django_login(request, user, backend=getattr(settings, "KRIYA_AUTH_BACKEND",
                                                    "django.contrib.auth.backends.ModelBackend"))


def synthetic_email(phone_number: str) -> str:
    """The email of a phone-only user on an email-keyed user model: no digit of the number in it.

    A keyed hash (Django's SECRET_KEY) of the number, so the same number always gives the same address (an
    administrator can invite it: manage.py kriya_synthetic_email) while nobody can read the number back.
    """
    digest = salted_hmac("kriya_client.synthetic_email", phone_number, algorithm="sha256").hexdigest()[:20]
    return f"p-{digest}@{getattr(settings, 'KRIYA_EMAIL_DOMAIN', 'phone.kriya.invalid')}"
