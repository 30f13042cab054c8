"""Codes texted and codes verified, per country: Prometheus' counters, and an hourly table every worker shares
(the staff console's charts). Their ratio tells SMS pumping (texts nobody verifies) from a carrier failing."""

import logging
import random
import time

import phonenumbers
from django.db import DatabaseError, connection

from . import metrics
from .models import SmsHourlyCount

logger = logging.getLogger(__name__)

HOUR = 3600
NON_GEOGRAPHIC = "001"  # phonenumbers' region for +800, +808, +870, +878, +881, +882, +883, +888, +979
UNKNOWN_COUNTRY = "ZZ"
KEEP_SECONDS = 35 * 86400  # the charts show 7 days; a month is kept for a look back
PURGE_CHANCE = 0.01  # share of writes that also delete the rows older than that

UPSERT = (
    "INSERT INTO sms_hourly_counts (hour_start, country, sent, verified) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (hour_start, country) DO UPDATE SET sent = sms_hourly_counts.sent + EXCLUDED.sent, "
    "verified = sms_hourly_counts.verified + EXCLUDED.verified"
)


def country_of(number: phonenumbers.PhoneNumber) -> str:
    """The number's region code (US, IN, ...; 001 for non-geographic numbers): a bounded set, fit for a label."""
    region = phonenumbers.region_code_for_number(number)
    if region == NON_GEOGRAPHIC or region in phonenumbers.SUPPORTED_REGIONS:
        return region
    return UNKNOWN_COUNTRY


def record_sent(phone_number: str) -> None:
    """A code was texted to this E.164 number."""
    country = country_of(phonenumbers.parse(phone_number, None))
    metrics.count_text(country)
    add_to_hour(country, sent=1)


def record_verified(phone_number: str) -> None:
    """A code texted to this E.164 number was used (called inside the using transaction)."""
    country = country_of(phonenumbers.parse(phone_number, None))
    metrics.count_verified(country)
    add_to_hour(country, verified=1)


def add_to_hour(country: str, *, sent: int = 0, verified: int = 0) -> None:
    """Add to the current hour's row of the country, atomically (one upsert: no read-then-write)."""
    now = int(time.time())
    try:
        with connection.cursor() as cursor:
            cursor.execute(UPSERT, [now - now % HOUR, country, sent, verified])
            if random.random() < PURGE_CHANCE:
                cursor.execute("DELETE FROM sms_hourly_counts WHERE hour_start < %s", [now - KEEP_SECONDS])
    except DatabaseError as error:
        if connection.in_atomic_block:
            raise  # the caller's transaction is broken either way: it fails as a whole
        logger.warning("SMS hourly count not recorded (%s)", type(error).__name__)  # the text went out all the same


def hourly_counts(since: int) -> list[SmsHourlyCount]:
    """Every country's rows from the hour starting at or after since (Unix time)."""
    return list(SmsHourlyCount.objects.filter(hour_start__gte=since))
