"""KriyaTokenAuthentication: DRF authentication by a Kriya token (Authorization: Bearer), failing closed."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from .errors import KriyaUnavailable, SignUpClosed
from .django import SIGN_UP_CLOSED, authenticate_token


class AuthenticationUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "Authentication service unavailable"
    default_code = "authentication_unavailable"


class KriyaTokenAuthentication(BaseAuthentication):
    """request.user: the local user of a valid Kriya token; request.auth: the token.

    No Authorization: Bearer header: not this class's business (None). An invalid token: 401. Kriya
    unreachable while the cache cannot be trusted: 503, never a pass.
    """

    keyword = "bearer"

    def authenticate(self, request):
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != self.keyword:
            return None
        token = token.strip()
        if not token or " " in token:
            raise exceptions.AuthenticationFailed("Invalid Authorization header")
        try:
            user = authenticate_token(token)
        except KriyaUnavailable:
            raise AuthenticationUnavailable() from None
        except SignUpClosed:
            raise exceptions.PermissionDenied(SIGN_UP_CLOSED) from None
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token")
        return user, token

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
