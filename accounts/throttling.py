"""Rate limits per IP, per phone and per user: an exact, atomic count per fixed window, shared by every worker.

The counts live where CACHE_URL says. With the database cache (the default) each key and window is a
throttle_counts row, counted by one INSERT ... ON CONFLICT DO UPDATE ... RETURNING: the row lock orders
parallel requests, across workers and hosts. (Django's DatabaseCache.incr is a get and a set, which two
workers can interleave.) With Redis, cache.add() and cache.incr() are SET NX and INCR, atomic in Redis.
A store that cannot be reached lets the request through (fail_open) or refuses it with 503, per throttle.
"""

import hashlib
import ipaddress
import logging
import math
import random
import sys
import threading
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connection
from rest_framework.exceptions import APIException
from rest_framework.throttling import BaseThrottle

from . import metrics
from .phones import InvalidPhoneNumber, normalize_phone
from .sessions import session_for_refresh_token

logger = logging.getLogger(__name__)

DISABLED = {"", "none", "off"}
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # DRF's rate syntax: 30/min, 10/hour, ...
STORE_RETRY_SECONDS = 5  # after a failure, each process skips the store this long instead of waiting on it again
CLOSED_RETRY_AFTER = 30  # Retry-After of a request a closed throttle refuses
WARNING_INTERVAL = 60  # at most one warning per process this often while the store is unreachable
PURGE_CHANCE = 0.02  # share of new database rows that also delete the rows of finished windows

UPSERT = (
    'INSERT INTO throttle_counts ("key", hits, window_end) VALUES (%s, 1, %s) '
    'ON CONFLICT ("key") DO UPDATE SET hits = throttle_counts.hits + 1 RETURNING hits'
)


class RateLimitUnavailable(APIException):
    status_code = 503
    default_detail = "Rate limiting is temporarily unavailable. Please try again later."
    default_code = "rate_limit_unavailable"
    wait = CLOSED_RETRY_AFTER  # DRF's handler sends it as Retry-After


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """"30/min" -> (30, 60); None when the rate is unset or turned off."""
    if rate is None or rate.strip().lower() in DISABLED:
        return None
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()[0]]


def counts_in_database() -> bool:
    """Whether the counts live in the database (CACHE_URL=dbcache://, the default) rather than the cache."""
    return isinstance(caches["default"], DatabaseCache)


def count_hit(key: str, *, period: int, window_end: int) -> int:
    """Add one to key's count (key names its window) and return the new count, atomically in any store."""
    store = caches["default"]
    if isinstance(store, DatabaseCache):
        with connection.cursor() as cursor:
            cursor.execute(UPSERT, [key, window_end])
            hits = cursor.fetchone()[0]
            if hits == 1 and random.random() < PURGE_CHANCE:
                cursor.execute("DELETE FROM throttle_counts WHERE window_end < %s", [int(time.time())])
        return hits
    # The key outlives its window (it is created inside it), so it cannot expire between add and incr.
    if store.add(key, 1, timeout=period):
        return 1
    try:
        return store.incr(key)
    except ValueError:  # evicted in between (Redis under maxmemory): count afresh
        store.add(key, 1, timeout=period)
        return 1


def store_errors() -> tuple[type[Exception], ...]:
    """What an unreachable store raises: Redis refused or hung (socket timeout), or the database failing.

    Redis's errors only once a Redis cache has loaded its client: with the database cache the client is never
    imported, 6 MiB less per worker. (An except clause evaluates this only when something was raised.)
    """
    redis = sys.modules.get("redis.exceptions")
    return (redis.RedisError, DatabaseError, OSError) if redis else (DatabaseError, OSError)


def check_store() -> None:
    """One round trip to the cache that holds the counts; raises what an unreachable one raises (readiness)."""
    caches["default"].get("kriya:ready")


