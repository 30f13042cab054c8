from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import RevocationEvent


class Command(BaseCommand):
    help = "Delete revocation events older than REVOCATION_RETENTION_DAYS, but the newest (a follower behind them gets 410)."

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(days=settings.REVOCATION_RETENTION_DAYS)
        # The newest event stays, however old: a follower's cursor points at it, and a quiet week must not
        # answer it 410 (drop every cached answer) when it has missed nothing.
        newest = RevocationEvent.objects.order_by("-id").values_list("id", flat=True).first()
        deleted, _ = RevocationEvent.objects.filter(at__lt=cutoff).exclude(id=newest).delete()
        self.stdout.write(f"Removed {deleted} revocation event(s) from before {cutoff:%Y-%m-%d %H:%M} UTC.")
