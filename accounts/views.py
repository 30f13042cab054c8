import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException, NotFound, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import otp, revocations, services, sessions, sms
from .authentication import TokenAuthentication
from .events import log_event
from .permissions import HasPlaneAPIKey
from .schema import error_responses
from .models import Session
from .serializers import (
    HealthSerializer,
    LogoutQuerySerializer,
    MessageSerializer,
    OtpRequestResponseSerializer,
    OtpRequestSerializer,
    RefreshResponseSerializer,
    RefreshSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    RevocationEventSerializer,
    RevocationFeedSerializer,
    RevocationQuerySerializer,
    SessionListSerializer,
    SessionSerializer,
    UserSerializer,
    ValidateTokenResponseSerializer,
    ValidateTokenSerializer,
)
from .throttling import (
    OtpIPThrottle,
    OtpPhoneThrottle,
    RefreshIPThrottle,
    RefreshSessionThrottle,
    RegisterIPThrottle,
    RegisterPhoneThrottle,
    UserThrottle,
)
from .tokens import InvalidToken, verify_token

NO_STORE = {"Cache-Control": "no-store"}
TOKEN_QUERY = OpenApiParameter("token", str, description="The user's JWT, instead of an Authorization: Bearer header")


class RegisterView(APIView):
    authentication_classes = []  # a stale Authorization header must not block login
    permission_classes = [AllowAny]
    throttle_classes = [RegisterIPThrottle, RegisterPhoneThrottle]

    @extend_schema(
        request=RegisterSerializer,
        responses={200: RegisterResponseSerializer, **error_responses(403)},
        summary="Register a new phone number or log an existing one in",
    )
    def post(self, request):
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.register_or_login(**serializer.validated_data, meta=services.client_meta(request))
        except otp.InvalidCode:
            log_event("otp_failed", request=request, phone=serializer.validated_data["phone_number"], reason="invalid code")
            raise ValidationError({"detail": "Invalid or expired code"}) from None
        log_event("registered" if result.created else "logged_in", request=request, user=result.user)
        log_event("session_created", request=request, user=result.user, session_id=result.tokens.session.id)
        return Response(RegisterResponseSerializer.body(result.tokens, result.message))


class ValidateTokenView(APIView):
    """Plane's hot path: called on every Plane request, authenticated by X-API-Key."""

    authentication_classes = []
    permission_classes = [HasPlaneAPIKey]

    @extend_schema(
        request=ValidateTokenSerializer,
        responses={200: ValidateTokenResponseSerializer, **error_responses(403)},
        summary="Check a user's token (an invalid token is a 200 with valid=false)",
        auth=[{"planeApiKey": []}],
    )
    def post(self, request):
        serializer = ValidateTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            verified = verify_token(serializer.validated_data["token"])
        except InvalidToken as exc:
            log_event("validate_failed", request=request, reason=exc.reason)
            return Response({"valid": False, "user": None, "message": exc.reason}, headers=NO_STORE)
        # A relying party may reuse a valid answer for a while; the revocation feed tells it of a logout sooner.
        max_age = max(0, min(settings.VALIDATION_CACHE_SECONDS, verified.expires_at - int(time.time())))
        return Response({"valid": True, "user": UserSerializer(verified.user).data, "message": "Token is valid"},
                        headers={"Cache-Control": f"private, max-age={max_age}"})


class RevocationFeedView(APIView):
    """Revocations in commit order, for relying parties that cache validations; X-API-Key, like validate-token."""

    authentication_classes = []
    permission_classes = [HasPlaneAPIKey]

    @extend_schema(
        parameters=[RevocationQuerySerializer],
        responses={200: RevocationFeedSerializer, 410: error_responses(410)[410], **error_responses(403)},
        summary="Revocations after a cursor (no cursor: none, and the cursor to start from)",
        auth=[{"planeApiKey": []}],
    )
    def get(self, request):
        query = RevocationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            events, cursor = revocations.events_after(query.validated_data.get("after"), limit=query.validated_data["limit"])
        except revocations.CursorExpired:
            raise Gone() from None
        return Response({"events": RevocationEventSerializer(events, many=True).data, "cursor": cursor}, headers=NO_STORE)


class Gone(APIException):
    status_code = 410
    default_detail = "This cursor is older than the retained revocations: drop every cached answer and start again without one."
    default_code = "cursor_expired"


