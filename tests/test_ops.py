"""Ops commands, and Django's own logging never carrying a secret."""

import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import AuditToken
from accounts.tokens import issue_token
from tests.servers import REPO


def test_revoke_tokens_logs_the_phone_out_everywhere(user, validate, capsys):
    token = issue_token(user).token

    call_command("revoke_tokens", "+1 (650) 253-0001")

    assert "Revoked every token of +16502530001" in capsys.readouterr().out
    assert validate(token).json() == {"valid": False, "user": None, "message": "Token has been revoked"}


def test_revoke_tokens_names_an_unknown_or_invalid_phone(db):
    with pytest.raises(CommandError, match="No user with phone number \\+16502530002"):
        call_command("revoke_tokens", "+16502530002")
    with pytest.raises(CommandError, match="must start with \\+"):
        call_command("revoke_tokens", "6502530002")


def test_purge_audit_tokens_removes_only_records_older_than_the_cutoff(api_client, user, capsys):
    for _ in range(3):
        api_client.post("/api/auth/register", {"phone_number": user.phone_number})
    AuditToken.objects.filter(pk__in=list(AuditToken.objects.values_list("pk", flat=True)[:2])).update(
        issued_at=timezone.now() - timedelta(days=91))

    call_command("purge_audit_tokens", "--older-than", "90")

    assert "Removed 2 audit token record(s)" in capsys.readouterr().out
    assert AuditToken.objects.count() == 1


def test_django_log_handlers_redact_tokens_keys_and_codes():
    token = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    script = f"""
import logging
logging.getLogger("django.server").info('"GET /api/auth/user?token={token}&x=1 HTTP/1.1" 200 12')
logging.getLogger("django.request").warning("Unauthorized: %s", "Authorization: Bearer {token}")
logging.getLogger("kriya.auth").info('{{"event": "x", "note": "POST /api/auth/register?code=123456"}}')
logging.getLogger("accounts").error("headers: X-API-Key: sekrit-plane-key-123")
"""
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=REPO, capture_output=True,
                            text=True, timeout=60)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "/api/auth/user?token=[redacted]&x=1" in output
    assert "Bearer [redacted]" in output
    assert "?code=[redacted]" in output
    for secret in (token, token.split(".")[2], "123456", "sekrit-plane-key-123"):
        assert secret not in output
