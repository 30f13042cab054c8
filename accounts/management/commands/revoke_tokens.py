from django.core.management.base import BaseCommand, CommandError

from accounts.events import log_event
from accounts.models import User
from accounts.phones import InvalidPhoneNumber, normalize_phone


class Command(BaseCommand):
    help = "Log a user out everywhere: every token issued to the phone number stops validating."

    def add_arguments(self, parser):
        parser.add_argument("phone_number", help="in any format register accepts, e.g. +16502530001")

    def handle(self, *args, phone_number, **options):
        try:
            phone = normalize_phone(phone_number)
        except InvalidPhoneNumber as exc:
            raise CommandError(str(exc)) from None
        user = User.objects.filter(phone_number=phone).first()
        if user is None:
            raise CommandError(f"No user with phone number {phone}.")
        user.revoke_tokens(reason="admin_revoked")
        log_event("admin_revoked", user=user, via="manage.py revoke_tokens")
        self.stdout.write(f"Revoked every token of {phone} (token_version is now {user.token_version}).")