class UserView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(parameters=[TOKEN_QUERY], responses={200: UserSerializer, **error_responses(401)}, summary="The token's user")
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class LogoutView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(
        parameters=[TOKEN_QUERY, LogoutQuerySerializer],
        responses={200: MessageSerializer, **error_responses(401)},
        summary="Log out: every token and session of the user (scope=global), this session (local) or the others",
    )
    def delete(self, request):
        query = LogoutQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope, session_id = query.validated_data["scope"], request.auth.session_id
        if scope == "global" or session_id is None:  # a token from before sessions: only global can end it
            request.user.revoke_tokens(reason="logout")
        else:
            mine = Session.objects.filter(user=request.user)
            ended = mine.filter(pk=session_id) if scope == "local" else mine.exclude(pk=session_id)
            ended.revoke(reason=f"logout_{scope}")
        log_event("logged_out", request=request, user=request.user, scope=scope, session_id=session_id)
        return Response({"success": True, "message": "Logged out successfully"})


class InvalidRefreshToken(APIException):
    status_code = 401
    default_detail = "Invalid refresh token"
    default_code = "invalid_refresh_token"


class TokenRefreshView(APIView):
    authentication_classes = []  # the refresh token is the credential
    permission_classes = [AllowAny]
    throttle_classes = [RefreshIPThrottle, RefreshSessionThrottle]

    @extend_schema(
        request=RefreshSerializer,
        responses={200: RefreshResponseSerializer, **error_responses(401)},
        summary="Exchange a refresh token for a new access token and a new refresh token",
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        meta = services.client_meta(request)
        try:
            tokens = sessions.refresh_session(**serializer.validated_data, **vars(meta))
        except sessions.InvalidRefreshToken as exc:
            if exc.reuse:
                log_event("refresh_reuse_detected", request=request, user=exc.session.user, session_id=exc.session.id)
            raise InvalidRefreshToken(exc.reason) from None
        log_event("token_refreshed", request=request, user=tokens.user, session_id=tokens.session.id)
        return Response(RefreshResponseSerializer.body(tokens, "Token refreshed"))


class SessionListView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(parameters=[TOKEN_QUERY], responses={200: SessionListSerializer, **error_responses(401)},
                   summary="The user's live sessions, newest first")
    def get(self, request):
        current = request.auth.session_id
        rows = [{**vars(session), "current": session.id == current} for session in sessions.live_sessions(request.user)]
        return Response({"sessions": SessionSerializer(rows, many=True).data})


class SessionDetailView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(parameters=[TOKEN_QUERY], responses={200: MessageSerializer, **error_responses(401, 404)},
                   summary="Sign one of the user's devices out: its access and refresh tokens stop working")
    def delete(self, request, session_id):
        # Another user's session answers exactly as an unknown one: ids are not to be probed.
        if not Session.objects.filter(user=request.user, pk=session_id).revoke(reason="user_revoked"):
            raise NotFound("Session not found.")
        log_event("session_revoked", request=request, user=request.user, session_id=session_id, reason="user_revoked")
        return Response({"success": True, "message": "Session revoked"})


class SmsUnavailable(APIException):
    status_code = 503
    default_detail = "The verification code could not be sent. Please try again later."
    default_code = "sms_unavailable"


class OtpRequestView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [OtpIPThrottle, OtpPhoneThrottle]

    @extend_schema(
        request=OtpRequestSerializer,
        responses={200: OtpRequestResponseSerializer, **error_responses()},
        summary="Text a one-time code to a phone (the same answer whether or not it has an account)",
    )
    def post(self, request):
        serializer = OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            issued = services.request_code(**serializer.validated_data)
        except otp.TooManyCodes as exc:
            raise Throttled(wait=exc.retry_after, detail=exc.reason) from None
        except sms.SmsError:
            log_event("otp_failed", request=request, phone=serializer.validated_data["phone_number"], reason="not sent")
            raise SmsUnavailable() from None
        log_event("otp_sent", request=request, phone=issued.phone_number)
        body = {"success": True, "message": "Verification code sent", "expires_in": issued.expires_in, "resend_after": issued.resend_after}
        return Response(OtpRequestResponseSerializer(body).data)


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer}, summary="Liveness with a database round trip")
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            return Response({"status": "unhealthy", "database": "unavailable"}, status=503)
        return Response({"status": "healthy", "database": "ok"})


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/health"))


def not_found(request, exception=None):
    """JSON for API clients; Django's page for people (the admin)."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)
