from django.apps import AppConfig
from django.conf import settings


class KriyaPlaneConfig(AppConfig):
    name = "kriya_client.plane"
    label = "kriya_client_plane"
    verbose_name = "Kriya for Plane"

    def ready(self):
        from django.core import checks

        from .checks import check_logging

        checks.register(check_logging)
        if getattr(settings, "KRIYA_PLANE_BEARER", False):
            from .bearer import accept_kriya_tokens

            accept_kriya_tokens()
