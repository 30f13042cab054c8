"""PlaneAdapter: a Kriya user becomes a Plane user the way Plane's own sign-up makes one, and signs in the way
Plane's own sign-in does (plane/authentication/adapter/base.py, plane/authentication/utils/login.py).

Plane's modules are imported inside the methods: this module loads in any Django project, and only Plane calls it.
"""

from __future__ import annotations

import os
import uuid

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..adapter import KriyaAdapter

LOGIN_MEDIUM = "kriya"  # Plane's last_login_medium (20 characters at most): "email", "google", ... and this


class PlaneAdapter(KriyaAdapter):
    def is_open_for_signup(self, kriya_user: dict, identity: str) -> bool:
        """Plane's rule: sign-up open (ENABLE_SIGNUP, instance setting or environment), or an invitation exists."""
        from plane.db.models import WorkspaceMemberInvite
        from plane.license.utils.instance_value import get_configuration_value

        # Plane's own default, read as Plane reads it: the instance's setting, else its environment.
        (enabled,) = get_configuration_value([{"key": "ENABLE_SIGNUP",
                                                "default": os.environ.get("ENABLE_SIGNUP", "1")}])
        return enabled != "0" or WorkspaceMemberInvite.objects.filter(email=identity).exists()

    def create_user(self, kriya_user: dict, identity: str):
        """A Plane user with what Plane's sign-up gives one: a unique username and a Profile (one transaction).

        The password is unusable and is_password_autoset False: Plane then asks for the old password before it
        sets one, which no one has, so no password can be set around Kriya.
        """
        from plane.db.models import Profile, User

        first_name = (kriya_user.get("first_name") or "")[:255]
        user = User(email=identity, username=uuid.uuid4().hex, first_name=first_name,
                    last_name=(kriya_user.get("last_name") or "")[:255], mobile_number=kriya_user["phone_number"],
                    display_name=self.display_name(first_name, identity), is_password_autoset=False)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
                Profile.objects.create(user=user)
        except IntegrityError:  # a concurrent first sign-in of the same number made it first
            return User.objects.get(email=identity)
        return user

    @staticmethod
    def display_name(first_name: str, email: str) -> str:
        """What workspace members see: the first name Kriya has, else the synthetic email's (digit-free) local part."""
        return first_name or email.split("@")[0]

    def replacement_fields(self, user, kriya_user: dict) -> dict:
        fields = super().replacement_fields(user, kriya_user)
        if user.display_name == user.email.split("@")[0]:  # Plane derived it from the email that showed the number
            fields["display_name"] = self.display_name(user.first_name, fields["email"])
        return fields

    def login(self, request, user) -> None:
        """Plane's sign-in: the last_login_* fields, then Plane's user_login() (the session with its device_info)."""
        from plane.authentication.utils.login import user_login
        from plane.db.models import User
        from plane.utils.ip_address import get_client_ip

        now = timezone.now()
        fields = {"last_login_medium": LOGIN_MEDIUM, "last_active": now, "last_login_time": now,
                  "last_login_ip": get_client_ip(request=request) or "",
                  "last_login_uagent": request.META.get("HTTP_USER_AGENT", ""), "token_updated_at": now,
                  "token": uuid.uuid4().hex + uuid.uuid4().hex}  # as User.save() renews it with token_updated_at
        User.objects.filter(pk=user.pk).update(**fields)  # only these: the user instance may be a cached copy
        for name, value in fields.items():
            setattr(user, name, value)
        user_login(request=request, user=user, is_app=True)
