import contextlib
import time

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from django.views import View, defaults
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from drf_spectacular.views import SpectacularAPIView
from rest_framework.exceptions import APIException, AuthenticationFailed, NotFound, Throttled, ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from . import metrics, otp, pumping, revocations, services, sessions, sms
from .authentication import TokenAuthentication
from .caching import NO_STORE, PrivateAPIView
from .events import log_event, mask_phone
from .models import Session
from .permissions import HasPlaneAPIKey, may_read_metrics
from .schema import (
    ACCOUNT_CODE_EXAMPLES,
    DELETE_ACCOUNT_EXAMPLES,
    HEALTH_EXAMPLES,
    LIVE_EXAMPLES,
    LOGOUT_EXAMPLES,
    OTP_EXAMPLES,
    PHONE_CHANGE_EXAMPLES,
    PHONE_VERIFY_EXAMPLES,
    PROFILE_EXAMPLES,
    READY_EXAMPLES,
    REFRESH_EXAMPLES,
    REGISTER_EXAMPLES,
    REVOCATION_EXAMPLES,
    SESSION_REVOKED_EXAMPLES,
    SESSIONS_EXAMPLES,
    USER_EXAMPLES,
    VALIDATE_EXAMPLES,
    error_responses,
)
from .serializers import (
    AccountCodeSerializer,
    DeleteAccountSerializer,
    PhoneChangedSerializer,
    PhoneVerifySerializer,
    ProfileUpdateSerializer,
    HealthSerializer,
    LivenessSerializer,
    LogoutQuerySerializer,
    MessageSerializer,
    OtpRequestResponseSerializer,
    OtpRequestSerializer,
    ReadinessSerializer,
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
    AccountIPThrottle,
    OtpIPThrottle,
    OtpPhoneThrottle,
    RefreshIPThrottle,
    RefreshSessionThrottle,
    RegisterIPThrottle,
    RegisterPhoneThrottle,
    UserThrottle,
    check_store,
    counts_in_database,
    store_errors,
)
from .tokens import InvalidToken, verify_token

TOKEN_QUERY = OpenApiParameter("token", str, description="The user's JWT, instead of an Authorization: Bearer header "
                               "(as the earlier service accepted it; the header keeps it out of logs and history)")


class StaffAccount(APIException):
    status_code = 403
    default_detail = ("This is a staff account (or one with a history in the admin): its phone number is changed and "
                      "it is deleted by a superuser in the admin, not through the API.")
    default_code = "staff_account"


class SignupClosed(APIException):
    status_code = 403
    default_detail = "Sign-up is closed: only phone numbers that already have an account can sign in."
    default_code = "signup_closed"


STAFF_FORBIDDEN = ("A staff account", {"detail": StaffAccount.default_detail})


@contextlib.contextmanager
def account_refusals():
    """The refusals of the account's own operations (services), as the API answers them."""
    try:
        yield
    except services.StaffAccount:
        raise StaffAccount() from None
    except services.TooManyPhoneChanges as exc:
        raise Throttled(wait=exc.retry_after, detail=str(exc)) from None
    except services.AccountGone:  # deleted by a request that ran at the same time
        raise AuthenticationFailed("User not found") from None


class RegisterView(PrivateAPIView):
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
        except otp.TooManyGuesses as exc:
            raise guesses_refused(request, serializer.validated_data["phone_number"], exc) from None
        except services.SignupClosed:
            raise SignupClosed() from None
        log_event("registered" if result.created else "logged_in", request=request, user=result.user)
        log_event("session_created", request=request, user=result.user, session_id=result.tokens.session.id)
        metrics.count_login(result.created)
        return Response(RegisterResponseSerializer.body(result.tokens, result.message))


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
            verified = verify_token(serializer.validated_data["token"])
        except InvalidToken as exc:
            metrics.count_validation(exc.outcome)
            log_event("validate_failed", request=request, reason=exc.reason)
            return Response({"valid": False, "user": None, "message": exc.reason}, headers=NO_STORE)
        metrics.count_validation("valid")
        # A relying party may reuse a valid answer for a while; the revocation feed tells it of a logout sooner.
        max_age = max(0, min(settings.VALIDATION_CACHE_SECONDS, verified.expires_at - int(time.time())))
        return Response({"valid": True, "user": UserSerializer(verified.user).data, "message": "Token is valid"},
                        headers={"Cache-Control": f"private, max-age={max_age}"})


