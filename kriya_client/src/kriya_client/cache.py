"""Where the kit keeps Kriya's "valid" answers: in this process (MemoryCache) or in a Django cache (DjangoCache).

Both speak the same small protocol, used by KriyaClient and RevocationFollower:
  lookup(key, token) -> (entry or None, ticket)   an answer only while the follower is fresh
  store(key, token, ticket, user, ttl)             refused when a revocation landed since the ticket was taken
  revoke(event), clear(), heartbeat()              called by the follower
An answer that was being fetched while its user or session was revoked is never stored: the ticket taken
before asking Kriya tells store() whether a revocation came in between.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from .tokens import unverified_claims

MARKER_SECONDS = 120  # longer than any question to Kriya may take (KriyaClient caps its timeout at 60 s)
PREFIX = "kriya:"


class Entry:
    """A cached valid answer: the Kriya user, and whatever the relying party attached (its local user)."""

    __slots__ = ("key", "user", "user_id", "session_id", "deadline", "local", "stamp")

    def __init__(self, key, user, user_id, session_id, deadline, stamp=None):
        self.key, self.user, self.user_id, self.session_id = key, user, user_id, session_id
        self.deadline, self.stamp, self.local = deadline, stamp, None


class MemoryCache:
    """Thread-safe, bounded (least recently stored goes first), per process; revocations evict through an index."""

    def __init__(self, max_entries: int = 10000, max_staleness: float = 5.0):
        self.max_entries = max_entries
        self.max_staleness = max_staleness
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._by_user: dict[str, set] = {}
        self._by_session: dict[str, set] = {}
        # When each user / session was last revoked (monotonic): stops a store whose question predates it.
        self._revoked_at: dict[str, float] = {}
        self._cleared_at = 0.0
        self._lock = threading.Lock()
        self.polled_at: float | None = None  # the follower's last complete poll (monotonic)

    def fresh(self) -> bool:
        return self.polled_at is not None and time.monotonic() - self.polled_at <= self.max_staleness

    def lookup(self, key: str, token: str):
        now = time.monotonic()
        if self.polled_at is None or now - self.polled_at > self.max_staleness:
            return None, now
        entry = self._entries.get(key)
        if entry is None or entry.deadline <= now:
            return None, now
        return entry, now

    def store(self, key: str, token: str, ticket: float, user: dict, ttl: float) -> Entry:
        claims = unverified_claims(token)
        user_id, session_id = str(claims.get("user_id") or user.get("id")), claims.get("sid")
        entry = Entry(key, user, user_id, session_id, time.monotonic() + ttl)
        with self._lock:
            revoked = max(self._cleared_at, self._revoked_at.get(f"u:{user_id}", 0.0),
                          self._revoked_at.get(f"s:{session_id}", 0.0))
            if revoked >= ticket:  # Kriya may have answered before this revocation committed
                return entry
            self._discard(key)
            self._entries[key] = entry
            self._by_user.setdefault(user_id, set()).add(key)
            if session_id:
                self._by_session.setdefault(session_id, set()).add(key)
            while len(self._entries) > self.max_entries:
                self._discard(next(iter(self._entries)))
        return entry

    def attach(self, entry: Entry) -> None:
        """entry.local changed: nothing to write back, the entry is this process's own object."""

    def revoke(self, event: dict) -> None:
        now = time.monotonic()
        user_id, session_id = str(event.get("user_id")), event.get("session_id")
        with self._lock:
            marker, index, name = (f"s:{session_id}", self._by_session, session_id) if session_id else (
                f"u:{user_id}", self._by_user, user_id)
            self._revoked_at[marker] = now
            for key in list(index.get(name, ())):
                self._discard(key)
            self._forget_markers(now)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._by_user.clear()
            self._by_session.clear()
            self._revoked_at.clear()
            self._cleared_at = time.monotonic()

    def heartbeat(self) -> None:
        self.polled_at = time.monotonic()

    def __len__(self):
        return len(self._entries)

    def _discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for index, name in ((self._by_user, entry.user_id), (self._by_session, entry.session_id)):
            keys = index.get(name)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[name]

    def _forget_markers(self, now: float) -> None:
        # A marker only matters to questions in flight when it was set: older than MARKER_SECONDS, it goes.
        if len(self._revoked_at) > 1000:
            self._revoked_at = {k: t for k, t in self._revoked_at.items() if now - t < MARKER_SECONDS}


class DjangoCache:
    """Answers in a Django cache shared by every process (e.g. Redis via django-redis).

    A shared cache cannot list one user's entries, so revocations are generations: the follower writes the id
    of the latest event of a user (kriya:u:<id>) or session (kriya:s:<id>); an entry records the generations it
    was asked under and counts only while they are unchanged. One get_many per lookup reads the entry, both
    generations, the epoch (changed by clear()) and the follower's heartbeat (kriya:polled_at, wall clock).
    """

    def __init__(self, cache, max_staleness: float = 5.0, max_entry_seconds: float = 300.0):
        self.cache = cache
        self.max_staleness = max_staleness
        # A generation must outlive every entry that recorded an older one.
        self.generation_seconds = int(max_entry_seconds + MARKER_SECONDS)

    def fresh(self) -> bool:
        polled_at = self.cache.get(PREFIX + "polled_at")
        return polled_at is not None and time.time() - polled_at <= self.max_staleness

    def lookup(self, key: str, token: str):
        claims = unverified_claims(token)
        names = (f"{PREFIX}v:{key}", f"{PREFIX}u:{claims.get('user_id')}", f"{PREFIX}s:{claims.get('sid')}",
                 PREFIX + "epoch", PREFIX + "polled_at")
        found = self.cache.get_many(names)
        ticket = [found.get(name) for name in names[1:4]]
        polled_at, now = found.get(names[4]), time.time()
        stored = found.get(names[0])
        if polled_at is None or now - polled_at > self.max_staleness or stored is None:
            return None, ticket
        if stored["ticket"] != ticket or stored["expires_at"] <= now:
            return None, ticket
        entry = Entry(key, stored["user"], claims.get("user_id"), claims.get("sid"), stored["expires_at"], ticket)
        entry.local = stored.get("local")
        return entry, ticket

    def store(self, key: str, token: str, ticket, user: dict, ttl: float) -> Entry:
        claims = unverified_claims(token)
        entry = Entry(key, user, claims.get("user_id"), claims.get("sid"), time.time() + ttl, ticket)
        self._write(entry)  # a revocation since the ticket changed a generation: the entry never matches
        return entry

    def attach(self, entry: Entry) -> None:
        self._write(entry)

    def revoke(self, event: dict) -> None:
        name = f"s:{event['session_id']}" if event.get("session_id") else f"u:{event.get('user_id')}"
        self.cache.set(PREFIX + name, event.get("id") or secrets.token_hex(8), timeout=self.generation_seconds)

    def clear(self) -> None:
        self.cache.set(PREFIX + "epoch", secrets.token_hex(8), timeout=None)

    def heartbeat(self) -> None:
        self.cache.set(PREFIX + "polled_at", time.time(), timeout=None)

    def _write(self, entry: Entry) -> None:
        seconds = entry.deadline - time.time()
        if seconds > 0:
            value = {"user": entry.user, "ticket": entry.stamp, "expires_at": entry.deadline, "local": entry.local}
            self.cache.set(f"{PREFIX}v:{entry.key}", value, timeout=max(1, int(seconds)))
