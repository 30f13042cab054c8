from django.core.management.base import BaseCommand

from kriya_client.adapter import get_adapter


class Command(BaseCommand):
    help = ("Print the local USERNAME_FIELD value (the synthetic email on an email-keyed user model) that a phone "
            "number signs in as: the address to invite before that person's first sign-in.")

    def add_arguments(self, parser):
        parser.add_argument("phone_number", help="E.164, as Kriya has it: +16502530001")

    def handle(self, *args, phone_number, **options):
        self.stdout.write(get_adapter().local_identity(phone_number))
