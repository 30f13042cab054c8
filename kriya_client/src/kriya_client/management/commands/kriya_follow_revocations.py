from django.core.management.base import BaseCommand

from kriya_client.django import follow, get_client


class Command(BaseCommand):
    help = "Follow Kriya's revocation feed in this process: evict the shared KRIYA_CACHE and run the hooks."

    def add_arguments(self, parser):
        parser.add_argument("--max-polls", type=int, default=None, help="stop after this many polls (tests)")

    def handle(self, *args, max_polls=None, **options):
        follower = follow(get_client(start_follower=False), start=False)
        self.stdout.write("Following Kriya's revocation feed (Ctrl-C to stop)")
        try:
            follower.run(max_polls=max_polls)
        except KeyboardInterrupt:
            pass