class _StoreHealth:
    """Per process: whether to skip the store for now, and the rate-limited warning about it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.down_until = 0.0
        self.error = ""
        self.last_warning = -math.inf
        self.unwarned = 0

    def failed(self, error: BaseException) -> None:
        self.down_until = time.monotonic() + STORE_RETRY_SECONDS
        self.error = type(error).__name__

    def warn(self, scope: str, fail_open: bool) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last_warning < WARNING_INTERVAL:
                self.unwarned += 1
                return
            self.last_warning, unwarned, self.unwarned = now, self.unwarned, 0
        logger.warning(
            "Rate-limit store unreachable (%s): %s requests are %s; %d more such requests since the last warning",
            self.error, scope, "let through unthrottled" if fail_open else "refused with 503", unwarned,
        )


store_health = _StoreHealth()


class SettingsRateThrottle(BaseThrottle):
    """At most N requests per fixed window (THROTTLE_RATES[scope], e.g. 30/min) for each get_cache_key().

    A subclass names its scope and implements get_cache_key() (None: not counted). fail_open says what a
    request gets when the store cannot be reached: let through (True) or refused with 503 (False).
    """

    scope: str
    fail_open = True
    cache_format = "throttle_%(scope)s_%(ident)s"

    def get_cache_key(self, request, view) -> str | None:
        raise NotImplementedError

    def key_for(self, ident: str) -> str:
        if len(ident) > 64:  # an X-Forwarded-For entry can be anything: keep keys short
            ident = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def rate(self) -> tuple[int, int] | None:
        """(limit, seconds) from THROTTLE_RATES[scope]; None: not limited."""
        return parse_rate(settings.THROTTLE_RATES.get(self.scope))

    def allow_request(self, request, view) -> bool:
        rate = self.rate()
        key = self.get_cache_key(request, view) if rate is not None else None
        if key is None:
            return True
        limit, period = rate
        window = int(time.time() // period)
        self.window_end = (window + 1) * period
        if time.monotonic() < store_health.down_until:
            return self.store_unavailable()
        try:
            hits = count_hit(f"{key}:{window}", period=period, window_end=self.window_end)
        except store_errors() as error:
            store_health.failed(error)
            return self.store_unavailable()
        if hits <= limit:
            return True
        self.count_refusal()
        return False

    def count_refusal(self) -> None:
        metrics.count_throttled(self.scope)

    def store_unavailable(self) -> bool:
        metrics.count_cache_error(self.scope, fail_open=self.fail_open)
        store_health.warn(self.scope, self.fail_open)
        if self.fail_open:
            return True
        raise RateLimitUnavailable()

    def wait(self) -> int:
        """Seconds until the window ends and the count starts again (Retry-After)."""
        return max(1, math.ceil(self.window_end - time.time()))


def network_of(ident: str) -> str:
    """An IPv6 client counts as its /64, the one network an ISP gives a customer (and every address in it); IPv4 as itself."""
    try:
        address = ipaddress.ip_address(ident)
    except ValueError:
        return ident  # a malformed X-Forwarded-For entry: counted as written
    if address.version == 4:
        return ident
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


class IPRateThrottle(SettingsRateThrottle):
    def get_cache_key(self, request, view):
        return self.key_for(network_of(self.get_ident(request)))  # REMOTE_ADDR, or what NUM_PROXIES trusted proxies saw


class PhoneRateThrottle(SettingsRateThrottle):
    """Counts by the normalized phone number, so +1 (650) 253-0001 and +16502530001 share one limit."""

    def get_cache_key(self, request, view):
        data = request.data
        raw = data.get("phone_number") if isinstance(data, dict) else None
        try:
            phone = normalize_phone(raw) if isinstance(raw, str) else None
        except InvalidPhoneNumber:
            phone = None
        if phone is None:
            return None  # the serializer refuses it; the IP limit still counts it
        return self.key_for(hashlib.sha256(phone.encode()).hexdigest()[:32])  # no phone numbers in the cache


class RegisterIPThrottle(IPRateThrottle):
    scope = "register_ip"


class RegisterPhoneThrottle(PhoneRateThrottle):
    scope = "register_phone"


class OtpIPThrottle(IPRateThrottle):
    """On every endpoint that texts a code: one count per IP across all of them."""

    scope = "otp_ip"
    fail_open = False  # every code sent is an SMS paid for: no counting, no sending


class OtpPhoneThrottle(PhoneRateThrottle):
    scope = "otp_phone"
    fail_open = False


class UserThrottle(SettingsRateThrottle):
    """For the token-authenticated endpoints; they answer 401 before throttling, so a user is always known."""

    scope = "user"

    def get_cache_key(self, request, view):
        user = request.user
        return self.key_for(str(user.pk) if user is not None else self.get_ident(request))


class AccountIPThrottle(IPRateThrottle):
    """For the account changes (profile, phone, deletion), on top of the per-user limit."""

    scope = "account_ip"


class RefreshIPThrottle(IPRateThrottle):
    scope = "refresh_ip"


class RefreshSessionThrottle(SettingsRateThrottle):
    """Counts refreshes per session, whichever of its refresh tokens (current or rotated) is presented."""

    scope = "refresh_session"

    def get_cache_key(self, request, view):
        data = request.data
        token = data.get("refresh_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token or len(token) > 256:
            return None  # the serializer refuses it; the IP limit still counts it
        session_id = session_for_refresh_token(token)
        return self.key_for(str(session_id)) if session_id else None  # unknown: a 401, counted per IP
