"""Plane's URLs plus the kit's sign-ins: ROOT_URLCONF = "kriya_client.plane.urls"."""

from django.urls import include, path

from kriya_client.django import SignInView
from kriya_client.oidc import OIDCCallbackView, OIDCLoginView

handler404 = "plane.app.views.error_404.custom_404_view"  # Plane's, which only a root URLconf can name

urlpatterns = [
    path("auth/kriya/", SignInView.as_view(), name="kriya-sign-in"),
    path("auth/kriya/login/", OIDCLoginView.as_view(), name="kriya-oidc-login"),
    path("auth/kriya/callback/", OIDCCallbackView.as_view(), name="kriya-oidc-callback"),
    path("", include("plane.urls")),
]
