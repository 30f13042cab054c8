"""The revocation feed: what relying parties read to evict validations they cached. No DRF."""

from .models import RevocationEvent


class CursorExpired(Exception):
    """The cursor's event was purged (REVOCATION_RETENTION_DAYS): events after it may be gone too."""


def events_after(after: int | None, *, limit: int) -> tuple[list[RevocationEvent], str]:
    """(events after the cursor, in order, at most limit; the next cursor), in one indexed query.

    Without a cursor: no events and the newest id, for a follower that starts with nothing cached.
    A cursor names the last event its reader saw; the event must still be here, or some after it may
    have been purged unseen.
    """
    if after is None:
        newest = RevocationEvent.objects.order_by("-id").values_list("id", flat=True).first()
        return [], str(newest or 0)
    events = list(RevocationEvent.objects.filter(id__gte=after).order_by("id")[: limit + 1])
    if after:
        if not events or events[0].id != after:
            raise CursorExpired()
        events = events[1:]
    events = events[:limit]
    return events, str(events[-1].id if events else after)
