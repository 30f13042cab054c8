from django.urls import re_path

from . import views

UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# The earlier service's clients call these without a trailing slash; accept both, never redirect.
urlpatterns = [
    re_path(r"^register/?$", views.RegisterView.as_view(), name="register"),
    re_path(r"^validate-token/?$", views.ValidateTokenView.as_view(), name="validate-token"),
    re_path(r"^user/?$", views.UserView.as_view(), name="user"),
    re_path(r"^user/phone/?$", views.PhoneChangeView.as_view(), name="user-phone"),
    re_path(r"^user/code/?$", views.AccountCodeView.as_view(), name="user-code"),
    re_path(r"^user/phone/verify/?$", views.PhoneVerifyView.as_view(), name="user-phone-verify"),
    re_path(r"^logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^otp/request/?$", views.OtpRequestView.as_view(), name="otp-request"),
    re_path(r"^token/refresh/?$", views.TokenRefreshView.as_view(), name="token-refresh"),
    re_path(r"^revocations/?$", views.RevocationFeedView.as_view(), name="revocations"),
    re_path(r"^sessions/?$", views.SessionListView.as_view(), name="sessions"),
    re_path(rf"^sessions/(?P<session_id>{UUID})/?$", views.SessionDetailView.as_view(), name="session"),
]
