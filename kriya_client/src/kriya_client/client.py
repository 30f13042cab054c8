"""KriyaClient: validate Kriya tokens with a cache of valid answers that a revocation follower keeps honest."""

from __future__ import annotations

import logging
import re
import threading
import time

import requests

from .cache import Entry, MemoryCache
from .errors import CursorExpired, KriyaError, KriyaUnavailable
from .follower import RevocationFollower
from .tokens import token_key, unverified_claims

logger = logging.getLogger("kriya_client")

MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


def cache_seconds(cache_control: str) -> int:
    """How long Kriya lets an answer be reused: max-age, or 0 (no-store, no-cache, or no header at all)."""
    directives = cache_control.lower()
    if "no-store" in directives or "no-cache" in directives:
        return 0
    match = MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else 0


class KriyaClient:
    """One Kriya server, one pooled keep-alive connection, one cache.

    validate(token) answers from the cache only while the revocation follower has polled within
    max_staleness seconds; otherwise it asks Kriya, and raises KriyaUnavailable if Kriya cannot answer.
    """

    def __init__(self, base_url: str, api_key: str, timeout: float = 5.0, *, cache=None,
                 max_staleness: float = 5.0, max_cache_seconds: float = 300.0, pool_size: int = 10):
        if not base_url or not api_key:
            raise ValueError("KriyaClient needs Kriya's base URL and an API key")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = min(float(timeout), 60.0)  # the cache's revocation markers assume questions end within 60 s
        self.max_cache_seconds = max_cache_seconds
        self.cache = cache if cache is not None else MemoryCache(max_staleness=max_staleness)
        self.http = self._session(pool_size)
        self.follower = None
        self._follower_lock = threading.Lock()

    def _session(self, pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"X-API-Key": self.api_key, "User-Agent": "kriya-client"})
        session.trust_env = False  # no proxy from the environment between us and Kriya, no .netrc
        return session

    def validate(self, token: str) -> dict | None:
        """The Kriya user of a valid token, or None. Raises KriyaUnavailable when Kriya cannot say."""
        entry = self.check(token)
        return entry.user if entry is not None else None

    def check(self, token: str):
        """Like validate(), but the cache entry (entry.user, and entry.local for the relying party's own user)."""
        if not token or not isinstance(token, str):
            return None
        key = token_key(token)
        entry, ticket = self.cache.lookup(key, token)
        if entry is not None:
            return entry
        user, seconds = self.ask(token)
        if user is None:
            return None
        exp = unverified_claims(token).get("exp")
        if isinstance(exp, (int, float)):
            seconds = min(seconds, exp - time.time())
        seconds = min(seconds, self.max_cache_seconds)
        if seconds > 0:  # kept, but answered from only while a follower polls the feed
            return self.cache.store(key, token, ticket, user, seconds)
        return Entry(key, user, user.get("id"), None, 0.0)

    def ask(self, token: str) -> tuple[dict | None, int]:
        """Kriya's answer for one token, uncached: (user or None, seconds it may be reused)."""
        try:
            response = self.http.post(f"{self.base_url}/api/auth/validate-token", json={"token": token},
                                      timeout=self.timeout)
        except requests.RequestException as error:
            raise KriyaUnavailable(f"Kriya could not be reached: {type(error).__name__}") from None
        if response.status_code in (401, 403):
            raise KriyaError("Kriya refused the API key (KRIYA_API_KEY)")
        if response.status_code in (400, 413):  # not a token Kriya could read
            return None, 0
        if response.status_code != 200:
            raise KriyaUnavailable(f"Kriya answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise KriyaUnavailable("Kriya's answer was not JSON") from None
        if not isinstance(body, dict) or body.get("valid") is not True or not isinstance(body.get("user"), dict):
            return None, 0
        return body["user"], cache_seconds(response.headers.get("Cache-Control", ""))

    def revocations(self, after: str | None = None, limit: int = 1000, http: requests.Session | None = None):
        """One page of the revocation feed: (events, cursor). Raises CursorExpired on 410."""
        params = {"limit": limit} if after is None else {"after": after, "limit": limit}
        try:
            response = (http or self.http).get(f"{self.base_url}/api/auth/revocations", params=params,
                                                timeout=self.timeout)
        except requests.RequestException as error:
            raise KriyaUnavailable(f"Kriya could not be reached: {type(error).__name__}") from None
        if response.status_code == 410:
            raise CursorExpired("the revocation feed no longer has this cursor")
        if response.status_code in (401, 403):
            raise KriyaError("Kriya refused the API key (KRIYA_API_KEY)")
        if response.status_code != 200:
            raise KriyaUnavailable(f"Kriya's revocation feed answered {response.status_code}")
        try:
            body = response.json()
            return list(body["events"]), str(body["cursor"])
        except (ValueError, KeyError, TypeError):
            raise KriyaUnavailable("Kriya's revocation feed answered something else than events and a cursor") from None

    def follow_revocations(self, on_revoked=None, on_reset=None, poll_seconds: float = 1.0, start: bool = True,
                           cursor_store=None):
        """The RevocationFollower of this client, created once; started in a daemon thread unless start=False."""
        with self._follower_lock:
            if self.follower is None:
                self.follower = RevocationFollower(self, on_revoked=on_revoked, on_reset=on_reset,
                                                   poll_seconds=poll_seconds, cursor_store=cursor_store)
            if start:
                self.follower.start()
        return self.follower

    def close(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.http.close()
