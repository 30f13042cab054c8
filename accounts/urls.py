from django.urls import re_path

from . import views

# The earlier service's clients call these without a trailing slash; accept both, never redirect.
urlpatterns = [
    re_path(r"^register/?$", views.RegisterView.as_view(), name="register"),
    re_path(r"^validate-token/?$", views.ValidateTokenView.as_view(), name="validate-token"),
    re_path(r"^user/?$", views.UserView.as_view(), name="user"),
    re_path(r"^logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^otp/request/?$", views.OtpRequestView.as_view(), name="otp-request"),
]