class RevocationFeedView(PrivateAPIView):
    """Revocations in commit order, for relying parties that cache validations; X-API-Key, like validate-token."""

    authentication_classes = []
    permission_classes = [HasPlaneAPIKey]

    @extend_schema(
        parameters=[RevocationQuerySerializer],
        responses={200: OpenApiResponse(RevocationFeedSerializer, description="The events after the cursor, in order"),
                   **error_responses(403, 410, forbidden=("Wrong or missing X-API-Key", {"detail": "Invalid API key"}))},
        examples=REVOCATION_EXAMPLES,
        tags=["Plane"],
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


class UserView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    query_token_methods = ("GET",)  # the earlier service's clients; PATCH and DELETE take the header only
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    def get_throttles(self):
        changes = [AccountIPThrottle()] if self.request.method != "GET" else []
        return [*super().get_throttles(), *changes]

    @extend_schema(
        parameters=[TOKEN_QUERY],
        responses={200: OpenApiResponse(UserSerializer, description="The user the token belongs to"), **error_responses(401)},
        examples=USER_EXAMPLES,
        tags=["Users"],
        summary="The token's user",
    )
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=ProfileUpdateSerializer,
                   responses={200: OpenApiResponse(UserSerializer, description="The updated user"), **error_responses(401)},
                   examples=PROFILE_EXAMPLES, tags=["Users"], summary="Change the user's own name or email")
    def patch(self, request):
        serializer = ProfileUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with account_refusals():
            changed = services.update_profile(user=request.user, **serializer.validated_data)
        log_event("profile_updated", request=request, user=request.user, fields=changed)
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=DeleteAccountSerializer,
                   responses={200: OpenApiResponse(MessageSerializer, description="The account and its sessions are gone"),
                              **error_responses(401, 403, forbidden=STAFF_FORBIDDEN)},
                   examples=DELETE_ACCOUNT_EXAMPLES, tags=["Users"],
                   summary="Delete the user's own account, with a code texted to its number by POST /api/auth/user/code",
                   description="Staff accounts are deleted in the admin (403).")
    def delete(self, request):
        serializer = DeleteAccountSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user_id, phone = request.user.pk, request.user.phone_number
        try:
            with account_refusals():
                services.delete_account(user=request.user, **serializer.validated_data,
                                        requester=services.client_meta(request).requester)
        except otp.InvalidCode:
            raise ValidationError({"detail": "Invalid or expired code"}) from None
        except otp.TooManyGuesses as exc:
            raise guesses_refused(request, phone, exc) from None
        log_event("account_deleted", request=request, user_id=str(user_id), phone=phone)
        return Response({"success": True, "message": "Account deleted"})


