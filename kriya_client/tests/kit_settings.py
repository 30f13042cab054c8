"""Django settings for the kit's own tests: a Plane-like relying party (email-keyed users with mobile_number)."""

import os
import tempfile
from urllib.parse import urlsplit

SECRET_KEY = "kit-tests-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "kriya_client",
    "planelike",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "planelike.urls"
# A file, not :memory: — the follower thread writes through its own connection, and a file database makes
# concurrent writers wait for each other instead of failing with "database table is locked".
_DB = os.path.join(tempfile.gettempdir(), f"kriya_client_tests_{os.getpid()}.sqlite3")
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _DB, "OPTIONS": {"timeout": 20},
                         "TEST": {"NAME": _DB}}}
if os.environ.get("KIT_DATABASE_URL"):  # postgres://user@host:port/name: the tests run in test_<name>
    _url = urlsplit(os.environ["KIT_DATABASE_URL"])
    DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": _url.path.lstrip("/"),
                             "USER": _url.username or "", "PASSWORD": _url.password or "",
                             "HOST": _url.hostname or "", "PORT": str(_url.port or "")}}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
AUTH_USER_MODEL = "planelike.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["kriya_client.drf.KriyaTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}
KRIYA_BACKEND_URL = "http://127.0.0.1:9"  # each test points it at its fake Kriya
KRIYA_API_KEY = "test-api-key"
KRIYA_REVOCATION_POLL_SECONDS = 0.05
KRIYA_MAX_STALENESS_SECONDS = 1
KRIYA_TIMEOUT = 2
