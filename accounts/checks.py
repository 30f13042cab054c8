"""System checks that stop a production start on a missing or weak secret, naming the variable."""

import ipaddress
import re

import phonenumbers
from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import captcha, sms, throttling

ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_SECRET_KEY_LENGTH = 50  # Django's own check --deploy threshold
MIN_JWT_SECRET_LENGTH = 32
MIN_API_KEY_LENGTH = 16


def secret_errors() -> list[tuple[str, str]]:
    """(id, message) for every unsafe secret; none when DEBUG (the dev-only defaults are allowed there)."""
    if settings.DEBUG:
        return []
    problems = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
        secret_key = ""
    if not secret_key or secret_key == settings.DEV_SECRET_KEY:
        problems.append(("kriya.E001", "SECRET_KEY must be set to a unique random value when DEBUG=False."))
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH:
        problems.append(("kriya.E002", f"SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long."))
    jwt_key = settings.JWT_SECRET_KEY
    if not jwt_key or jwt_key == settings.DEV_JWT_SECRET_KEY:
        problems.append(("kriya.E003", "JWT_SECRET_KEY must be set when DEBUG=False."))
    elif len(jwt_key) < MIN_JWT_SECRET_LENGTH:
        problems.append(("kriya.E004", f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_LENGTH} characters long."))
    previous = settings.JWT_PREVIOUS_SECRET_KEYS
    if settings.DEV_JWT_SECRET_KEY in previous or any(len(key) < MIN_JWT_SECRET_LENGTH for key in previous if key):
        problems.append(("kriya.E005", f"JWT_PREVIOUS_SECRET_KEYS: every key must be a real secret of at least {MIN_JWT_SECRET_LENGTH} characters."))
    keys = settings.PLANE_API_KEYS
    if not keys or settings.DEV_PLANE_API_KEY in keys:
        problems.append(("kriya.E006", "PLANE_API_KEY must be set when DEBUG=False."))
    elif any(len(key) < MIN_API_KEY_LENGTH for key in keys):
        problems.append(("kriya.E007", f"PLANE_API_KEY: every key must be at least {MIN_API_KEY_LENGTH} characters long."))
    return problems


def algorithm_errors() -> list[tuple[str, str]]:
    if settings.JWT_ALGORITHM not in ALLOWED_JWT_ALGORITHMS:
        return [("kriya.E010", f"JWT_ALGORITHM must be one of {', '.join(ALLOWED_JWT_ALGORITHMS)}.")]
    return []


def startup_errors() -> list[tuple[str, str]]:
    """Everything that must stop Kriya from serving; gunicorn checks it too (kriya/wsgi.py)."""
    return secret_errors() + algorithm_errors() + phone_verification_errors() + operations_errors() + admin_errors()


def admin_errors() -> list[tuple[str, str]]:
    problems = []
    if settings.ADMIN_PHONE_REGION not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(("kriya.E040", f"ADMIN_PHONE_REGION: unknown region code {settings.ADMIN_PHONE_REGION!r} (e.g. US, IN)."))
    if settings.AXES_FAILURE_LIMIT < 1:
        problems.append(("kriya.E041", "ADMIN_LOGIN_FAILURE_LIMIT must be at least 1."))
    if settings.SIGNIN_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        problems.append(("kriya.E055", f"SIGNIN_DEFAULT_REGION: unknown region code {settings.SIGNIN_DEFAULT_REGION!r} (e.g. IN, US)."))
    return problems


@register()
def check_startup(app_configs, **kwargs):
    return [Error(message, id=check_id) for check_id, message in startup_errors()]


DEVELOPMENT_SMS_BACKENDS = ("console", "locmem", "accounts.sms.ConsoleBackend", "accounts.sms.LocmemBackend")
THROTTLE_SCOPES = ("register_ip", "register_phone", "otp_ip", "otp_phone", "otp_country", "otp_prefix", "user", "refresh_ip",
                   "refresh_session", "account_ip")
_RATE = re.compile(r"^[0-9]+/(s|sec|second|m|min|minute|h|hour|d|day)$")


def phone_verification_errors() -> list[tuple[str, str]]:
    """(id, message) for every OTP, SMS or throttle setting that cannot work, whatever DEBUG is."""
    problems = []
    if settings.PHONE_VERIFICATION not in ("off", "sms"):
        problems.append(("kriya.E020", f"PHONE_VERIFICATION must be off or sms, not {settings.PHONE_VERIFICATION!r}."))
    try:
        backend = sms.backend_class()
        if not isinstance(backend, type):
            raise ImportError(backend)
    except ImportError:
        problems.append(("kriya.E021", f"SMS_BACKEND {settings.SMS_BACKEND!r} is neither an alias "
                                       f"({', '.join(sms.ALIASES)}) nor an importable class."))
    else:
        if issubclass(backend, sms.TwilioBackend):
            missing = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN") if not getattr(settings, name)]
            if not (settings.TWILIO_FROM_NUMBER or settings.TWILIO_MESSAGING_SERVICE_SID):
                missing.append("TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
            if missing:
                problems.append(("kriya.E022", f"SMS_BACKEND=twilio needs {', '.join(missing)}."))
        if issubclass(backend, sms.WebhookBackend) and not settings.SMS_WEBHOOK_URL.startswith(("https://", "http://")):
            problems.append(("kriya.E023", "SMS_BACKEND=webhook needs SMS_WEBHOOK_URL, an http(s) URL."))
    for scope, rate in settings.THROTTLE_RATES.items():
        if scope not in THROTTLE_SCOPES:
            problems.append(("kriya.E024", f"THROTTLE_RATES: unknown scope {scope!r} (known: {', '.join(THROTTLE_SCOPES)})."))
        elif rate.strip().lower() not in throttling.DISABLED and not _RATE.match(rate.strip()):
            problems.append(("kriya.E024", f"THROTTLE_RATES: {scope}={rate!r} is not a rate like 10/min or none."))
    unknown = [region for region in settings.OTP_ALLOWED_REGIONS if region != "*" and region not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        problems.append(("kriya.E025", f"OTP_ALLOWED_REGIONS: unknown region code(s) {', '.join(unknown)} (e.g. IN, US)."))
    if settings.OTP_SECRET and len(settings.OTP_SECRET) < MIN_JWT_SECRET_LENGTH:
        problems.append(("kriya.E027", f"OTP_SECRET must be at least {MIN_JWT_SECRET_LENGTH} characters long (or empty)."))
    if settings.SIGNUP not in ("open", "closed"):
        problems.append(("kriya.E028", f"SIGNUP must be open or closed, not {settings.SIGNUP!r}."))
    for phone, code in settings.OTP_TEST_NUMBERS.items():
        if not re.fullmatch(r"\+[1-9][0-9]{6,14}", phone) or not re.fullmatch(r"[0-9]{6}", code):
            problems.append(("kriya.E029", f"OTP_TEST_NUMBERS: {phone}:{code} is not an E.164 number and a 6-digit "
                                           "code, like +12025550142:123456."))
    for name, minimum in (("OTP_MAX_PER_HOUR_PER_REQUESTER", 1), ("OTP_MAX_ATTEMPTS_PER_REQUESTER", 1),
                          ("OTP_MAX_FAILURES_PER_DAY", 1), ("OTP_MAX_FAILURES_PER_DAY_PER_REQUESTER", 1),
                          ("OTP_GUESS_BACKOFF_AFTER", 1), ("OTP_GUESS_BACKOFF_SECONDS", 0), ("PHONE_CHANGES_PER_DAY", 1),
                          ("OTP_TTL_SECONDS", 1), ("OTP_MAX_ATTEMPTS", 1), ("OTP_MAX_PER_HOUR", 1),
                          ("OTP_RESEND_SECONDS", 0), ("SMS_TIMEOUT_SECONDS", 0.1), ("REFRESH_TOKEN_IDLE_DAYS", 1),
                          ("SESSION_MAX_DAYS", 1), ("REFRESH_REUSE_SECONDS", 0), ("VALIDATION_CACHE_SECONDS", 0),
                          ("REVOCATION_RETENTION_DAYS", 1), ("OTP_PREFIX_DIGITS", 1), ("SMS_BUDGET_PER_HOUR", 0),
                          ("SMS_BUDGET_PER_DAY", 0), ("CAPTCHA_TIMEOUT_SECONDS", 0.1)):
        if getattr(settings, name) < minimum:
            problems.append(("kriya.E026", f"{name} must be at least {minimum}."))
    return problems + captcha_errors()


def captcha_errors() -> list[tuple[str, str]]:
    if not settings.CAPTCHA_PROVIDER:
        return []
    if settings.CAPTCHA_PROVIDER not in captcha.VERIFY_URLS:
        return [("kriya.E061", f"CAPTCHA_PROVIDER must be {' or '.join(captcha.VERIFY_URLS)} (or empty: off), "
                               f"not {settings.CAPTCHA_PROVIDER!r}.")]
    if not settings.CAPTCHA_SECRET:
        return [("kriya.E062", f"CAPTCHA_PROVIDER={settings.CAPTCHA_PROVIDER} needs CAPTCHA_SECRET.")]
    if settings.CAPTCHA_VERIFY_URL and not settings.CAPTCHA_VERIFY_URL.startswith(("https://", "http://")):
        return [("kriya.E063", "CAPTCHA_VERIFY_URL must be an http(s) URL (or empty: the provider's own).")]
    return []


def operations_errors() -> list[tuple[str, str]]:
    """(id, message) for metrics and cache settings that cannot work, whatever DEBUG is."""
    problems = []
    if settings.METRICS_API_KEY and len(settings.METRICS_API_KEY) < MIN_JWT_SECRET_LENGTH:
        problems.append(("kriya.E030", f"METRICS_API_KEY must be at least {MIN_JWT_SECRET_LENGTH} characters long (or empty)."))
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            problems.append(("kriya.E031", f"METRICS_ALLOWED_IPS: {entry!r} is not an IP address or network."))
    if settings.CACHE_TIMEOUT_SECONDS <= 0:
        problems.append(("kriya.E032", "CACHE_TIMEOUT_SECONDS must be more than 0."))
    return problems


MIN_RSA_KEY_BITS = 2048


def _rsa_key_problem(pem: str) -> str | None:
    """Why pem cannot sign ID tokens (not an RSA private key, or under MIN_RSA_KEY_BITS), or None."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return "is not an unencrypted PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "is not an RSA key (ID tokens are signed with RS256)"
    if key.key_size < MIN_RSA_KEY_BITS:
        return f"has {key.key_size} bits; at least {MIN_RSA_KEY_BITS} are needed"
    return None


def oidc_key_errors() -> list[tuple[str, str]]:
    """(id, message) for a missing, unreadable or weak ID-token signing key; none when DEBUG. Never the key."""
    if settings.DEBUG:
        return []
    problems = []
    key_file = settings.OIDC_RSA_PRIVATE_KEY_FILE
    if not settings.OIDC_RSA_PRIVATE_KEY:
        if key_file:
            problems.append(("kriya.E051", f"OIDC_RSA_PRIVATE_KEY_FILE: {key_file} cannot be read."))
        else:
            problems.append(("kriya.E050", "OIDC_RSA_PRIVATE_KEY (or OIDC_RSA_PRIVATE_KEY_FILE) must be set when "
                                           "DEBUG=False: the RSA key that signs OpenID Connect ID tokens."))
    elif problem := _rsa_key_problem(settings.OIDC_RSA_PRIVATE_KEY):
        problems.append(("kriya.E052", f"OIDC_RSA_PRIVATE_KEY{'_FILE' if key_file else ''}: the key {problem}."))
    unreadable = [path for path in settings.OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES if not _readable(path)]
    if unreadable:
        problems.append(("kriya.E053", f"OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES: {', '.join(unreadable)} cannot be read."))
    for number, pem in enumerate(settings.OIDC_RSA_PREVIOUS_PRIVATE_KEYS, start=1):
        if problem := _rsa_key_problem(pem):
            problems.append(("kriya.E054", f"OIDC_RSA_PREVIOUS_PRIVATE_KEYS: previous key {number} {problem}."))
    return problems


def _readable(path: str) -> bool:
    try:
        with open(path, "rb"):
            return True
    except OSError:
        return False


@register(deploy=True)
def check_oidc_key_deploy(app_configs, **kwargs):
    """`manage.py check --deploy`: relying parties verify ID tokens with this key's public half (the JWKS)."""
    return [Error(message, id=check_id) for check_id, message in oidc_key_errors()]


@register(deploy=True)
def check_test_numbers_deploy(app_configs, **kwargs):
    """Test numbers sign in with a code anyone who reads the settings knows: production only when meant."""
    if settings.DEBUG or not settings.OTP_TEST_NUMBERS or settings.OTP_TEST_NUMBERS_IN_PRODUCTION:
        return []
    return [Error(
        f"OTP_TEST_NUMBERS is set ({len(settings.OTP_TEST_NUMBERS)} number(s)): each signs in with a fixed code.",
        hint="Remove them, or set OTP_TEST_NUMBERS_IN_PRODUCTION=True if app-store review needs them.",
        id="kriya.E057",
    )]


@register(deploy=True)
def check_phone_verification_deploy(app_configs, **kwargs):
    """`manage.py check --deploy`: in production Kriya should prove that the caller holds the phone."""
    if settings.DEBUG:
        return []
    if settings.PHONE_VERIFICATION == "sms" and not settings.OTP_ALLOWED_REGIONS:
        return [Error(
            "PHONE_VERIFICATION=sms with OTP_ALLOWED_REGIONS empty: codes go to every country, so anyone can run up "
            "the SMS bill with texts to the most expensive destinations (SMS pumping).",
            hint="Set OTP_ALLOWED_REGIONS to the countries your users are in (e.g. IN,US), or to * to allow every "
                 "country deliberately.",
            id="kriya.E060",
        ), *sms_backend_warnings()]
    if settings.PHONE_VERIFICATION == "off":
        return [Warning(
            "PHONE_VERIFICATION=off: anyone who knows a phone number can log in as its owner.",
            hint="Set PHONE_VERIFICATION=sms and an SMS_BACKEND once the frontend sends codes.",
            id="kriya.W001",
        )]
    return sms_backend_warnings()


def sms_backend_warnings() -> list[Warning]:
    if settings.SMS_BACKEND in DEVELOPMENT_SMS_BACKENDS:
        return [Warning(
            f"SMS_BACKEND={settings.SMS_BACKEND} texts nobody: users never receive their codes.",
            hint="Set SMS_BACKEND=twilio or webhook (or a class path) with its credentials.",
            id="kriya.W002",
        )]
    return []
