import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import connection, models, transaction
from django.db.models import F, Q
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

    def revoke_tokens(self, reason: str = "logout") -> None:
        """Invalidate every token and end every session; an F() update loses no concurrent increment.
        An account deleted meanwhile has nothing left to revoke: its sessions went with it."""
        now = timezone.now()
        with transaction.atomic():
            self.sessions.live(now).lock()  # before the user's row: the order a refresh takes them in
            if not User.objects.filter(pk=self.pk).update(token_version=F("token_version") + 1, updated_at=now):
                return
            self.refresh_from_db(fields=["token_version", "updated_at"])
            # The new token_version ends every session's tokens: one event for the user says it all.
            self.sessions.revoke(reason=reason, now=now, announce=False)
            RevocationEvent.record([RevocationEvent(type=reason, user_id=self.pk, token_version=self.token_version, at=now)])


class SessionQuerySet(models.QuerySet):
    def live(self, now=None):
        """Not revoked and not past either expiry: its refresh token still works."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now, idle_expires_at__gt=now)

    def lock(self) -> None:
        """Lock these sessions (newest first, as every caller does). A refresh locks its session, then waits on
        the user's row (the foreign key): whoever locks a user's row and then its sessions deadlocks with it, so
        an account's sessions are locked before its row."""
        list(self.select_for_update(of=("self",)).order_by("-created_at", "pk").values_list("pk", flat=True))

    def revoke(self, *, reason: str, now=None, announce: bool = True) -> int:
        """End the live sessions among these: their access and refresh tokens stop working at once.
        announce: write a revocation event per session, for relying parties that cache validations."""
        now = now or timezone.now()
        with transaction.atomic():
            ended = list(self.live(now).select_for_update(of=("self",)).values_list("id", "user_id", "user__token_version"))
            Session.objects.filter(pk__in=[session_id for session_id, _, _ in ended]).update(revoked_at=now, revoked_reason=reason)
            if announce and ended:
                RevocationEvent.record([
                    RevocationEvent(type="session_revoked", user_id=user_id, session_id=session_id, token_version=version, at=now)
                    for session_id, user_id, version in ended
                ])
        return len(ended)


class Session(models.Model):
    """One sign-in on one device. Its refresh token is kept only as a SHA-256 hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    # Unique. On PostgreSQL without Django's second, varchar_pattern_ops index for LIKE lookups no one makes
    # (migration 0007 drops it): every sign-in and refresh would write to it.
    refresh_token_hash = models.CharField(max_length=64, unique=True, editable=False)
    device_name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    idle_expires_at = models.DateTimeField(help_text="The refresh token stops working if unused until then")
    expires_at = models.DateTimeField(help_text="The session ends then, however active")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True, default="")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True, default="")

    objects = SessionQuerySet.as_manager()

    class Meta:
        db_table = "sessions"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="sessions_user_live", condition=Q(revoked_at__isnull=True)),
            models.Index(fields=["expires_at"], name="sessions_expires_at"),
        ]

    def __str__(self) -> str:
        return f"{self.device_name or 'session'} {self.id}"

    def state(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if min(self.expires_at, self.idle_expires_at) <= now else "live"


class RotatedRefreshToken(models.Model):
    """A refresh token that was exchanged: presented again, it is a retry (briefly) or a theft."""

    token_hash = models.CharField(max_length=64, primary_key=True)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="rotated_tokens")
    rotated_at = models.DateTimeField()

    class Meta:
        db_table = "rotated_refresh_tokens"


class AuditToken(models.Model):
    """A record of one issued token. Never the token itself: a database reader must not impersonate anyone."""

    # No index of its own: (user, -issued_at) below serves every lookup by user, one index less to write per token.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="audit_tokens", db_index=False)
    # Kept when the session is purged: retention of token records is purge_audit_tokens' business.
    session = models.ForeignKey("Session", on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_tokens")
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
        """Still accepted: unexpired, the user active and not revoked since it was issued, its session live."""
        now = now or timezone.now()
        session = self.session
        if session is not None and (session.revoked_at is not None or session.expires_at <= now):
            return False
        return self.expires_at > now and self.user.is_active and self.token_version == self.user.token_version


class PhoneVerification(models.Model):
    """A phone's current one-time code, kept only as a keyed hash, and when codes were last sent to it."""

    phone_number = models.CharField(max_length=20, unique=True, help_text="E.164")
    purpose = models.CharField(max_length=20, blank=True, default="", help_text="What the live code is for "
                               "(sign_in, phone_change_old, phone_change_new, delete_account); it is in the hash too")
    code_hash = models.CharField(max_length=64, blank=True, default="")  # empty: no usable code
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # wrong guesses at the current code
    # [epoch seconds, requester] of the codes sent in the last hour, and of the wrong guesses in the last 24 hours;
    # a requester is a hashed IP or IPv6 /64 (accounts.otp.requester_for).
    recent_sends = models.JSONField(default=list, blank=True)
    wrong_guesses = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "otp_codes"

    def __str__(self) -> str:
        return self.phone_number


