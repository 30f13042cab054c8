"""Rate limits per IP, per phone and per user, kept in the shared cache so every worker counts together."""

import hashlib

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .phones import InvalidPhoneNumber, normalize_phone
from .sessions import session_for_refresh_token

DISABLED = {"", "none", "off"}


class SettingsRateThrottle(SimpleRateThrottle):
    """DRF's throttle with its rate read from settings.THROTTLE_RATES on each request, not at import."""

    def get_rate(self):
        rate = settings.THROTTLE_RATES.get(self.scope)
        return None if rate is None or rate.strip().lower() in DISABLED else rate

    def key_for(self, ident: str) -> str:
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IPRateThrottle(SettingsRateThrottle):
    def get_cache_key(self, request, view):
        return self.key_for(self.get_ident(request))  # REMOTE_ADDR, or what NUM_PROXIES trusted proxies saw


class PhoneRateThrottle(SettingsRateThrottle):
    """Counts by the normalized phone number, so +1 (650) 253-0001 and +16502530001 share one limit."""

    def get_cache_key(self, request, view):
        data = request.data
        raw = data.get("phone_number") if isinstance(data, dict) else None
        try:
            phone = normalize_phone(raw) if isinstance(raw, str) else None
        except InvalidPhoneNumber:
            phone = None
        if phone is None:
            return None  # the serializer refuses it; the IP limit still counts it
        return self.key_for(hashlib.sha256(phone.encode()).hexdigest()[:32])  # no phone numbers in the cache


class RegisterIPThrottle(IPRateThrottle):
    scope = "register_ip"


class RegisterPhoneThrottle(PhoneRateThrottle):
    scope = "register_phone"


class OtpIPThrottle(IPRateThrottle):
    scope = "otp_ip"


class OtpPhoneThrottle(PhoneRateThrottle):
    scope = "otp_phone"


class UserThrottle(SettingsRateThrottle):
    """For the token-authenticated endpoints; they answer 401 before throttling, so a user is always known."""

    scope = "user"

    def get_cache_key(self, request, view):
        user = request.user
        return self.key_for(str(user.pk) if user is not None else self.get_ident(request))


class AccountIPThrottle(IPRateThrottle):
    """For the account changes (profile, phone, deletion), on top of the per-user limit."""

    scope = "account_ip"


class RefreshIPThrottle(IPRateThrottle):
    scope = "refresh_ip"


class RefreshSessionThrottle(SettingsRateThrottle):
    """Counts refreshes per session, whichever of its refresh tokens (current or rotated) is presented."""

    scope = "refresh_session"

    def get_cache_key(self, request, view):
        data = request.data
        token = data.get("refresh_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token or len(token) > 256:
            return None  # the serializer refuses it; the IP limit still counts it
        session_id = session_for_refresh_token(token)
        return self.key_for(str(session_id)) if session_id else None  # unknown: a 401, counted per IP
