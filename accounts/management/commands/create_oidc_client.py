from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.oidc import create_client


class Command(BaseCommand):
    help = ("Register an OpenID Connect relying party (authorization code with PKCE, RS256 ID tokens). Prints its "
            "client id, and a confidential client's secret: once, it is stored only hashed.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="shown to people on the consent screen, e.g. Plane")
        parser.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris",
                            help="an exact callback URL (repeat for several)")
        parser.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris",
                            help="where RP-initiated logout may send people back to (repeat for several)")
        parser.add_argument("--public", action="store_true",
                            help="a client that cannot keep a secret (a single-page or mobile app): PKCE only")
        parser.add_argument("--first-party", action="store_true",
                            help="your own app: people are not asked to allow it (skip_authorization)")

    def handle(self, *args, name, redirect_uris, post_logout_redirect_uris, public, first_party, **options):
        try:
            client, secret = create_client(name=name, redirect_uris=redirect_uris, public=public, first_party=first_party,
                                           post_logout_redirect_uris=post_logout_redirect_uris)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())) from None
        self.stdout.write(f"client_id={client.client_id}")
        if secret is not None:
            self.stdout.write(f"client_secret={secret}")
            self.stderr.write("Keep the secret now: Kriya stores only its hash and cannot show it again.")
