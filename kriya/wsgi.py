"""WSGI entry point: gunicorn kriya.wsgi"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kriya.settings")

django_application = get_wsgi_application()

LENGTH_REQUIRED = b'{"detail": "A request body must come with Content-Length."}'


def application(environ, start_response):
    """Django reads CONTENT_LENGTH bytes of a body, so a chunked one (which gunicorn passes on without a
    length) would be silently read as empty: refuse it with 411. nginx in front de-chunks bodies itself."""
    if "HTTP_TRANSFER_ENCODING" in environ and not environ.get("CONTENT_LENGTH"):
        start_response("411 Length Required", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(LENGTH_REQUIRED)))])
        return [LENGTH_REQUIRED]
    return django_application(environ, start_response)


# gunicorn runs no system checks: refuse to serve on a missing or weak secret, as manage.py would.
from accounts.checks import startup_errors  # noqa: E402

if problems := startup_errors():
    raise ImproperlyConfigured(" ".join(message for _, message in problems))
