"""Plane's URLs plus the kit's sign-in: ROOT_URLCONF = "kriya_client.plane.urls"."""

from django.urls import include, path

from kriya_client.django import SignInView

handler404 = "plane.app.views.error_404.custom_404_view"  # Plane's, which only a root URLconf can name

urlpatterns = [
    path("auth/kriya/", SignInView.as_view(), name="kriya-sign-in"),
    path("", include("plane.urls")),
]
