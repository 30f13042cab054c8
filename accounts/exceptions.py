import logging

from django.db import InterfaceError, OperationalError
from rest_framework.exceptions import Throttled
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import metrics
from .events import log_event

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    """DRF's handler, plus a 503 JSON answer when the database cannot be reached."""
    if isinstance(exc, Throttled):
        log_event("throttled", request=context["request"], path=context["request"].path, wait=exc.wait)
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, (OperationalError, InterfaceError)):
        logger.error("Database unavailable: %s", type(exc).__name__)
        metrics.count_database_error()
        response = Response({"detail": "Service temporarily unavailable"}, status=503)
    return response
