from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .tokens import InvalidToken, verify_token


class TokenAuthentication(BaseAuthentication):
    """The user's own JWT, from `Authorization: Bearer …` or, as the earlier service accepted, `?token=`."""

    def authenticate(self, request):
        token = self.token_from(request)
        if token is None:
            return None  # IsAuthenticated answers 401 "credentials were not provided"
        try:
            verified = verify_token(token)
        except InvalidToken as exc:
            raise AuthenticationFailed(exc.reason) from None
        return verified.user, verified  # request.auth.session_id: the caller's session

    def authenticate_header(self, request):
        return 'Bearer realm="kriya"'  # without it DRF turns 401 into 403

    @staticmethod
    def token_from(request):
        header = get_authorization_header(request).split()
        if header:
            if header[0].lower() != b"bearer" or len(header) != 2:
                raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
            try:
                return header[1].decode("ascii")
            except UnicodeDecodeError:
                raise AuthenticationFailed("Token is malformed") from None
        token = request.query_params.get("token", "").strip()
        return token or None
