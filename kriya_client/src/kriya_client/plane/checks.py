"""System checks for a Plane settings module of your own: what would silently undo the kit."""

from django.conf import settings
from django.core.checks import Warning


def check_logging(app_configs=None, **kwargs):
    """Plane's LOGGING disables every logger it does not name: the kit's warnings (Kriya unreachable, a 410 reset)
    would never be written."""
    logging = getattr(settings, "LOGGING", None) or {}
    if not logging.get("disable_existing_loggers", True) or "kriya_client" in logging.get("loggers", {}):
        return []
    return [Warning("LOGGING disables loggers it does not name, and does not name kriya_client: the kit's "
                    "warnings (Kriya unreachable, a revocation feed reset) would be lost",
                    hint='Add LOGGING["loggers"]["kriya_client"], as kriya_client.plane.settings does.',
                    id="kriya_client.W001")]
