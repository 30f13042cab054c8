from django.apps import AppConfig


class KriyaClientConfig(AppConfig):
    name = "kriya_client"
    verbose_name = "Kriya client"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.contrib.auth.signals import user_logged_out

        from .models import forget_session

        user_logged_out.connect(forget_session, dispatch_uid="kriya_client.forget_session")
