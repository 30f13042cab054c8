import copy
import re

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import User
from .otp import region_allowed
from .phones import InvalidPhoneNumber, normalize_phone


# A request's fields, copied per instance more cheaply than DRF's deep copy (a tenth of a sign-in's time). A plain
# field keeps no state between requests except what bind() sets, on the copy; a nested serializer does, and is
# deep-copied as DRF does. (Comments, not a docstring: the schema would show a docstring to API users.)
class InputSerializer(serializers.Serializer):
    def get_fields(self):
        return {name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
                for name, field in self._declared_fields.items()}


class StringOnly:
    """A string, and only a string: DRF would turn 123 or true into "123" or "True"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Must be a string.", code="not_a_string")
        return super().to_internal_value(data)


class StrictCharField(StringOnly, serializers.CharField):
    pass


class StrictEmailField(StringOnly, serializers.EmailField):
    pass


@extend_schema_field({"type": "string", "maxLength": 32, "pattern": r"^\+[0-9 ().\-]+$", "example": "+16502530001"})
class PhoneNumberField(StrictCharField):
    """Accepts what people type (+1 (650) 253-0001) and yields E.164."""

    def __init__(self, **kwargs):
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > self.max_length:  # DRF checks max_length on the normalized value, too late
            self.fail("max_length", max_length=self.max_length)
        try:
            return normalize_phone(value)
        except InvalidPhoneNumber as exc:
            raise serializers.ValidationError(str(exc)) from None


TIMESTAMP = serializers.DateTimeField()  # ISO 8601 UTC ending in Z, as DRF writes every timestamp


class UserSerializer(serializers.Serializer):
    """A Kriya user account, identified by its phone number."""

    # The fields document the object; to_representation builds it.

    id = serializers.UUIDField(read_only=True)
    phone_number = serializers.CharField(read_only=True)
    first_name = serializers.CharField(read_only=True)
    last_name = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, user: User) -> dict:
        # validate-token answers with this on every Plane request: build the dict directly rather than
        # through DRF's per-field machinery (half the view's time with a ModelSerializer).
        return {
            "id": str(user.id),
            "phone_number": user.phone_number,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "created_at": TIMESTAMP.to_representation(user.created_at),
        }


def check_six_digits(value: str) -> str:
    if not re.fullmatch(r"[0-9]{6}", value):
        raise serializers.ValidationError("Enter the 6-digit code.")
    return value


class CodeWhenVerifying(InputSerializer):
    """A `code` field required when PHONE_VERIFICATION=sms and ignored (dropped) when it is off."""

    code = StrictCharField(required=False, allow_blank=True, help_text="The 6-digit code from POST /api/auth/otp/request; "
                           "required when PHONE_VERIFICATION=sms, ignored when it is off")

    def validate_code(self, value):
        return check_six_digits(value) if settings.PHONE_VERIFICATION == "sms" else value

    def validate(self, attrs):
        if settings.PHONE_VERIFICATION != "sms":
            attrs.pop("code", None)  # the earlier behaviour: no code needed, none checked
        elif "code" not in attrs:
            raise serializers.ValidationError({"code": ["This field is required."]})
        return attrs


USER = UserSerializer()  # its to_representation reads no field: one instance serves every request


class RegisterSerializer(CodeWhenVerifying):
    phone_number = PhoneNumberField()
    # Required only for a new phone; services.register_or_login decides.
    first_name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    last_name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    email = StrictEmailField(max_length=254, required=False, allow_blank=True, allow_null=True, default=None)
    device_name = StrictCharField(max_length=100, required=False, allow_blank=True, default="",
                                  help_text="A name for this device, shown in the user's session list")


class DeleteAccountSerializer(InputSerializer):
    # Always, whatever PHONE_VERIFICATION says: a stolen access token alone must not delete the account.
    code = StrictCharField(help_text="The 6-digit code from POST /api/auth/user/code with purpose delete_account")

    def validate_code(self, value):
        return check_six_digits(value)


class RefuseUnknownFields:
    """Name a field this endpoint does not take, rather than silently ignoring it."""

    unknown_message = "This field cannot be changed here."
    unknown_messages: dict = {}

    def validate(self, attrs):
        data = self.initial_data if isinstance(self.initial_data, dict) else {}
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [self.unknown_messages.get(name, self.unknown_message)] for name in unknown})
        return super().validate(attrs)


class ProfileUpdateSerializer(RefuseUnknownFields, InputSerializer):
    first_name = StrictCharField(max_length=100, required=False)
    last_name = StrictCharField(max_length=100, required=False, allow_blank=True)
    email = StrictEmailField(max_length=254, required=False, allow_blank=True, allow_null=True)
    unknown_messages = {"phone_number": "Change the phone number with POST /api/auth/user/phone."}

    def validate_email(self, value):
        return value or None  # "" clears it, as null does

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError({"non_field_errors": ["Give first_name, last_name or email."]})
        return attrs


def captcha_token_field() -> StrictCharField:
    """On every request that texts a code; accounts/pumping.py reads it."""
    return StrictCharField(required=False, max_length=4096, help_text="The Turnstile or hCaptcha widget's token; "
                           "required when CAPTCHA_PROVIDER is set")


class OtpRequestSerializer(InputSerializer):
    phone_number = PhoneNumberField()
    captcha_token = captcha_token_field()

    def validate_phone_number(self, value):
        if not region_allowed(value):  # SMS pumping: no codes to countries Kriya does not serve
            allowed = ", ".join(settings.OTP_ALLOWED_REGIONS)
            raise serializers.ValidationError(f"Verification codes are sent only to phone numbers in: {allowed}.")
        return value


class PhoneVerifySerializer(OtpRequestSerializer):
    code = StrictCharField(help_text="The 6-digit code texted to the new number")
    current_code = StrictCharField(help_text="The 6-digit code texted to the account's current number")
    captcha_token = None  # verifying texts nothing

    def validate_code(self, value):
        return check_six_digits(value)

    def validate_current_code(self, value):
        return check_six_digits(value)


class AccountCodeSerializer(InputSerializer):
    purpose = serializers.ChoiceField(choices=["delete_account"], help_text="What the code will be for: "
                                      "delete_account (DELETE /api/auth/user)")
    captcha_token = captcha_token_field()


class PhoneChangedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    user = UserSerializer()


class OtpRequestResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the code stays valid")
    resend_after = serializers.IntegerField(help_text="Seconds before another code may be requested")


class SessionTokensSerializer(serializers.Serializer):
    """An access token with its session's refresh token: the answer of a sign-in and of a refresh."""

    success = serializers.BooleanField(default=True)
    message = serializers.CharField()
    token = serializers.CharField(help_text="The access token (JWT)")
    user = UserSerializer()
    expires_at = serializers.DateTimeField(help_text="When the access token expires")
    refresh_token = serializers.CharField(help_text="Exchange it at POST /api/auth/token/refresh; it works once")
    refresh_expires_at = serializers.DateTimeField(help_text="When the refresh token stops working if unused")
    session_id = serializers.UUIDField()

    @staticmethod
    def body(tokens, message: str) -> dict:
        # Built directly, like UserSerializer's: DRF copies every declared field of a serializer it instantiates.
        return {
            "success": True, "message": message, "token": tokens.access.token, "user": USER.to_representation(tokens.user),
            "expires_at": TIMESTAMP.to_representation(tokens.access.expires_at), "refresh_token": tokens.refresh_token,
            "refresh_expires_at": TIMESTAMP.to_representation(tokens.session.idle_expires_at),
            "session_id": str(tokens.session.id),
        }


