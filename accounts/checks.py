"""System checks that stop a production start on a missing or weak secret, naming the variable."""

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

ALLOWED_JWT_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_JWT_SECRET_LENGTH = 32
MIN_API_KEY_LENGTH = 16


def secret_errors() -> list[str]:
    """Messages for every unsafe secret; empty when DEBUG (the dev-only defaults are allowed there)."""
    if settings.DEBUG:
        return []
    problems = []
    try:
        secret_key = settings.SECRET_KEY
    except ImproperlyConfigured:  # Django refuses to read an empty SECRET_KEY
        secret_key = ""
    if not secret_key or secret_key == settings.DEV_SECRET_KEY:
        problems.append("SECRET_KEY must be set to a unique random value when DEBUG=False.")
    jwt_key = settings.JWT_SECRET_KEY
    if not jwt_key or jwt_key == settings.DEV_JWT_SECRET_KEY:
        problems.append("JWT_SECRET_KEY must be set when DEBUG=False.")
    elif len(jwt_key) < MIN_JWT_SECRET_LENGTH:
        problems.append(f"JWT_SECRET_KEY must be at least {MIN_JWT_SECRET_LENGTH} characters long.")
    if any(len(key) < MIN_JWT_SECRET_LENGTH for key in settings.JWT_PREVIOUS_SECRET_KEYS if key):
        problems.append(f"JWT_PREVIOUS_SECRET_KEYS: every key must be at least {MIN_JWT_SECRET_LENGTH} characters long.")
    keys = [key for key in settings.PLANE_API_KEYS if key]
    if not keys or settings.DEV_PLANE_API_KEY in keys:
        problems.append("PLANE_API_KEY must be set when DEBUG=False.")
    elif any(len(key) < MIN_API_KEY_LENGTH for key in keys):
        problems.append(f"PLANE_API_KEY: every key must be at least {MIN_API_KEY_LENGTH} characters long.")
    return problems


@register()
def check_secrets(app_configs, **kwargs):
    return [Error(message, id=f"kriya.E00{n}") for n, message in enumerate(secret_errors(), start=1)]


@register()
def check_jwt_algorithm(app_configs, **kwargs):
    if settings.JWT_ALGORITHM not in ALLOWED_JWT_ALGORITHMS:
        return [Error(f"JWT_ALGORITHM must be one of {', '.join(ALLOWED_JWT_ALGORITHMS)}.", id="kriya.E010")]
    return []
