import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import F
from django.utils import timezone

from .phones import normalize_phone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, phone_number: str, password: str | None = None, **fields) -> "User":
        user = self.model(phone_number=normalize_phone(phone_number), **fields)
        user.set_password(password)  # None gives phone users an unusable password
        user.save(using=self._db)
        return user

    def create_superuser(self, phone_number: str, password: str | None = None, **fields) -> "User":
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(phone_number, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_number = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +16502530001")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100, blank=True, default="")
    email = models.EmailField(blank=True, null=True)
    # Carried in every JWT; bumping it revokes every token the user holds.
    token_version = models.PositiveIntegerField(default=0, editable=False)
    is_active = models.BooleanField("active", default=True)
    is_staff = models.BooleanField("staff status", default=False, help_text="Can log in to the staff console.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "phone_number"
    REQUIRED_FIELDS = ["first_name"]

    class Meta:
        db_table = "users"
        ordering = ["-created_at"]
        permissions = [("revoke_user_tokens", "Can revoke a user's tokens")]

    def __str__(self) -> str:
        return self.phone_number

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far; an F() update loses no concurrent increment."""
        User.objects.filter(pk=self.pk).update(token_version=F("token_version") + 1, updated_at=timezone.now())
        self.refresh_from_db(fields=["token_version", "updated_at"])


class AuditToken(models.Model):
    """A record of one issued token. Never the token itself: a database reader must not impersonate anyone."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="audit_tokens")
    jti = models.UUIDField("JTI", unique=True, editable=False)
    token_version = models.PositiveIntegerField()
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        db_table = "tokens"
        ordering = ["-issued_at"]
        indexes = [models.Index(fields=["user", "-issued_at"])]

    def __str__(self) -> str:
        return str(self.jti)

    def is_valid(self, now=None) -> bool:
        """Still accepted: unexpired, the user active and not revoked since it was issued."""
        now = now or timezone.now()
        return self.expires_at > now and self.user.is_active and self.token_version == self.user.token_version


class PhoneVerification(models.Model):
    """A phone's current one-time code, kept only as a keyed hash, and when codes were last sent to it."""

    phone_number = models.CharField(max_length=20, unique=True, help_text="E.164")
    code_hash = models.CharField(max_length=64, blank=True, default="")  # empty: no usable code
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # wrong guesses at the current code
    recent_sends = models.JSONField(default=list, blank=True)  # epoch seconds of the codes sent in the last hour

    class Meta:
        db_table = "otp_codes"

    def __str__(self) -> str:
        return self.phone_number
