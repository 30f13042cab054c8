from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import HealthView, LivenessView, MetricsView, ReadinessView

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("api/auth/", include("accounts.urls")),
    re_path(r"^health/?$", HealthView.as_view(), name="health"),
    re_path(r"^health/ready/?$", ReadinessView.as_view(), name="health-ready"),
    re_path(r"^health/live/?$", LivenessView.as_view(), name="health-live"),
    re_path(r"^metrics/?$", MetricsView.as_view(), name="metrics"),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

handler404 = "accounts.views.not_found"
handler500 = "accounts.views.server_error"
