"""A minimal relying party (shaped like Plane) that uses kriya_client exactly as its README says.

Run by tests/test_relying_party.py and bench/relying_party.py under gunicorn, configured by the environment.
"""

import os

SECRET_KEY = os.environ.get("RP_SECRET_KEY", "relying-party-tests-only-" + "x" * 30)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "rp.urls"
WSGI_APPLICATION = "rp.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["RP_DATABASE"],
                         "OPTIONS": {"timeout": 20}}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
if os.environ.get("RP_REDIS_URL"):  # Plane's Redis
    CACHES["default"] = {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                         "LOCATION": os.environ["RP_REDIS_URL"], "KEY_PREFIX": os.environ.get("RP_REDIS_PREFIX", "rp")}

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "kriya_client",
    "rp_users",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kriya_client.django.RevocationFollowerMiddleware",
]
AUTH_USER_MODEL = "rp_users.User"
SESSION_COOKIE_NAME = "session-id"  # as Plane
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "kriya_client.drf.KriyaTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# The kit
KRIYA_BACKEND_URL = os.environ["KRIYA_BACKEND_URL"]
KRIYA_API_KEY = os.environ["KRIYA_API_KEY"]
KRIYA_CACHE = os.environ.get("KRIYA_CACHE", "memory")
KRIYA_MAX_STALENESS_SECONDS = float(os.environ.get("KRIYA_MAX_STALENESS_SECONDS", "5"))
KRIYA_REVOCATION_POLL_SECONDS = float(os.environ.get("KRIYA_REVOCATION_POLL_SECONDS", "1"))

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"kriya_client": {"handlers": ["console"], "level": "INFO"}},
}
