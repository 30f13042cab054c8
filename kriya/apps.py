from django.contrib.admin.apps import AdminConfig


class KriyaAdminConfig(AdminConfig):
    """django.contrib.admin with Kriya's site: its name, the phone-number login, the lockout page."""

    default_site = "accounts.adminsite.KriyaAdminSite"
