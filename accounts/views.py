from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.views import SpectacularAPIView
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import otp, services, sms
from .authentication import TokenAuthentication
from .events import log_event
from .permissions import HasPlaneAPIKey
from .schema import (
    HEALTH_EXAMPLES,
    LOGOUT_EXAMPLES,
    OTP_EXAMPLES,
    REGISTER_EXAMPLES,
    USER_EXAMPLES,
    VALIDATE_EXAMPLES,
    error_responses,
)
from .serializers import (
    HealthSerializer,
    MessageSerializer,
    OtpRequestResponseSerializer,
    OtpRequestSerializer,
    RegisterResponseSerializer,
    RegisterSerializer,
    UserSerializer,
    ValidateTokenResponseSerializer,
    ValidateTokenSerializer,
)
from .throttling import OtpIPThrottle, OtpPhoneThrottle, RegisterIPThrottle, RegisterPhoneThrottle, UserThrottle
from .tokens import InvalidToken, user_for_token

TOKEN_QUERY = OpenApiParameter("token", str, description="The user's JWT, instead of an Authorization: Bearer header")


class RegisterView(APIView):
    authentication_classes = []  # a stale Authorization header must not block login
    permission_classes = [AllowAny]
    throttle_classes = [RegisterIPThrottle, RegisterPhoneThrottle]

    @extend_schema(
        request=RegisterSerializer,
        responses={
            200: OpenApiResponse(RegisterResponseSerializer, description="Registered or logged in: the user's new token"),
            **error_responses(403, forbidden=("The account has been deactivated", {"detail": "User account is disabled"})),
        },
        examples=REGISTER_EXAMPLES,
        tags=["Users"],
        summary="Register a new phone number or log an existing one in",
        description="A new phone number needs first_name; a known one logs in and its profile is left as it is. "
        "Phone numbers are accepted in any usual format with their country code (+1 (650) 253-0001) and "
        "answered in E.164 (+16502530001).",
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
        body = {"success": True, "message": result.message, "token": result.token, "user": result.user, "expires_at": result.expires_at}
        return Response(RegisterResponseSerializer(body).data)


class ValidateTokenView(APIView):
    # Plane's hot path: called on every Plane request, authenticated by X-API-Key.
    authentication_classes = []
    permission_classes = [HasPlaneAPIKey]

    @extend_schema(
        request=ValidateTokenSerializer,
        responses={
            200: OpenApiResponse(ValidateTokenResponseSerializer, description="The verdict: valid with the user, "
                                 "or not valid with the reason"),
            **error_responses(403, forbidden=("X-API-Key is missing or wrong", {"detail": "Invalid API key"})),
        },
        examples=VALIDATE_EXAMPLES,
        tags=["Plane"],
        summary="Check a user's token (an invalid token is a 200 with valid=false)",
        description="For Plane's backend, with its X-API-Key. An expired, revoked or forged token is not an error "
        "here: the answer is valid=false and the reason.",
        auth=[{"planeApiKey": []}],
    )
    def post(self, request):
        serializer = ValidateTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = user_for_token(serializer.validated_data["token"])
        except InvalidToken as exc:
            log_event("validate_failed", request=request, reason=exc.reason)
            return Response({"valid": False, "user": None, "message": exc.reason})
        return Response({"valid": True, "user": UserSerializer(user).data, "message": "Token is valid"})


class UserView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(
        parameters=[TOKEN_QUERY],
        responses={200: OpenApiResponse(UserSerializer, description="The user the token belongs to"), **error_responses(401)},
        examples=USER_EXAMPLES,
        tags=["Users"],
        summary="The token's user",
    )
    def get(self, request):
        return Response(UserSerializer(request.user).data)


class LogoutView(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(
        parameters=[TOKEN_QUERY],
        responses={200: OpenApiResponse(MessageSerializer, description="Every token of the user is revoked"),
                   **error_responses(401)},
        examples=LOGOUT_EXAMPLES,
        tags=["Users"],
        summary="Revoke every token of the user",
    )
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
        responses={
            200: OpenApiResponse(OtpRequestResponseSerializer, description="A code is on its way"),
            **error_responses(unavailable=("The code could not be sent (or the database is unreachable); try "
                                           "again later", {"detail": SmsUnavailable.default_detail})),
        },
        examples=OTP_EXAMPLES,
        tags=["Users"],
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

    @extend_schema(
        responses={200: OpenApiResponse(HealthSerializer, description="Up, and the database answers"),
                   503: OpenApiResponse(HealthSerializer, description="Up, but the database does not answer")},
        examples=HEALTH_EXAMPLES,
        tags=["Health"],
        summary="Liveness with a database round trip",
    )
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError:
            return Response({"status": "unhealthy", "database": "unavailable"}, status=503)
        return Response({"status": "healthy", "database": "ok"})


class PlainYamlRenderer(OpenApiYamlRenderer):
    media_type = "text/plain"  # a browser shows it instead of downloading it
    charset = "utf-8"


class SchemaView(SpectacularAPIView):
    """The OpenAPI document: YAML (or ?format=json). Shown as text in a browser; ?download saves it as a file."""

    def perform_content_negotiation(self, request, force=False):
        browser = "text/html" in request.headers.get("Accept", "")
        if browser and not {"format", "download"} & set(request.query_params):
            return PlainYamlRenderer(), PlainYamlRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        if "download" in request.query_params:
            response["Content-Disposition"] = response["Content-Disposition"].replace("inline", "attachment", 1)
        return response


def favicon(request):
    """Browsers ask every host for one; an empty answer rather than a 404 in the console and the logs."""
    response = HttpResponse(status=204)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/health"))


def bad_request(request, exception=None):
    """JSON for API clients; a small page for people (templates/400.html and the others)."""
    if _is_api(request):
        return JsonResponse({"detail": "Bad request."}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)
    return defaults.permission_denied(request, exception)


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    return defaults.server_error(request)
