"""Production configuration: with DEBUG=False, a weak secret stops `manage.py check --deploy` and gunicorn's import.

Each case runs in a fresh interpreter, as a deployment would. The repo's .env (DEBUG=True, dev secrets) is
read too, but the environment wins, so every relevant variable is passed explicitly; a "missing" secret is
an empty one, since .env would fill in an absent variable.
"""

import os
import secrets
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kriya.settings import DEV_JWT_SECRET_KEY, DEV_PLANE_API_KEY, DEV_SECRET_KEY

REPO = Path(__file__).resolve().parent.parent


def rsa_pem(bits: int) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits) if bits else ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


CHECK_DEPLOY = (sys.executable, "manage.py", "check", "--deploy")
IMPORT_WSGI = (sys.executable, "-c", "import kriya.wsgi")

STRONG = {
    "DEBUG": "False",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "JWT_SECRET_KEY": secrets.token_urlsafe(48),
    "JWT_PREVIOUS_SECRET_KEYS": "",
    "JWT_ALGORITHM": "HS256",
    "PLANE_API_KEY": secrets.token_urlsafe(32),
    "ALLOWED_HOSTS": "kriya.example.com",
    "OIDC_RSA_PRIVATE_KEY": rsa_pem(2048),
    "OIDC_RSA_PRIVATE_KEY_FILE": "",
    "OIDC_RSA_PREVIOUS_PRIVATE_KEYS": "",
    "OIDC_RSA_PREVIOUS_PRIVATE_KEY_FILES": "",
}


def example_value(name):
    """The placeholder .env.example suggests for a variable: people copy it."""
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1]
    raise LookupError(name)


KEY_FILE = Path(tempfile.mkdtemp(prefix="kriya-config-")) / "oidc.pem"  # a key kept in a file, as in production
KEY_FILE.write_text(rsa_pem(2048))

# case id -> (the variable the output must name, the environment that weakens it)
WEAK = {
    "SECRET_KEY-missing": ("SECRET_KEY", {"SECRET_KEY": ""}),
    "SECRET_KEY-dev-default": ("SECRET_KEY", {"SECRET_KEY": DEV_SECRET_KEY}),
    "SECRET_KEY-short": ("SECRET_KEY", {"SECRET_KEY": "Zq9-short-django-key"}),  # .env.example's is "change-me"
    "JWT_SECRET_KEY-missing": ("JWT_SECRET_KEY", {"JWT_SECRET_KEY": ""}),
    "JWT_SECRET_KEY-dev-default": ("JWT_SECRET_KEY", {"JWT_SECRET_KEY": DEV_JWT_SECRET_KEY}),
    "JWT_SECRET_KEY-31-chars": ("JWT_SECRET_KEY", {"JWT_SECRET_KEY": "Zq9" + "j" * 28}),
    "JWT_SECRET_KEY-env-example": ("JWT_SECRET_KEY", {"JWT_SECRET_KEY": example_value("JWT_SECRET_KEY")}),
    "JWT_PREVIOUS_SECRET_KEYS-short": ("JWT_PREVIOUS_SECRET_KEYS", {"JWT_PREVIOUS_SECRET_KEYS": "Zq9-old-short-key"}),
    "PLANE_API_KEY-missing": ("PLANE_API_KEY", {"PLANE_API_KEY": ""}),
    "PLANE_API_KEY-dev-default": ("PLANE_API_KEY", {"PLANE_API_KEY": DEV_PLANE_API_KEY}),
    "PLANE_API_KEY-one-of-two-short": ("PLANE_API_KEY", {"PLANE_API_KEY": f"{secrets.token_urlsafe(32)},Zq9-short"}),
    "PLANE_API_KEY-env-example": ("PLANE_API_KEY", {"PLANE_API_KEY": example_value("PLANE_API_KEY")}),
    "OIDC_RSA_PRIVATE_KEY-missing": ("OIDC_RSA_PRIVATE_KEY", {"OIDC_RSA_PRIVATE_KEY": ""}),
    "OIDC_RSA_PRIVATE_KEY-1024-bits": ("OIDC_RSA_PRIVATE_KEY", {"OIDC_RSA_PRIVATE_KEY": rsa_pem(1024)}),
    "OIDC_RSA_PRIVATE_KEY-not-rsa": ("OIDC_RSA_PRIVATE_KEY", {"OIDC_RSA_PRIVATE_KEY": rsa_pem(0)}),
    "OIDC_RSA_PRIVATE_KEY-garbage": ("OIDC_RSA_PRIVATE_KEY", {"OIDC_RSA_PRIVATE_KEY": "Zq9-not-a-pem-key-at-all"}),
    "OIDC_RSA_PRIVATE_KEY_FILE-unreadable": ("OIDC_RSA_PRIVATE_KEY_FILE", {
        "OIDC_RSA_PRIVATE_KEY": "", "OIDC_RSA_PRIVATE_KEY_FILE": "/nonexistent/kriya-oidc.pem"}),
    "OIDC_RSA_PREVIOUS_PRIVATE_KEYS-1024-bits": ("OIDC_RSA_PREVIOUS_PRIVATE_KEYS", {
        "OIDC_RSA_PREVIOUS_PRIVATE_KEYS": rsa_pem(1024)}),
}
# gunicorn's import shares secret_errors() with the check: one weak value per variable is enough there.
WEAK_FOR_WSGI = ["SECRET_KEY-missing", "JWT_SECRET_KEY-31-chars", "PLANE_API_KEY-dev-default"]
OTHER = {
    "strong": {},
    "OIDC_RSA_PRIVATE_KEY_FILE-strong": {"OIDC_RSA_PRIVATE_KEY": "", "OIDC_RSA_PRIVATE_KEY_FILE": str(KEY_FILE)},
    "JWT_ALGORITHM-RS256": {"JWT_ALGORITHM": "RS256"},
}
ENVIRONMENTS = {**{case: overrides for case, (_, overrides) in WEAK.items()}, **OTHER}
RUNS = [(CHECK_DEPLOY, case) for case in ENVIRONMENTS] + [
    (IMPORT_WSGI, case) for case in [*WEAK_FOR_WSGI, "strong", "JWT_ALGORITHM-RS256"]
]


