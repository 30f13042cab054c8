from django.conf import settings
from django.utils.crypto import constant_time_compare
from rest_framework.permissions import BasePermission


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
