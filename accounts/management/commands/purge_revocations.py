from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts.models import RevocationEvent


class Command(BaseCommand):
    help = "Delete revocation events older than REVOCATION_RETENTION_DAYS (a follower behind them gets 410)."

    def handle(self, *args, **options):
        cutoff = timezone.now() - timedelta(days=settings.REVOCATION_RETENTION_DAYS)
        deleted, _ = RevocationEvent.objects.filter(at__lt=cutoff).delete()
        self.stdout.write(f"Removed {deleted} revocation event(s) from before {cutoff:%Y-%m-%d %H:%M} UTC.")
