from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from django.db.models import Q

from accounts.models import AuditToken, Session


class Command(BaseCommand):
    help = "Delete the records of tokens issued, and the sessions ended, more than DAYS days ago (retention)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    def handle(self, *args, older_than, **options):
        if older_than < 0:
            raise CommandError("--older-than must be 0 or more days.")
        cutoff = timezone.now() - timedelta(days=older_than)
        deleted, _ = AuditToken.objects.filter(issued_at__lt=cutoff).delete()
        self.stdout.write(f"Removed {deleted} audit token record(s) issued before {cutoff:%Y-%m-%d %H:%M} UTC.")
        ended = Q(revoked_at__lt=cutoff) | Q(expires_at__lt=cutoff) | Q(idle_expires_at__lt=cutoff)
        _, by_model = Session.objects.filter(ended).delete()  # their rotated refresh tokens go with them
        sessions = by_model.get(Session._meta.label, 0)
        self.stdout.write(f"Removed {sessions} session(s) ended before {cutoff:%Y-%m-%d %H:%M} UTC.")
