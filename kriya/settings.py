"""Kriya settings. The only module that reads the environment (see .env.example)."""

import os
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # variables already in the environment win

DEBUG = env.bool("DEBUG", default=False)

# Development-only fallbacks. With DEBUG=False they are empty, and accounts/checks.py
# refuses to start (naming the variable) rather than sign tokens with a known secret.
DEV_SECRET_KEY = "django-insecure-kriya-development-only-secret-key-do-not-deploy"
DEV_JWT_SECRET_KEY = "kriya-development-only-jwt-secret-do-not-deploy"
DEV_PLANE_API_KEY = "kriya-development-only-api-key"

# An empty value counts as unset, so a copied .env.example falls back the same way.
SECRET_KEY = env.str("SECRET_KEY", default="") or (DEV_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

JWT_SECRET_KEY = env.str("JWT_SECRET_KEY", default="") or (DEV_JWT_SECRET_KEY if DEBUG else "")
# Keys that signed earlier tokens and still verify them: rotate without logging everyone out.
JWT_PREVIOUS_SECRET_KEYS = env.list("JWT_PREVIOUS_SECRET_KEYS", default=[])
JWT_ALGORITHM = env.str("JWT_ALGORITHM", default="HS256")
JWT_ISSUER = "kriya-auth"
TOKEN_EXPIRY_HOURS = env.int("TOKEN_EXPIRY_HOURS", default=24)
# Sessions: a refresh token unused this long stops working; a session ends this long after sign-in anyway.
REFRESH_TOKEN_IDLE_DAYS = env.int("REFRESH_TOKEN_IDLE_DAYS", default=30)
SESSION_MAX_DAYS = env.int("SESSION_MAX_DAYS", default=90)
# A rotated refresh token presented again within this many seconds is a client's retry, not a theft.
REFRESH_REUSE_SECONDS = env.int("REFRESH_REUSE_SECONDS", default=10)
# validate-token tells relying parties they may cache a valid answer this long (never beyond the token's
# expiry); they learn of revocations sooner from the feed, GET /api/auth/revocations.
VALIDATION_CACHE_SECONDS = env.int("VALIDATION_CACHE_SECONDS", default=60)
REVOCATION_RETENTION_DAYS = env.int("REVOCATION_RETENTION_DAYS", default=7)
# Several comma-separated keys are valid at once, so Plane's key can be rotated without downtime.
PLANE_API_KEYS = [key for key in env.list("PLANE_API_KEY", default=[]) if key] or ([DEV_PLANE_API_KEY] if DEBUG else [])

# Behind a TLS-terminating proxy (see README, "Behind a proxy"); all off by default.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^health(/ready|/live)?/?$", r"^metrics/?$"]  # probes and Prometheus use plain HTTP inside
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
ADMIN_URL = env.str("ADMIN_URL", default="admin/")

CORS_ALLOWED_ORIGINS = env.list("ALLOWED_ORIGINS", default=[])
CORS_ALLOW_HEADERS = ("accept", "authorization", "content-type", "x-api-key", "x-request-id")

# API request bodies are a few hundred bytes; anything much larger is refused with 413.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=16 * 1024)

INSTALLED_APPS = [
    "kriya.apps.KriyaAdminConfig",  # django.contrib.admin with Kriya's site (accounts/adminsite.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "kriya.apps.OpenIDConnectConfig",  # django-oauth-toolkit: the OpenID Connect provider (accounts/oidc.py, OAUTH2_PROVIDER)
    "accounts",
]

MIDDLEWARE = [
    "accounts.middleware.MetricsMiddleware",  # first: times everything below it, 500s included
    "accounts.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

ROOT_URLCONF = "kriya.urls"
WSGI_APPLICATION = "kriya.wsgi.application"
APPEND_SLASH = False  # the API answers with and without a trailing slash, never with a redirect

LOGIN_URL = "signin-phone"  # the hosted sign-in pages (accounts/signin.py), where the authorize endpoint sends people

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],  # the admin's base_site.html and the error pages for people
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Plane calls validate-token on every request: keep connections open between requests.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
# Check a reused connection with a SELECT 1 before its first query in a request: after PostgreSQL restarts,
# no request gets the dead connection's 503. It costs that round trip once per request.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# Every database wait has a bound, so a stuck database answers 503 JSON within seconds instead of holding a
# worker until gunicorn kills it. 0 turns one off. PgBouncer refuses the `options` startup parameter that
# carries them: README, "Growing past one host".
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=3000)
DATABASE_LOCK_TIMEOUT_MS = env.int("DATABASE_LOCK_TIMEOUT_MS", default=2000)
# `manage.py migrate` waits this long for a table lock (then fails, to be retried), and has no statement timeout.
DATABASE_MIGRATION_LOCK_TIMEOUT_MS = env.int("DATABASE_MIGRATION_LOCK_TIMEOUT_MS", default=5000)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg with a client-side deadline on every wait: a server that stops answering on an open connection
    # (hung, or a frozen proxy) fails the query after DATABASE_STATEMENT_TIMEOUT_MS plus half a second.
    DATABASES["default"]["ENGINE"] = "accounts.postgresql"
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=3))
    # Server-side parameters, and psycopg preparing a statement after 5 runs: validate-token's SELECT is
    # parsed and planned once per connection. Behind PgBouncer in transaction mode, set the threshold to -1.
    options.setdefault("server_side_binding", env.bool("DATABASE_SERVER_SIDE_BINDING", default=True))
    if (threshold := env.int("DATABASE_PREPARE_THRESHOLD", default=5)) >= 0:
        options.setdefault("prepare_threshold", threshold)
    session = [f"-c {name}={value}" for name, value in (
        ("statement_timeout", DATABASE_STATEMENT_TIMEOUT_MS), ("lock_timeout", DATABASE_LOCK_TIMEOUT_MS)) if value > 0]
    if session:
        options.setdefault("options", " ".join(session))
    # TCP keepalives: a connection whose peer vanished (host down, network cut) is found dead in about 15 s
    # even while idle, and tcp_user_timeout bounds unacknowledged writes the same way.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", env.int("DATABASE_KEEPALIVES_IDLE", default=5))
    options.setdefault("keepalives_interval", 2)
    options.setdefault("keepalives_count", 3)
    options.setdefault("tcp_user_timeout", env.int("DATABASE_TCP_USER_TIMEOUT_MS", default=10000))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The hosted sign-in pages speak these, chosen by Accept-Language (locale/: compiled .mo files are committed).
