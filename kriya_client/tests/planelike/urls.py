from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from kriya_client.django import SignInView

try:
    from kriya_client import oidc
except ImportError:  # PyJWT with its crypto extra is not installed here: test_oidc.py skips
    oidc = None


class MeView(APIView):
    def get(self, request):
        return Response({"id": request.user.pk, "email": request.user.email})


class SessionMeView(APIView):
    authentication_classes = [SessionAuthentication]  # signed in by the Kriya token exchange

    def get(self, request):
        return Response({"id": request.user.pk})


urlpatterns = [
    path("api/me", MeView.as_view()),
    path("api/session-me", SessionMeView.as_view()),
    path("auth/kriya", SignInView.as_view()),
]
if oidc is not None:
    urlpatterns += [
        path("auth/kriya/login/", oidc.OIDCLoginView.as_view(), name="kriya-oidc-login"),
        path("auth/kriya/callback/", oidc.OIDCCallbackView.as_view(), name="kriya-oidc-callback"),
    ]
