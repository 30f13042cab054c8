from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from kriya_client.django import find_or_create_user, get_client


class MeView(APIView):
    def get(self, request):
        return Response({"id": request.user.pk, "email": request.user.email})


class AskKriyaEveryTime(BaseAuthentication):
    """What a relying party does without the kit: validate-token on every request, then find its user."""

    def authenticate(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        user, _ = get_client().ask(token)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token")
        return find_or_create_user(user), token


class UncachedMeView(MeView):
    authentication_classes = [AskKriyaEveryTime]


class OpenView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"id": None, "email": None})