def run(command, overrides):
    env = {**os.environ, **STRONG, **overrides}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def outcomes():
    """(exit code, output) of every run, keyed by (command, case); started together, since each takes ~0.6 s."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {(command, case): pool.submit(run, command, ENVIRONMENTS[case]) for command, case in RUNS}
    return {key: future.result() for key, future in futures.items()}


@pytest.mark.parametrize("case", list(WEAK))
def test_check_deploy_refuses_a_weak_secret_and_names_the_variable(outcomes, case):
    variable, overrides = WEAK[case]

    code, output = outcomes[CHECK_DEPLOY, case]

    assert code != 0, output
    assert variable in output
    assert "kriya.E0" in output


@pytest.mark.parametrize("case", WEAK_FOR_WSGI)
def test_gunicorn_cannot_load_the_app_with_a_weak_secret(outcomes, case):
    variable, _ = WEAK[case]

    code, output = outcomes[IMPORT_WSGI, case]

    assert code != 0, output
    assert "ImproperlyConfigured" in output
    assert variable in output


@pytest.mark.parametrize("case", [case for case, (_, overrides) in WEAK.items() if len(next(iter(overrides.values()))) >= 8])
def test_the_refusal_never_prints_the_secret_itself(outcomes, case):
    _, overrides = WEAK[case]
    value = next(iter(overrides.values()))

    for command in (CHECK_DEPLOY, IMPORT_WSGI):
        if (command, case) in outcomes:
            _, output = outcomes[command, case]
            assert all(part not in output for part in value.split(",") if len(part) >= 8)


def test_check_deploy_passes_with_strong_secrets(outcomes):
    code, output = outcomes[CHECK_DEPLOY, "strong"]

    assert code == 0, output
    assert "kriya.E" not in output


def test_check_deploy_takes_the_signing_key_from_a_file(outcomes):
    code, output = outcomes[CHECK_DEPLOY, "OIDC_RSA_PRIVATE_KEY_FILE-strong"]

    assert code == 0, output


def test_gunicorn_loads_the_app_with_strong_secrets(outcomes):
    code, output = outcomes[IMPORT_WSGI, "strong"]

    assert code == 0, output


def test_check_deploy_refuses_rs256(outcomes):
    code, output = outcomes[CHECK_DEPLOY, "JWT_ALGORITHM-RS256"]

    assert code != 0, output
    assert "JWT_ALGORITHM" in output


def test_gunicorn_cannot_load_the_app_with_rs256(outcomes):
    # gunicorn runs no system checks: with RS256 and an HMAC secret every login would fail at signing.
    code, output = outcomes[IMPORT_WSGI, "JWT_ALGORITHM-RS256"]

    assert code != 0, output
    assert "JWT_ALGORITHM" in output

