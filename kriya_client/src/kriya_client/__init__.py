"""Use Kriya from a relying party: cached token validation that a revocation follower keeps honest.

Django and DRF are optional: kriya_client.django and kriya_client.drf import them; this package does not.
"""

from .cache import DjangoCache, MemoryCache
from .client import KriyaClient, cache_seconds
from .errors import CursorExpired, KriyaError, KriyaUnavailable, SignUpClosed
from .follower import RevocationFollower
from .tokens import token_key, unverified_claims

__all__ = ["CursorExpired", "DjangoCache", "KriyaClient", "KriyaError", "KriyaUnavailable", "MemoryCache",
           "RevocationFollower", "SignUpClosed", "cache_seconds", "token_key", "unverified_claims"]
__version__ = "0.2.0"
