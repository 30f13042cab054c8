"""What staff do to users from the console, each step on the record: a LogEntry (the user's History) and an
auth event naming the staff member."""

from django.contrib.admin.models import CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from .events import log_event, mask_phone
from .models import Session, User


def _record(request, users: list[User], event: str, message: str, **fields) -> None:
    LogEntry.objects.log_actions(request.user.pk, users, CHANGE, change_message=message, single_object=len(users) == 1)
    for user in users:
        log_event(event, request=request, user=user, **fields, admin_id=str(request.user.pk),
                  admin_phone=mask_phone(request.user.phone_number))


def _set_active_and_revoke(users: list[User], active: bool, reason: str) -> None:
    # No old token survives either change; revoke_tokens() also ends their sessions and tells the feed.
    Session.objects.filter(user_id__in=[user.pk for user in users]).lock()  # before the users' rows: lock() says why
    User.objects.filter(pk__in=[user.pk for user in users]).update(is_active=active, updated_at=timezone.now())
    for user in users:
        user.revoke_tokens(reason=reason)


def revoke_tokens(request, users) -> int:
    """Invalidate every token the users hold; they can log in again."""
    users = list(users)
    with transaction.atomic():
        for user in users:
            user.revoke_tokens(reason="admin_revoked")
        _record(request, users, "admin_revoked", "Revoked all tokens")
    return len(users)


def deactivate(request, users) -> int:
    """Refuse the users' logins and tokens; their tokens stay dead if they are reactivated."""
    users = list(users)
    with transaction.atomic():
        _set_active_and_revoke(users, active=False, reason="user_deactivated")
        _record(request, users, "admin_deactivated", "Deactivated (all tokens revoked)")
    return len(users)


def reactivate(request, users) -> int:
    """Let the users log in again. Revokes as well, so no token from before the deactivation comes back."""
    users = list(users)
    with transaction.atomic():
        _set_active_and_revoke(users, active=True, reason="user_reactivated")
        _record(request, users, "admin_reactivated", "Reactivated (earlier tokens stay revoked)")
    return len(users)


def revoke_sessions(request, sessions) -> int:
    """Sign the users out of these sessions (a lost phone): their other sessions go on. Each is in the
    user's History."""
    with transaction.atomic():
        live = list(Session.objects.live().filter(pk__in=[session.pk for session in sessions]).select_related("user"))
        Session.objects.filter(pk__in=[session.pk for session in live]).revoke(reason="admin_revoked")
        for session in live:
            _record(request, [session.user], "session_revoked",
                    f"Revoked session {session.pk} ({session.device_name or 'unnamed device'})",
                    session_id=session.pk, reason="admin_revoked")
    return len(live)
