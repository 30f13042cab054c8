"""WSGI entry point: gunicorn kriya.wsgi"""

import os

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kriya.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: refuse to serve on a missing or weak secret, as manage.py would.
from accounts.checks import startup_errors  # noqa: E402

if problems := startup_errors():
    raise ImproperlyConfigured(" ".join(message for _, message in problems))
