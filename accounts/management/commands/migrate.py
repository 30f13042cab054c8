from django.conf import settings
from django.core.management.commands import migrate
from django.db import connections


class Command(migrate.Command):
    """Django's migrate, on PostgreSQL with DATABASE_MIGRATION_LOCK_TIMEOUT_MS and no statement timeout.

    A migration that waits for a table lock queues every query behind it (validate-token's too): give up
    instead, and let the deploy retry. Its own statements (an index build) may run long.
    """

    def handle(self, *args, **options):
        connection = connections[options["database"]]
        if connection.vendor == "postgresql":
            connection.ensure_connection()
            connection.connection.deadline = None
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
                cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{settings.DATABASE_MIGRATION_LOCK_TIMEOUT_MS}ms"])
        return super().handle(*args, **options)