class PhoneChangeView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle, AccountIPThrottle, OtpIPThrottle, OtpPhoneThrottle]

    @extend_schema(request=OtpRequestSerializer,
                   responses={200: OpenApiResponse(OtpRequestResponseSerializer, description="A code was texted to the "
                                                   "new number and another to the current number"),
                              **error_responses(401, 403, forbidden=STAFF_FORBIDDEN)},
                   examples=PHONE_CHANGE_EXAMPLES, tags=["Users"],
                   summary="Text a code to the new phone number and one to the current number (the same answer "
                           "whether or not the new number is taken)",
                   description="Moving an account needs proof of both numbers: a stolen access token alone cannot move "
                               "it. At most PHONE_CHANGES_PER_DAY moves per account in 24 hours (429 beyond). "
                               "Staff accounts are moved in the admin (403).")
    def post(self, request):
        serializer = OtpRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        phone = serializer.validated_data["phone_number"]
        if phone == request.user.phone_number:
            raise ValidationError({"phone_number": ["This is already your phone number."]})
        requester = services.client_meta(request).requester
        with account_refusals():
            response = code_sent(request, phone, lambda: services.request_phone_change(user=request.user, phone_number=phone,
                                                                              requester=requester),
                                 current_number=request.user.phone_number)
        log_event("phone_change_requested", request=request, user=request.user, new_phone=mask_phone(phone))
        return response


class PhoneVerifyView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle, AccountIPThrottle]

    @extend_schema(request=PhoneVerifySerializer,
                   responses={200: OpenApiResponse(PhoneChangedSerializer, description="The account has the new number"),
                              **error_responses(401, 409)},
                   examples=PHONE_VERIFY_EXAMPLES, tags=["Users"],
                   summary="Move the account to the new phone number with its code; every token and session ends")
    def post(self, request):
        serializer = PhoneVerifySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with account_refusals():
                previous = services.change_phone(user=request.user, **serializer.validated_data,
                                                 requester=services.client_meta(request).requester)
        except services.InvalidCurrentCode:
            raise ValidationError({"detail": "Invalid or expired code for your current phone number"}) from None
        except otp.InvalidCode:
            raise ValidationError({"detail": "Invalid or expired code"}) from None
        except otp.TooManyGuesses as exc:
            raise guesses_refused(request, serializer.validated_data["phone_number"], exc) from None
        except services.PhoneTaken:
            raise PhoneTaken() from None
        log_event("phone_changed", request=request, user=request.user, previous_phone=mask_phone(previous))
        message = "Phone number changed. Sign in again with the new number."
        return Response(PhoneChangedSerializer({"success": True, "message": message, "user": request.user}).data)


class PhoneTaken(APIException):
    status_code = 409
    default_detail = "This phone number belongs to another account."
    default_code = "phone_taken"


class AccountCodeView(PrivateAPIView):
    """A code to the account's own number for an action that needs one (deleting the account)."""

    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle, AccountIPThrottle, OtpIPThrottle]

    @extend_schema(request=AccountCodeSerializer,
                   responses={200: OpenApiResponse(OtpRequestResponseSerializer, description="A code is on its way to "
                                                   "the account's phone number"),
                              **error_responses(401, 403, forbidden=STAFF_FORBIDDEN)},
                   examples=ACCOUNT_CODE_EXAMPLES, tags=["Users"],
                   summary="Text the account's own number a code for an action (delete_account)",
                   description="The code works only for that action: a code asked to sign in cannot delete the account.")
    def post(self, request):
        serializer = AccountCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, purpose = request.user, serializer.validated_data["purpose"]
        with account_refusals():
            services.refuse_staff(user)
        requester = services.client_meta(request).requester
        return code_sent(request, user.phone_number, lambda: services.request_code(phone_number=user.phone_number, purpose=purpose,
                                                                requester=requester))


