"""Auth events: one JSON line each on the `kriya.auth` logger. Never tokens, codes or API keys."""

import ipaddress
import json
import logging

from django.utils import timezone
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger("kriya.auth")


def mask_phone(phone: str | None) -> str | None:
    """+16502530001 -> +1650***0001: enough to correlate, not enough to contact."""
    if not phone:
        return None
    return f"{phone[:5]}***{phone[-4:]}" if len(phone) > 9 else "***"


def client_ip(request) -> str | None:
    """The caller's address: REMOTE_ADDR, or the one NUM_PROXIES trusted proxies saw (DRF's rule)."""
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:  # a malformed X-Forwarded-For must not reach the database's inet column
        return None


def log_event(event: str, *, request=None, user=None, phone: str | None = None, **fields) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    record = {
        "time": timezone.now().isoformat(),
        "event": event,
        "user_id": str(user.pk) if user is not None else None,
        "phone": mask_phone(phone or getattr(user, "phone_number", None)),
        "ip": client_ip(request) if request is not None else None,
        "request_id": getattr(request, "request_id", None),
        **fields,
    }
    logger.info(json.dumps(record, default=str))
