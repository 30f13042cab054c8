"""Reading a Kriya token's claims without verifying it: Kriya verifies; the kit only files answers by user and session."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json


def token_key(token: str) -> str:
    """The cache key of a token: its SHA-256, so no token is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def unverified_claims(token: str) -> dict:
    """The JWT's payload as a dict ({} when it is not one). Never trust it for access decisions."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
