# Plane's production settings plus Kriya's kit. Every Plane process (api, migrator, worker, beat) runs with
# DJANGO_SETTINGS_MODULE=kriya_client.plane.settings in its environment. Like Plane's own settings, this file
# reads only the environment: use it as it is, or copy it as a module of your own and change it there.
import os

# Importing Plane's package reads Django's settings (plane/celery.py), which are this module, still half-imported:
# let that read Plane's own module, then name this one again.
os.environ["DJANGO_SETTINGS_MODULE"] = "plane.settings.production"
from plane.settings.production import *  # noqa: E402,F403
from plane.settings.production import INSTALLED_APPS, LOGGING, MIDDLEWARE  # noqa: E402

os.environ["DJANGO_SETTINGS_MODULE"] = __name__

INSTALLED_APPS = [*INSTALLED_APPS, "kriya_client", "kriya_client.plane"]
MIDDLEWARE = [*MIDDLEWARE, "kriya_client.django.RevocationFollowerMiddleware"]
ROOT_URLCONF = "kriya_client.plane.urls"  # Plane's URLs, plus /auth/kriya/ (token exchange), login/, callback/

# REST_FRAMEWORK stays Plane's own dict, whole: its exception handler, throttles and renderers. Plane's API views
# name their own authentication classes, so Kriya tokens reach them through KRIYA_PLANE_BEARER, not through
# REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"].

# Plane's LOGGING disables every logger it does not name (and Plane's ASGI app applies it twice): name the kit's.
LOGGING = {**LOGGING, "loggers": {**LOGGING["loggers"],
                                  "kriya_client": {"level": "INFO", "handlers": ["console"], "propagate": False}}}

KRIYA_BACKEND_URL = os.environ.get("KRIYA_BACKEND_URL", "")  # required by the api process
KRIYA_API_KEY = os.environ.get("KRIYA_API_KEY", "")  # one of Kriya's PLANE_API_KEY values
KRIYA_ADAPTER = "kriya_client.plane.adapter.PlaneAdapter"  # users as Plane's own sign-up makes them
KRIYA_CACHE = "default"  # Plane's Redis: one cache of Kriya's answers for every worker
KRIYA_CACHE_LOCAL_USER = False  # Plane's views save request.user: load it fresh for each request
KRIYA_PLANE_BEARER = os.environ.get("KRIYA_PLANE_BEARER", "0") == "1"  # Authorization: Bearer on Plane's API
# Browser sign-in (GET /auth/kriya/login/?next=…): Plane as an OpenID Connect client registered at Kriya.
KRIYA_OIDC_ISSUER = os.environ.get("KRIYA_OIDC_ISSUER") or KRIYA_BACKEND_URL  # Kriya's public address (OIDC_ISSUER)
KRIYA_OIDC_CLIENT_ID = os.environ.get("KRIYA_OIDC_CLIENT_ID", "")
KRIYA_OIDC_CLIENT_SECRET = os.environ.get("KRIYA_OIDC_CLIENT_SECRET", "")
KRIYA_LOGIN_REDIRECT_URL = os.environ.get("WEB_URL") or "/"  # where a sign-in lands without a same-origin next
