import logging
import threading
import time

from django.db import InterfaceError, OperationalError
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import metrics
from .events import log_event

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF's handler, plus a 503 JSON answer when the database cannot be reached or does not answer in time
    (connection refused or lost, statement_timeout, lock_timeout, the client-side deadline: all OperationalError)."""
    if isinstance(exc, Throttled):
        log_event("throttled", request=context["request"], path=context["request"].path, wait=exc.wait)
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, (OperationalError, InterfaceError)):
        database_outage.failed(exc)
        metrics.count_database_error()
        response = Response({"detail": "Service temporarily unavailable"}, status=503)
    return response


class DatabaseOutage:
    """One log line when the database starts failing, one a minute while it keeps failing, one when it is back:
    during an outage every request fails, and a line per request would bury everything else (per process)."""

    REPEAT_SECONDS = 60

    def __init__(self):
        self._lock = threading.Lock()
        self.failures = 0  # 503s since the last line
        self.since = None  # monotonic time of the first failure; None: the database is fine
        self.logged_at = 0.0

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            self.failures += 1
            if self.since is None:
                self.since, self.logged_at, self.failures = now, now, 0
                cause = getattr(exc.__cause__, "sqlstate", None) or type(exc.__cause__ or exc).__name__
                logger.error("Database unavailable (%s: %s): answering 503", cause, str(exc).strip()[:200])
            elif now - self.logged_at >= self.REPEAT_SECONDS:
                logger.error("Database still unavailable after %.0f s: %d requests answered 503 in the last %.0f s",
                             now - self.since, self.failures, now - self.logged_at)
                self.logged_at, self.failures = now, 0

    def connected(self) -> None:
        if self.since is None:  # the usual case: a plain read, no lock
            return
        with self._lock:
            if self.since is not None:
                logger.warning("Database reachable again after %.1f s", time.monotonic() - self.since)
                self.since, self.failures = None, 0


database_outage = DatabaseOutage()


@receiver(connection_created)
def _database_connected(sender, connection, **kwargs):
    database_outage.connected()
