from urllib.parse import unquote

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import APIException, AuthenticationFailed

from .tokens import InvalidToken, verify_token


class TokenInQuery(APIException):
    status_code = 400
    default_detail = ("Send the token in the Authorization: Bearer header; ?token= is accepted only on "
                      "GET /api/auth/user and DELETE /api/auth/logout")
    default_code = "token_in_query"


class TokenAuthentication(BaseAuthentication):
    """The user's own JWT, from `Authorization: Bearer …` or, as the earlier service accepted, `?token=`.

    ?token= only where the earlier service's clients send it: a view lists those methods in
    `query_token_methods`. Anywhere else it is refused, header or not: a URL ends up in proxies' logs,
    browser history and Referer headers, and state-changing calls must not carry a credential there.
    """

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
        from_query = token_in_query(request.META.get("QUERY_STRING", ""))
        if from_query is not None and refuses_query_token((request.parser_context or {}).get("view"), request.method):
            raise TokenInQuery()
        header = get_authorization_header(request).split()
        if header:
            if header[0].lower() != b"bearer" or len(header) != 2:
                raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
            try:
                return header[1].decode("ascii")
            except UnicodeDecodeError:
                raise AuthenticationFailed("Token is malformed") from None
        return from_query


def refuses_query_token(view, method: str) -> bool:
    """Whether view refuses ?token= on method; a method it does not answer is left to its 405."""
    method = "GET" if method == "HEAD" else method
    return method not in getattr(view, "query_token_methods", ()) and hasattr(view, method.lower())


def token_in_query(query: str) -> str | None:
    """The value of the query's last `token` parameter, whose name must be written exactly so: a name spelled
    with escapes (%74oken) is another parameter, which proxies' and Kriya's log filters would not recognise."""
    values = [value for name, _, value in (pair.partition("=") for pair in query.split("&")) if name == "token"]
    token = unquote(values[-1]).strip() if values else ""
    return token or None