class LogoutView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    query_token_methods = ("DELETE",)  # the earlier service's clients log out so
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(
        parameters=[TOKEN_QUERY, LogoutQuerySerializer],
        responses={200: OpenApiResponse(MessageSerializer, description="The tokens and sessions of the scope are revoked"),
                   **error_responses(401)},
        examples=LOGOUT_EXAMPLES,
        tags=["Users"],
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


class TokenRefreshView(PrivateAPIView):
    authentication_classes = []  # the refresh token is the credential
    permission_classes = [AllowAny]
    throttle_classes = [RefreshIPThrottle, RefreshSessionThrottle]

    @extend_schema(
        request=RefreshSerializer,
        responses={200: OpenApiResponse(RefreshResponseSerializer, description="A new access token and refresh token"),
                   **error_responses(401, unauthorized=("The refresh token is invalid, spent, revoked or expired",
                                                        {"detail": "Refresh token has already been used"}))},
        examples=REFRESH_EXAMPLES,
        tags=["Users"],
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


class SessionListView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(responses={200: OpenApiResponse(SessionListSerializer, description="The live sessions"), **error_responses(401)},
                   examples=SESSIONS_EXAMPLES, tags=["Users"], summary="The user's live sessions, newest first")
    def get(self, request):
        current = request.auth.session_id
        rows = [{**vars(session), "current": session.id == current} for session in sessions.live_sessions(request.user)]
        return Response({"sessions": SessionSerializer(rows, many=True).data})


class SessionDetailView(PrivateAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [UserThrottle]

    @extend_schema(responses={200: OpenApiResponse(MessageSerializer, description="The session is revoked"),
                              **error_responses(401, 404)},
                   examples=SESSION_REVOKED_EXAMPLES, tags=["Users"],
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


class OtpRequestView(PrivateAPIView):
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
        return send_code(request, serializer.validated_data["phone_number"])


def send_code(request, phone_number: str) -> Response:
    """Text phone_number a new sign-in code; the answer of otp/request."""
    requester = services.client_meta(request).requester
    return code_sent(request, phone_number, lambda: services.request_code(phone_number=phone_number, requester=requester))


def code_sent(request, phone_number: str, issue, current_number: str | None = None) -> Response:
    """Run issue() (it texts a code and returns the IssuedCode) and answer for it: the limits' 429, the provider's 503.
    current_number: a second text goes there (a phone change), under the same checks."""
    pumping.check_before_sending(request, phone_number, current_number=current_number)
    try:
        issued = issue()
    except otp.TooManyCodes as exc:
        metrics.count_throttled("otp_code")  # the database's per-phone limits
        raise Throttled(wait=exc.retry_after, detail=exc.reason) from None
    except sms.SmsError:
        metrics.count_otp_send(sent=False)
        log_event("otp_failed", request=request, phone=phone_number, reason="not sent")
        raise SmsUnavailable() from None
    if issued.test_number:
        log_event("otp_test_number_used", request=request, phone=issued.phone_number, purpose=issued.purpose)
    elif issued.failed:  # sign-up closed: answered as sent, as for a number without an account
        metrics.count_otp_send(sent=False)
        log_event("otp_failed", request=request, phone=phone_number, reason="not sent")
    elif issued.sent:
        metrics.count_otp_send(sent=True)
        log_event("otp_sent", request=request, phone=issued.phone_number, purpose=issued.purpose)
    else:  # SIGNUP=closed and no account: answered as if sent
        log_event("otp_not_sent", request=request, phone=issued.phone_number, reason="signup_closed")
    body = {"success": True, "message": "Verification code sent", "expires_in": issued.expires_in, "resend_after": issued.resend_after}
    return Response(OtpRequestResponseSerializer(body).data)


def guesses_refused(request, phone_number: str, exc: otp.TooManyGuesses) -> Throttled:
    metrics.count_throttled("otp_guess")
    log_event("otp_failed", request=request, phone=phone_number, reason="guesses refused")
    return Throttled(wait=exc.retry_after, detail=exc.reason)


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
    except store_errors():
        return False
    return True


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
        responses={200: OpenApiResponse(ReadinessSerializer, description="Send this instance traffic (degraded: without rate limits)"),
                   503: OpenApiResponse(ReadinessSerializer, description="The database is unreachable: send no traffic")},
        examples=READY_EXAMPLES,
        tags=["Health"],
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

    @extend_schema(responses={200: OpenApiResponse(LivenessSerializer, description="The process answers")},
                   examples=LIVE_EXAMPLES, tags=["Health"], summary="Liveness: the process answers, whatever the database and cache do")
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
