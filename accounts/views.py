from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views import View, defaults
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import metrics, otp, services, sms
from .authentication import TokenAuthentication
from .events import log_event
from .permissions import HasPlaneAPIKey, may_read_metrics
from .schema import error_responses
from .serializers import (
    HealthSerializer,
    LivenessSerializer,
    MessageSerializer,
    OtpRequestResponseSerializer,
    OtpRequestSerializer,
    ReadinessSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    UserSerializer,
    ValidateTokenResponseSerializer,
    ValidateTokenSerializer,
)
from .throttling import (
    STORE_ERRORS,
    OtpIPThrottle,
    OtpPhoneThrottle,
    RegisterIPThrottle,
    RegisterPhoneThrottle,
    UserThrottle,
    check_store,
    counts_in_database,
)
from .tokens import InvalidToken, user_for_token

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
        metrics.count_login(result.created)
        body = {"success": True, "message": result.message, "token": result.token, "user": result.user, "expires_at": result.expires_at}
        return Response(RegisterResponseSerializer(body).data)


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
            user = user_for_token(serializer.validated_data["token"])
        except InvalidToken as exc:
            metrics.count_validation(exc.outcome)
            log_event("validate_failed", request=request, reason=exc.reason)
            return Response({"valid": False, "user": None, "message": exc.reason})
        metrics.count_validation("valid")
        return Response({"valid": True, "user": UserSerializer(user).data, "message": "Token is valid"})


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

    @extend_schema(parameters=[TOKEN_QUERY], responses={200: MessageSerializer, **error_responses(401)}, summary="Revoke every token of the user")
    def delete(self, request):
        request.user.revoke_tokens()
        log_event("logged_out", request=request, user=request.user)
        return Response({"success": True, "message": "Logged out successfully"})


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
            metrics.count_throttled("otp_code")  # the database's per-phone limits
            raise Throttled(wait=exc.retry_after, detail=exc.reason) from None
        except sms.SmsError:
            metrics.count_otp_send(sent=False)
            log_event("otp_failed", request=request, phone=serializer.validated_data["phone_number"], reason="not sent")
            raise SmsUnavailable() from None
        metrics.count_otp_send(sent=True)
        log_event("otp_sent", request=request, phone=issued.phone_number)
        body = {"success": True, "message": "Verification code sent", "expires_in": issued.expires_in, "resend_after": issued.resend_after}
        return Response(OtpRequestResponseSerializer(body).data)


def database_reachable() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return False
    return True


def cache_reachable(database: bool) -> bool:
    if counts_in_database():
        return database  # the same database: not a second wait on it when it is down
    try:
        check_store()
    except STORE_ERRORS:
        return False
    return True


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer}, summary="Liveness with a database round trip")
    def get(self, request):
        if not database_reachable():
            return Response({"status": "unhealthy", "database": "unavailable"}, status=503)
        return Response({"status": "healthy", "database": "ok"})


class ReadinessView(APIView):
    """Whether to send this instance traffic: 503 without the database, which every endpoint needs.

    Without the cache it stays 200, "degraded": the throttles fail open (otp/request closed), and the cache is
    usually shared, so failing readiness would take every instance, and Plane's validate-token, out at once.
    """

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        responses={200: ReadinessSerializer, 503: ReadinessSerializer},
        summary="Readiness: the database (503 when unreachable) and the rate-limit cache (degraded when unreachable)",
    )
    def get(self, request):
        database = database_reachable()
        cache = cache_reachable(database)
        status = "unready" if not database else "ready" if cache else "degraded"
        body = {"status": status, "database": "ok" if database else "unavailable", "cache": "ok" if cache else "unavailable"}
        return Response(body, status=200 if database else 503)


class LivenessView(APIView):
    """The process answers: no database, no cache (a restart would not fix either)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: LivenessSerializer}, summary="Liveness: the process answers, whatever the database and cache do")
    def get(self, request):
        return Response({"status": "alive"})


class MetricsView(View):
    """Prometheus' scrape target (text format), for METRICS_ALLOWED_IPS or a Bearer METRICS_API_KEY."""

    http_method_names = ["get", "head"]

    def get(self, request):
        if not may_read_metrics(request):
            return JsonResponse({"detail": "You do not have permission to read the metrics."}, status=403)
        body, content_type = metrics.exposition()
        return HttpResponse(body, content_type=content_type)


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