LANGUAGES = [("en", "English"), ("hi", "हिन्दी")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["accounts.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "accounts.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # Proxies in front of Kriya whose X-Forwarded-For is trusted for the client IP (0: use the socket's).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Kriya",
    "DESCRIPTION": "Phone-number authentication for Plane: register or log in, validate and revoke JWTs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {"planeApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
    },
    "PREPROCESSING_HOOKS": ["accounts.schema.document_paths_without_trailing_slash"],
    # /health/ready's database and cache fields share one choice set: one schema component for both.
    "ENUM_NAME_OVERRIDES": {"DependencyStatusEnum": ["ok", "unavailable"]},
    "TAGS": [
        {"name": "Users", "description": "Apps register or log a user in by phone number and get a JWT"},
        {"name": "Plane", "description": "Plane's backend checks a user's token, with its API key"},
        {"name": "Health", "description": "For load balancers and monitoring"},
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "accounts.logging.RedactSecretsFilter"},
        "skip_503": {"()": "accounts.logging.SkipServiceUnavailable"},
    },
    "formatters": {"line": {"format": "[%(asctime)s] %(levelname)s %(name)s: %(message)s"}, "bare": {"format": "%(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line", "filters": ["redact"]},
        "events": {"class": "logging.StreamHandler", "formatter": "bare", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Auth events: one JSON line each (accounts/events.py).
        "kriya.auth": {"handlers": ["events"], "level": "INFO", "propagate": False},
        # Replace Django's default handlers, which lack the filter (runserver's request lines carry ?token=).
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},  # lockouts; not every attempt
        # A 503 is logged once per outage by accounts/exceptions.py, not once per request here.
        "django.request": {"handlers": ["console"], "level": "INFO", "propagate": False, "filters": ["skip_503"]},
    },
}
PORT = env.int("PORT", default=8001)  # used by `manage.py serve` (make run)