class RevocationEvent(models.Model):
    """One revocation, in the feed relying parties follow to evict what they cached (GET /api/auth/revocations).

    Ids are handed out in commit order (see record()), so a follower reading "after the last id I saw"
    never skips one that committed later.
    """

    id = models.BigAutoField(primary_key=True)
    type = models.CharField(max_length=40)  # logout, admin_revoked, user_deactivated, session_revoked, ...
    # No foreign keys: the event must outlive a deleted user or a purged session.
    user_id = models.UUIDField()
    session_id = models.UUIDField(null=True, blank=True)  # None: every token of the user older than token_version
    token_version = models.PositiveIntegerField()
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "revocation_events"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"

    @classmethod
    def record(cls, events: list["RevocationEvent"]) -> None:
        """Append events; call inside the revoking transaction, as its last write.

        Writers queue on the table lock until the one before them commits, so ids follow commit order and
        a reader never sees id N+1 while N is still to come. Readers are never blocked (EXCLUSIVE mode
        lets SELECTs through). SQLite has one writer at a time anyway.
        """
        if not connection.in_atomic_block:
            raise RuntimeError("RevocationEvent.record() must run inside the revoking transaction")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"LOCK TABLE {cls._meta.db_table} IN EXCLUSIVE MODE")
        cls.objects.bulk_create(events)


class ThrottleCount(models.Model):
    """Requests counted in one rate-limit window, when the counts live in the database (CACHE_URL=dbcache://).

    accounts/throttling.py adds to it with one atomic INSERT ... ON CONFLICT DO UPDATE, never read-then-write.
    """

    key = models.CharField(max_length=200, primary_key=True)  # scope, client and window number
    hits = models.PositiveIntegerField(default=0)
    window_end = models.BigIntegerField(db_index=True, help_text="Unix time; the row may be deleted after it")

    class Meta:
        db_table = "throttle_counts"

    def __str__(self) -> str:
        return self.key


class SmsHourlyCount(models.Model):
    """Codes texted and codes verified in one clock hour to numbers of one country: the staff console's charts.

    accounts/pumping.py adds to a row with one atomic INSERT ... ON CONFLICT DO UPDATE, so every worker and host
    shares the counts and they outlive restarts.
    """

    hour_start = models.BigIntegerField(help_text="Unix time of the hour's start (UTC)")
    country = models.CharField(max_length=3, help_text="phonenumbers region code; 001: non-geographic")
    sent = models.PositiveIntegerField(default=0)
    verified = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "sms_hourly_counts"
        constraints = [models.UniqueConstraint(fields=["hour_start", "country"], name="sms_hourly_counts_hour_country")]

    def __str__(self) -> str:
        return f"{self.hour_start} {self.country}"


class OidcSessionLink(models.Model):
    """The Kriya session behind an OpenID Connect sign-in: found by its authorization code, then by its
    refresh-token family, so that a relying party's tokens live and die with the session (accounts/oidc.py)."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="oidc_links")
    # Kept once the code is exchanged (and deleted): from then on the token family finds it.
    grant = models.OneToOneField("oauth2_provider.Grant", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="kriya_link")
    token_family = models.UUIDField(null=True, blank=True, unique=True)
    phone_verified = models.BooleanField(default=False, help_text="The session's sign-in proved the phone by a code")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "oidc_session_links"

    def __str__(self) -> str:
        return f"{self.session_id} {self.token_family or ''}"
