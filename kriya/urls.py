from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from accounts import signin
from accounts.views import HealthView, LivenessView, MetricsView, ReadinessView, SchemaView, favicon

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^health/ready/?$", ReadinessView.as_view(), name="health-ready"),
    re_path(r"^health/live/?$", LivenessView.as_view(), name="health-live"),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="metrics"),
    re_path(r"^api/schema/?$", SchemaView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^redoc/?$", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("favicon.ico", favicon),
    # Sign in with Kriya: the OpenID Connect provider and its hosted sign-in pages.
    path("", include("accounts.oidc_urls")),
    re_path(r"^signin/?$", signin.phone_page, name="signin-phone"),
    re_path(r"^signin/code/?$", signin.code_page, name="signin-code"),
    re_path(r"^signin/name/?$", signin.name_page, name="signin-name"),
    re_path(r"^signin/signout/?$", signin.sign_out_page, name="signin-signout"),
    re_path(r"^signin/done/?$", signin.done_page, name="signin-done"),
]

# JSON for API paths, small pages for people elsewhere (accounts/views.py).
handler400 = "accounts.views.bad_request"
handler403 = "accounts.views.permission_denied"
handler404 = "accounts.views.not_found"
handler500 = "accounts.views.server_error"
