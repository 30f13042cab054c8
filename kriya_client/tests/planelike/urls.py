from django.urls import path
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from kriya_client.django import SignInView


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
