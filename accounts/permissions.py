import functools
import ipaddress

from django.conf import settings
from django.utils.crypto import constant_time_compare
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings

from .events import client_ip


class HasPlaneAPIKey(BasePermission):
    """Allow the server-to-server caller that presents a configured X-API-Key."""

    message = "Invalid API key"

    def has_permission(self, request, view):
        presented = request.headers.get("X-API-Key", "")
        if not presented:  # an empty header must never match
            return False
        # Compare with every key, not stopping at a match, so timing says nothing about which key it was.
        matches = [constant_time_compare(presented, key) for key in settings.PLANE_API_KEYS if key]
        return any(matches)


def may_read_metrics(request) -> bool:
    """GET /metrics: a client presenting Authorization: Bearer METRICS_API_KEY, or one from METRICS_ALLOWED_IPS."""
    key = settings.METRICS_API_KEY
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if key and scheme.lower() == "bearer" and constant_time_compare(presented.strip(), key):
        return True
    if "HTTP_X_FORWARDED_FOR" in request.META and not api_settings.NUM_PROXIES:
        return False  # came through a proxy Kriya was not told about: its own address would be the proxy's
    address = client_ip(request)
    if address is None:
        return False
    address = ipaddress.ip_address(address)
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_IPS)))


@functools.lru_cache(maxsize=4)
def _networks(entries: tuple[str, ...]) -> list:
    """METRICS_ALLOWED_IPS entries are addresses or networks (10.0.0.0/8)."""
    return [ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip()]