# Phone verification: "off" registers anyone who knows a phone number (the earlier behaviour);
# "sms" makes register require the one-time code texted by POST /api/auth/otp/request.
PHONE_VERIFICATION = env.str("PHONE_VERIFICATION", default="off").strip().lower()
OTP_SECRET = env.str("OTP_SECRET", default="")  # key of the codes' HMAC; empty: derived from SECRET_KEY
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=300)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=5)
OTP_RESEND_SECONDS = env.int("OTP_RESEND_SECONDS", default=60)
# Codes texted to one phone per hour, all requesters together, and from one requester (an IP, an IPv6 /64): a
# stranger's requests use up only their share, never the owner's.
OTP_MAX_PER_HOUR = env.int("OTP_MAX_PER_HOUR", default=10)
OTP_MAX_PER_HOUR_PER_REQUESTER = env.int("OTP_MAX_PER_HOUR_PER_REQUESTER", default=3)
# Wrong guesses: one requester may use this many of a code's OTP_MAX_ATTEMPTS (the rest stay its owner's) and make
# OTP_MAX_FAILURES_PER_DAY_PER_REQUESTER in 24 hours for one number. A number takes at most OTP_MAX_FAILURES_PER_DAY
# in 24 hours from everyone, and past OTP_GUESS_BACKOFF_AFTER of them each guess waits OTP_GUESS_BACKOFF_SECONDS,
# doubling, up to an hour: a lockout of the owner takes several networks, never one.
OTP_MAX_ATTEMPTS_PER_REQUESTER = env.int("OTP_MAX_ATTEMPTS_PER_REQUESTER", default=3)
OTP_MAX_FAILURES_PER_DAY_PER_REQUESTER = env.int("OTP_MAX_FAILURES_PER_DAY_PER_REQUESTER", default=5)
OTP_MAX_FAILURES_PER_DAY = env.int("OTP_MAX_FAILURES_PER_DAY", default=20)
OTP_GUESS_BACKOFF_AFTER = env.int("OTP_GUESS_BACKOFF_AFTER", default=10)
OTP_GUESS_BACKOFF_SECONDS = env.int("OTP_GUESS_BACKOFF_SECONDS", default=30)
# The site whose pages may autofill codes (WebOTP, iOS): adds the "@kriya.example.com #123456" line to each text.
OTP_SMS_DOMAIN = env.str("OTP_SMS_DOMAIN", default="")
# Numbers that get a fixed code and no text, for app-store review and CI: "+12025550142:123456,+12025550143:654321".
# Every other limit applies; each use is an auth event. check --deploy refuses them in production unless
# OTP_TEST_NUMBERS_IN_PRODUCTION=True.
OTP_TEST_NUMBERS = {
    phone.strip(): code.strip() for phone, _, code in
    (entry.partition(":") for entry in env.list("OTP_TEST_NUMBERS", default=[]) if entry.strip())
}
OTP_TEST_NUMBERS_IN_PRODUCTION = env.bool("OTP_TEST_NUMBERS_IN_PRODUCTION", default=False)
# open: any phone number may create an account; closed: only numbers that already have one (staff add people in the
# admin). An unknown number is answered as a known one and gets no text.
SIGNUP = env.str("SIGNUP", default="open").strip().lower()
# Moving an account to another number: at most this many times per account in 24 hours.
PHONE_CHANGES_PER_DAY = env.int("PHONE_CHANGES_PER_DAY", default=1)
# How people reach the operator, quoted in the text that tells a number its account moved away (a URL, a number).
SUPPORT_CONTACT = env.str("SUPPORT_CONTACT", default="")
# Countries (phonenumbers region codes, e.g. IN,US) that codes may be sent to; * allows every country. Empty: any
# country too, but `check --deploy` refuses it with PHONE_VERIFICATION=sms (README, "Protecting your SMS bill").
OTP_ALLOWED_REGIONS = [region.strip().upper() for region in env.list("OTP_ALLOWED_REGIONS", default=[]) if region.strip()]
# SMS pumping (accounts/pumping.py): numbers grouped by their first OTP_PREFIX_DIGITS digits (E.164, country code
# included) share THROTTLE_RATES' otp_prefix limit; every code texted counts against a budget per clock hour and
# per UTC day (0: no budget), beyond which code requests get 503 with Retry-After.
OTP_PREFIX_DIGITS = env.int("OTP_PREFIX_DIGITS", default=7)
SMS_BUDGET_PER_HOUR = env.int("SMS_BUDGET_PER_HOUR", default=300)
SMS_BUDGET_PER_DAY = env.int("SMS_BUDGET_PER_DAY", default=3000)
# An optional human check on code requests (accounts/captcha.py): turnstile or hcaptcha; empty: off. The
# client sends the widget's token as captcha_token; Kriya verifies it with CAPTCHA_SECRET at the provider's
# siteverify URL (CAPTCHA_VERIFY_URL overrides it), waiting at most CAPTCHA_TIMEOUT_SECONDS. When the provider
# cannot answer, CAPTCHA_FAIL_OPEN=True lets the request through, False (the default) refuses it with 503.
CAPTCHA_PROVIDER = env.str("CAPTCHA_PROVIDER", default="").strip().lower()
CAPTCHA_SECRET = env.str("CAPTCHA_SECRET", default="")
CAPTCHA_VERIFY_URL = env.str("CAPTCHA_VERIFY_URL", default="")
CAPTCHA_TIMEOUT_SECONDS = env.float("CAPTCHA_TIMEOUT_SECONDS", default=5.0)
CAPTCHA_FAIL_OPEN = env.bool("CAPTCHA_FAIL_OPEN", default=False)

