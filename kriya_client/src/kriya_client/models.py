from django.conf import settings
from django.db import models


class SignedInSession(models.Model):
    """A Django session started by exchanging a Kriya token: a revocation of that user or session ends it."""

    session_key = models.CharField(max_length=255, unique=True)  # Django's keys are 32 characters, Plane's 128
    user_id = models.CharField(max_length=64, db_index=True)  # the local user's pk, for hooks of your own
    kriya_user_id = models.CharField(max_length=64, db_index=True)
    kriya_session_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    kriya_token_version = models.PositiveIntegerField(default=0)  # a user-wide event ends versions below its own
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "kriya_signed_in_sessions"


class KriyaIdentity(models.Model):
    """Which local user a Kriya user is: found by phone number the first time, by Kriya's user id after that,
    so a number changed at Kriya keeps its account, and a number given to someone else never opens it."""

    kriya_user_id = models.CharField(max_length=64, unique=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="kriya_identity")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "kriya_identities"


class FollowerCursor(models.Model):
    """Where the revocation followers got to in Kriya's feed: a restarted one resumes there."""

    name = models.CharField(max_length=40, unique=True)
    cursor = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "kriya_follower_cursor"


def forget_session(sender, request, user, **kwargs):
    """A local logout ends the session: its row is no longer needed."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        SignedInSession.objects.filter(session_key=key).delete()
