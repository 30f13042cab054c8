from django.contrib.admin.apps import AdminConfig
from oauth2_provider.apps import DOTConfig


class KriyaAdminConfig(AdminConfig):
    """django.contrib.admin with Kriya's site: its name, the phone-number login, the lockout page."""

    default_site = "accounts.adminsite.KriyaAdminSite"


class OpenIDConnectConfig(DOTConfig):
    """django-oauth-toolkit, as the staff console names it: its Applications are the OpenID Connect clients."""

    verbose_name = "Sign in with Kriya (OpenID Connect)"