# Like EMAIL_BACKEND: console, locmem, twilio, webhook, or the dotted path of a class with send_messages().
SMS_BACKEND = env.str("SMS_BACKEND", default="console")
SMS_TIMEOUT_SECONDS = env.float("SMS_TIMEOUT_SECONDS", default=10.0)
TWILIO_API_BASE = env.str("TWILIO_API_BASE", default="https://api.twilio.com")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")  # instead of a From number
SMS_WEBHOOK_URL = env.str("SMS_WEBHOOK_URL", default="")
SMS_WEBHOOK_SECRET = env.str("SMS_WEBHOOK_SECRET", default="")

# Where the rate-limit counts live, shared by every gunicorn worker and host: with the database cache (the
# default) the table throttle_counts that `manage.py migrate` creates; with redis://host:6379/0, Redis.
CACHES = {"default": env.cache("CACHE_URL", default="dbcache://kriya_cache?max_entries=100000")}
# A Redis that is down or hung costs a request at most this long before its throttle fails open or closed
# (redis-py would otherwise wait for the kernel's TCP timeouts).
CACHE_TIMEOUT_SECONDS = env.float("CACHE_TIMEOUT_SECONDS", default=0.5)
CACHE_CONNECT_TIMEOUT_SECONDS = env.float("CACHE_CONNECT_TIMEOUT_SECONDS", default=0.5)
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    cache_options = CACHES["default"].setdefault("OPTIONS", {})
    cache_options.setdefault("socket_connect_timeout", CACHE_CONNECT_TIMEOUT_SECONDS)
    cache_options.setdefault("socket_timeout", CACHE_TIMEOUT_SECONDS)

# Requests per IP / per phone / per user; "none" turns one off. THROTTLE_RATES="otp_ip=5/min,user=60/min"
# overrides only the scopes it names. Read at request time by accounts/throttling.py.
THROTTLE_RATES = {
    "register_ip": "30/min",
    "register_phone": "10/min",
    "otp_ip": "30/hour",  # texts per IP (IPv6: per /64) across every endpoint that sends one
    "otp_phone": "10/hour",
    "otp_country": "100/hour",  # texts per destination country
    "otp_prefix": "20/hour",  # texts per number prefix (OTP_PREFIX_DIGITS)
    "user": "120/min",
    "refresh_ip": "60/min",
    "refresh_session": "10/min",
    "account_ip": "30/min",
    **env.dict("THROTTLE_RATES", default={}),
}

# GET /metrics (Prometheus) answers clients from these addresses (the client IP as NUM_PROXIES reads it),
# and any client sending Authorization: Bearer METRICS_API_KEY; everyone else gets 403.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])
METRICS_API_KEY = env.str("METRICS_API_KEY", default="")
# Where gunicorn's workers write their metrics for /metrics to add up; gunicorn.conf.py makes a fresh
# directory per instance when this is unset. Empty outside gunicorn: one process, prometheus_client's registry.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if not PROMETHEUS_MULTIPROC_DIR:  # prometheus_client would take an empty one as set, and write into the cwd
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

# The staff console (README, "Admin"). Searches and the admin login read numbers typed without a country
# code (650-253-0001) as numbers of this region (a phonenumbers region code).
ADMIN_PHONE_REGION = env.str("ADMIN_PHONE_REGION", default="US").strip().upper()

