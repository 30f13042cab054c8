from django.db import models


class SignedInSession(models.Model):
    """A Django session started by exchanging a Kriya token: a revocation of that user or session ends it."""

    session_key = models.CharField(max_length=40, unique=True)
    kriya_user_id = models.CharField(max_length=64, db_index=True)
    kriya_session_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "kriya_signed_in_sessions"


def forget_session(sender, request, user, **kwargs):
    """A local logout ends the session: its row is no longer needed."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        SignedInSession.objects.filter(session_key=key).delete()
