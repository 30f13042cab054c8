"""Prometheus metrics (prometheus_client). Every label has a small fixed set of values.

Under gunicorn, gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before the workers start, so each worker
writes its values to mmap files there and /metrics adds them up; in a single process (tests, runserver) the
default registry holds them. Labelled children are created once and kept, so counting on the hot path
is a dict lookup and an increment.
"""

from pathlib import Path

from django.conf import settings
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

if settings.PROMETHEUS_MULTIPROC_DIR:  # set for gunicorn, and seen by manage.py too: never fail on a missing directory
    Path(settings.PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
disable_created_metrics()  # the *_created series double the output and say nothing an operator needs

# validate-token answers in a few milliseconds: finer buckets there than prometheus_client's defaults.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

REQUEST_DURATION = Histogram(
    "kriya_http_request_duration_seconds",
    "Time to answer a request, by route name (never the raw path), method and status class; "
    "its _count is the number of requests",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
VALIDATIONS = Counter("kriya_token_validations", "validate-token answers by outcome", ["outcome"])
LOGINS = Counter("kriya_logins", "Successful register calls: a new phone (registered) or a known one (logged_in)", ["result"])
OTP_SENDS = Counter("kriya_otp_sends", "Verification codes texted (sent) or not (failed: the SMS provider failed)", ["result"])
THROTTLED = Counter("kriya_throttled", "Requests refused with 429, by rate-limit scope", ["scope"])
DATABASE_ERRORS = Counter("kriya_database_errors", "Requests answered 503 because the database was unreachable")
CACHE_ERRORS = Counter(
    "kriya_cache_errors", "Rate-limit checks that could not reach their store, by scope and policy (open: let through, "
    "closed: refused with 503)", ["scope", "policy"],
)

# SMS pumping (accounts/pumping.py, captcha.py). country is a phonenumbers region code (001: non-geographic,
# e.g. +881 satellite), a bounded set; a country's verified series starts at 0 with its first text, so the
# conversion alert sees a country whose texts are never verified.
OTP_TEXTS = Counter("kriya_otp_texts", "Codes texted, by the number's country", ["country"])
OTP_VERIFIED = Counter("kriya_otp_verified", "Codes verified, by the number's country", ["country"])
SMS_BUDGET_REFUSALS = Counter(
    "kriya_sms_budget_refusals", "Code requests refused with 503 because SMS_BUDGET_PER_HOUR or _PER_DAY is spent", ["window"],
)
CAPTCHA_CHECKS = Counter(
    "kriya_captcha_checks", "Human checks on code requests: passed, failed, missing (no token), unavailable (the "
    "provider did not answer; let through or refused per CAPTCHA_FAIL_OPEN)", ["result"],
)

# The outcomes of validate-token (tokens.InvalidToken.outcome maps each reason to one of them).
VALIDATION_OUTCOMES = ("valid", "revoked", "expired", "malformed", "unknown_key", "bad_signature", "unknown_user",
                       "disabled", "invalid")
_validations = {outcome: VALIDATIONS.labels(outcome) for outcome in VALIDATION_OUTCOMES}
_logins = {result: LOGINS.labels(result) for result in ("registered", "logged_in")}
_otp_sends = {result: OTP_SENDS.labels(result) for result in ("sent", "failed")}

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_request_children: dict[tuple[str, str, int], object] = {}


def route_name(request) -> str:
    """The URL pattern's name (validate-token, health-ready, ...): bounded, unlike the path. The admin is one route."""
    match = request.resolver_match
    if match is None:
        return "other"  # no route: a 404, or a static file WhiteNoise served
    if match.namespace == "admin":
        return "admin"
    return match.url_name or "other"


def observe_request(request, status: int, seconds: float) -> None:
    method = request.method if request.method in METHODS else "other"
    key = (route_name(request), method, status // 100)
    child = _request_children.get(key)
    if child is None:
        child = _request_children[key] = REQUEST_DURATION.labels(key[0], method, STATUS_CLASSES[min(key[2], 5)])
    child.observe(seconds)


def count_validation(outcome: str) -> None:
    _validations[outcome].inc()


def count_login(created: bool) -> None:
    _logins["registered" if created else "logged_in"].inc()


def count_otp_send(sent: bool) -> None:
    _otp_sends["sent" if sent else "failed"].inc()


def count_throttled(scope: str) -> None:
    THROTTLED.labels(scope).inc()  # not the hot path; scopes are the throttle classes' own names



def count_text(country: str) -> None:
    OTP_TEXTS.labels(country).inc()
    OTP_VERIFIED.labels(country)  # the series exists, at 0, from the country's first text


def count_verified(country: str) -> None:
    OTP_VERIFIED.labels(country).inc()


def count_budget_refusal(window: str) -> None:
    SMS_BUDGET_REFUSALS.labels(window).inc()


def count_captcha(result: str) -> None:
    CAPTCHA_CHECKS.labels(result).inc()

def count_database_error() -> None:
    DATABASE_ERRORS.inc()


def count_cache_error(scope: str, *, fail_open: bool) -> None:
    CACHE_ERRORS.labels(scope, "open" if fail_open else "closed").inc()


_registry = None


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format of every metric: all gunicorn workers' together, or this process's."""
    global _registry
    if _registry is None:
        if settings.PROMETHEUS_MULTIPROC_DIR:
            _registry = CollectorRegistry()
            MultiProcessCollector(_registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
        else:
            _registry = REGISTRY
    return generate_latest(_registry), CONTENT_TYPE_LATEST