# Admin login lockout (django-axes): after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one phone number
# from one IP, that pair is refused for ADMIN_LOGIN_COOLOFF_MINUTES, even with the right password. Attempts
# are rows in the database, so every gunicorn worker and host sees the same count.
AXES_ENABLED = env.bool("ADMIN_LOGIN_LOCKOUT", default=True)
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
# 0: locked until a staff member unlocks it (Axes › Access attempts, or manage.py axes_reset_username).
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOGIN_COOLOFF_MINUTES", default=15.0)) or None
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.adminforms.lockout_phone"  # +1 (650) 253-0009 and +16502530009 count as one
AXES_CLIENT_IP_CALLABLE = "accounts.events.client_ip"  # the same NUM_PROXIES rule as the API
# The admin's login view answers a lockout (accounts/adminsite.py), not axes' middleware, which would run on
# every API request: validate-token's hot path stays as it was.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Sign in with Kriya: the OpenID Connect provider (django-oauth-toolkit) and its hosted pages ---
# ID tokens are signed with RS256 by this RSA private key (PEM; in .env on one line with \n for the line breaks),
# or by the one in the file OIDC_RSA_PRIVATE_KEY_FILE names. `make run` writes one into .env; with DEBUG=False
# `check --deploy` refuses a missing key or one under 2048 bits (accounts/checks.py).
OIDC_RSA_PRIVATE_KEY_FILE = env.str("OIDC_RSA_PRIVATE_KEY_FILE", default="")
OIDC_RSA_PRIVATE_KEY = env.str("OIDC_RSA_PRIVATE_KEY", default="", multiline=True).strip()
if not OIDC_RSA_PRIVATE_KEY and OIDC_RSA_PRIVATE_KEY_FILE:
    try:
        OIDC_RSA_PRIVATE_KEY = Path(OIDC_RSA_PRIVATE_KEY_FILE).read_text().strip()
    except OSError:
        pass  # accounts/checks.py names the file that cannot be read
# Rotation: the keys that signed earlier ID tokens stay in the JWKS until those tokens have expired.
# PEMs separated by commas, and/or files (README, "Key rotation").
OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES = env.list("OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES", default=[])
OIDC_RSA_PREVIOUS_PRIVATE_KEYS = [key.strip() for key in env.str("OIDC_RSA_PREVIOUS_PRIVATE_KEYS", default="",
                                                                 multiline=True).split(",") if key.strip()]
for key_file in OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES:
    try:
        OIDC_RSA_PREVIOUS_PRIVATE_KEYS.append(Path(key_file).read_text().strip())
    except OSError:
        pass  # accounts/checks.py names it
# The issuer (iss of every ID token, and the base of /.well-known/openid-configuration), e.g.
# https://kriya.example.com. Empty: the scheme and host of each request (set it in production).
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
# http:// redirect URIs (a relying party on a developer's machine). Production clients use https only.
OIDC_ALLOW_HTTP_REDIRECT_URIS = env.bool("OIDC_ALLOW_HTTP_REDIRECT_URIS", default=DEBUG)
OIDC_ACCESS_TOKEN_SECONDS = env.int("OIDC_ACCESS_TOKEN_SECONDS", default=3600)
OIDC_ID_TOKEN_SECONDS = env.int("OIDC_ID_TOKEN_SECONDS", default=3600)
# Phone numbers typed without a country code on the sign-in page are read as numbers of this region.
SIGNIN_DEFAULT_REGION = env.str("SIGNIN_DEFAULT_REGION", default="IN").strip().upper()

# django-oauth-toolkit's own models, named so that migrations can depend on them (accounts.OidcSessionLink).
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OIDC_RSA_PRIVATE_KEY,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": OIDC_RSA_PREVIOUS_PRIVATE_KEYS,
    "OIDC_ISS_ENDPOINT": OIDC_ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "accounts.oidc.KriyaOAuth2Validator",
    "SCOPES": {
        "openid": "Sign you in with your Kriya account",
        "profile": "Your name",
        "phone": "Your phone number",
        "email": "Your email address",
    },
    "DEFAULT_SCOPES": ["openid"],
    # The authorization-code flow only, with PKCE (S256) from every client.
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
    "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": ["client_secret_basic", "client_secret_post", "none"],
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"] if OIDC_ALLOW_HTTP_REDIRECT_URIS else ["https"],
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": OIDC_ACCESS_TOKEN_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": OIDC_ID_TOKEN_SECONDS,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,  # a replayed refresh token ends its whole family
    # Unused this long after its access token expired, a refresh token is dead, like a Kriya session's (and
    # `manage.py cleartokens` may delete it); it never outlives its Kriya session anyway (accounts/oidc.py).
    "REFRESH_TOKEN_EXPIRE_SECONDS": REFRESH_TOKEN_IDLE_DAYS * 86400,
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,  # with an id_token_hint of the signed-in person
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    # Not every token of the user at every client: the tokens of the ended Kriya session stop working (oidc.py).
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    # RFC 9700 (OAuth 2.0 Security Best Current Practice): every behaviour its gates cover, enforced.
    **{f"COMPLIANT_BCP_RFC9700_{gate}": True for gate in (
        "IMPLICIT_GRANT", "PASSWORD_GRANT", "PKCE_METHOD", "ACCESS_TOKEN_TRANSPORT", "AUTHZ_RESPONSE_ISS",
        "TOKEN_STORAGE", "REFRESH_TOKEN", "REDIRECT_URI_MATCHING", "PKCE_REQUIRED")},
}