class RegisterResponseSerializer(SessionTokensSerializer):
    pass


class RefreshSerializer(InputSerializer):
    refresh_token = StrictCharField(max_length=256)


class RefreshResponseSerializer(SessionTokensSerializer):
    pass


class SessionSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    device_name = serializers.CharField()
    ip_address = serializers.IPAddressField(allow_null=True)
    user_agent = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField()
    idle_expires_at = serializers.DateTimeField(help_text="When it ends if its refresh token is not used")
    expires_at = serializers.DateTimeField(help_text="When it ends however active")
    current = serializers.BooleanField(help_text="The session of the token that asked")


class SessionListSerializer(serializers.Serializer):
    sessions = SessionSerializer(many=True)


class LogoutQuerySerializer(InputSerializer):
    scope = serializers.ChoiceField(
        choices=["global", "local", "others"], default="global",
        help_text="global: every token and session; local: this session only; others: every other session",
    )


class ValidateTokenSerializer(InputSerializer):
    token = StrictCharField()  # an over-long token is answered as invalid, not as a 400


class ValidateTokenResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    user = UserSerializer(allow_null=True)
    message = serializers.CharField()


class MessageSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    status = serializers.CharField()
    database = serializers.CharField()


class RevocationQuerySerializer(RefuseUnknownFields, InputSerializer):
    """A follower that misspells after= would silently restart from now and miss events: refused."""

    after = serializers.IntegerField(required=False, min_value=0, help_text="The cursor of the previous answer")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    unknown_message = "Unknown parameter."


class RevocationEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField(help_text="logout, admin_revoked, user_deactivated, session_revoked, ...")
    user_id = serializers.UUIDField()
    session_id = serializers.UUIDField(allow_null=True, help_text="null: every token of the user below token_version")
    token_version = serializers.IntegerField(help_text="The user's token_version after the revocation")
    at = serializers.DateTimeField()


class RevocationFeedSerializer(serializers.Serializer):
    events = RevocationEventSerializer(many=True)
    cursor = serializers.CharField(help_text="Pass it as after= next time; follow it until events is empty")


class ReadinessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["ready", "degraded", "unready"])
    database = serializers.ChoiceField(["ok", "unavailable"])
    cache = serializers.ChoiceField(["ok", "unavailable"], help_text="Where the rate-limit counts live (CACHE_URL)")


class LivenessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(["alive"])
