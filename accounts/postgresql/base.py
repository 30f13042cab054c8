"""Django's PostgreSQL backend, with a client-side deadline on every wait for the server.

statement_timeout and lock_timeout are enforced by the server; a server that stops answering on an open
connection (hung, or a proxy in between that stopped forwarding) never sends their error, and libpq waits
forever. psycopg's Connection.wait() takes a timeout: give it one, and close the connection when it runs out.
"""

import select

import psycopg
from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import errors
from psycopg.pq import TransactionStatus

CLIENT_GRACE_SECONDS = 0.5  # past the server's own statement_timeout, whose error should arrive first


def wait_deadline() -> float | None:
    """Seconds to wait for one answer: the statement timeout plus a grace; None without a statement timeout."""
    statement_ms = settings.DATABASE_STATEMENT_TIMEOUT_MS
    return statement_ms / 1000 + CLIENT_GRACE_SECONDS if statement_ms > 0 else None


class DeadlineConnection(psycopg.Connection):
    deadline: float | None = None  # set per connection by DatabaseWrapper; None: wait as long as it takes

    def wait(self, gen, interval=0.1, timeout=None):
        try:
            return super().wait(gen, interval=interval, timeout=timeout if timeout is not None else self.deadline)
        except errors._WaitTimeout:  # psycopg's own timeout error (pinned in requirements.txt; tests/test_resilience.py)
            self.pgconn.finish()  # halfway through a protocol exchange: the connection cannot be reused
            raise errors.OperationalError(f"the database did not answer within {self.deadline:g} s") from None


class _Psycopg:
    """The psycopg module as Django's backend uses it, except that connect() makes a DeadlineConnection."""

    connect = DeadlineConnection.connect

    def __getattr__(self, name):
        return getattr(psycopg, name)


class DatabaseWrapper(base.DatabaseWrapper):
    Database = _Psycopg()

    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        connection.deadline = wait_deadline()
        return connection

    def is_usable(self):
        """CONN_HEALTH_CHECKS without a round trip in the usual case: an idle connection has nothing to read.
        A server that hangs silently is the client-side deadline's business."""
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.pgconn.transaction_status != TransactionStatus.IDLE:  # mid-transaction: ask the server
            return super().is_usable()
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        # Something arrived on an idle connection: most likely the server closing it, possibly a message
        # (a TLS record, a parameter change). A SELECT 1 tells which, only then.
        return super().is_usable() if readable else True
