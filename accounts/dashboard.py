"""The staff console's front page: texts sent, codes verified, conversion by country, the SMS budget and sign-ins,
over the last 24 hours and 7 days, as small bar charts whose geometry is computed here and drawn as inline SVG
by templates/admin/sms_dashboard.html: nothing is fetched from outside Kriya, and no JavaScript runs."""

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Count
from django.db.models.functions import TruncHour

from . import pumping, smscounts
from .models import Session
from .throttling import store_errors

HOUR, DAY = 3600, 86400
WIDTH, HEIGHT = 240, 90  # the chart's viewBox, in CSS pixels at the admin's two-column width
TOP, BOTTOM = 12, 14  # room for the scale label above the bars and the time labels below
TOP_COUNTRIES = 12
LOW_CONVERSION = 0.5  # below this share of texts verified (with enough texts), a country is flagged
LOW_CONVERSION_MIN_TEXTS = 10


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str


@dataclass
class Slot:
    """One hour or one day: its bars, the rectangle that carries its tooltip, and its tooltip."""

    x: float
    width: float
    title: str
    bars: list[Bar] = field(default_factory=list)


@dataclass
class Chart:
    title: str
    summary: str  # the chart in words, for screen readers (aria-label)
    slots: list[Slot]
    ticks: list[tuple[float, str]]  # (x, label) under the bars
    scale: int  # the value of a full-height bar
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = HEIGHT - BOTTOM
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, name)


def bar_chart(title: str, labels: list[str], series: list[tuple[str, str, list[int]]], ticks: dict[int, str],
              unit: str) -> Chart:
    """Bars side by side per slot for each (css class, name, values) series, scaled to the largest value."""
    scale = max([1, *(value for _, _, values in series for value in values)])
    plot = HEIGHT - TOP - BOTTOM
    slot_width = WIDTH / len(labels)
    bar_width = max(1.0, (slot_width - 2) / len(series))
    slots = []
    for index, label in enumerate(labels):
        x = index * slot_width
        words = ", ".join(f"{values[index]} {name}" for _, name, values in series)
        slot = Slot(x=round(x, 2), width=round(slot_width, 2), title=f"{label}: {words}")
        for number, (css, _, values) in enumerate(series):
            height = plot * values[index] / scale
            slot.bars.append(Bar(x=round(x + 1 + number * bar_width, 2), y=round(TOP + plot - height, 2),
                                 width=round(bar_width - 0.5, 2), height=round(height, 2), css=css))
        slots.append(slot)
    totals = ", ".join(f"{sum(values)} {name}" for _, name, values in series)
    return Chart(title=title, summary=f"{title}: {totals} {unit}", slots=slots, scale=scale,
                 ticks=[(round(min(max((index + 0.5) * slot_width, 14), WIDTH - 14), 2), text)  # kept inside
                        for index, text in ticks.items()],
                 legend=[(css, name) for css, name, _ in series])


def sign_ins_per_hour(since: int) -> dict[int, int]:
    """Sessions started per hour (every sign-in starts one), {hour start: count}."""
    rows = (Session.objects.filter(created_at__gte=datetime.fromtimestamp(since, UTC)).order_by()
            .annotate(hour=TruncHour("created_at")).values("hour").annotate(count=Count("id")))
    return {int(row["hour"].timestamp()): row["count"] for row in rows}


def conversion(sent: int, verified: int) -> dict:
    share = verified / sent if sent else None
    return {"sent": sent, "verified": verified, "percent": None if share is None else round(100 * min(share, 1)),
            "low": share is not None and sent >= LOW_CONVERSION_MIN_TEXTS and share < LOW_CONVERSION}


def country_row(code: str, counts: dict[str, list[int]]) -> dict:
    spans = [conversion(*counts["day"]), conversion(*counts["week"])]
    return {"country": code, "spans": spans, "low": any(span["low"] for span in spans)}


def budget(window: str) -> dict | None:
    try:
        used = pumping.budget_used(window)
    except store_errors():  # Redis down: the page still shows everything else
        return {"window": window, "unavailable": True}
    if used is None:
        return None
    count, limit, resets_in = used
    return {"window": window, "used": count, "limit": limit, "left": limit - count,
            "percent": round(100 * count / limit), "resets_in_minutes": max(1, round(resets_in / 60))}


def context(now: float | None = None) -> dict:
    """Everything the front page draws, from the hourly counts (all workers, kept across restarts) and the sessions."""
    now = int(now if now is not None else time.time())
    this_hour, today = now - now % HOUR, now - now % DAY
    hours = [this_hour - (23 - index) * HOUR for index in range(24)]
    days = [today - (6 - index) * DAY for index in range(7)]
    since = min(hours[0], days[0])
    sent, verified, sign_ins = {}, {}, {}
    by_country: dict[str, dict[str, list[int]]] = {}
    for row in smscounts.hourly_counts(since):
        sent[row.hour_start] = sent.get(row.hour_start, 0) + row.sent
        verified[row.hour_start] = verified.get(row.hour_start, 0) + row.verified
        country = by_country.setdefault(row.country, {"day": [0, 0], "week": [0, 0]})
        for span, start in (("day", hours[0]), ("week", days[0])):
            if row.hour_start >= start:
                country[span][0] += row.sent
                country[span][1] += row.verified
    sign_ins = sign_ins_per_hour(since)

    def per_day(counts: dict[int, int]) -> list[int]:
        return [sum(value for hour, value in counts.items() if day <= hour < day + DAY) for day in days]

    def hour_label(hour: int) -> str:
        start = datetime.fromtimestamp(hour, UTC)
        return f"{start:%H}:00–{(start.hour + 1) % 24:02d}:00 UTC"

    hour_labels = [hour_label(hour) for hour in hours]
    day_labels = [f"{datetime.fromtimestamp(day, UTC):%a %d %b} (UTC)" for day in days]
    hour_ticks = {index: f"{datetime.fromtimestamp(hour, UTC):%H}:00" for index, hour in enumerate(hours) if index % 6 == 0}
    day_ticks = {index: f"{datetime.fromtimestamp(day, UTC):%a}" for index, day in enumerate(days)}
    texts_day = [("sent", "texted", [sent.get(hour, 0) for hour in hours]),
                 ("verified", "verified", [verified.get(hour, 0) for hour in hours])]
    texts_week = [("sent", "texted", per_day(sent)), ("verified", "verified", per_day(verified))]
    countries = sorted(by_country.items(), key=lambda item: (-item[1]["week"][0], item[0]))[:TOP_COUNTRIES]
    return {
        "sms_charts": [
            bar_chart("Codes texted and verified, 24 hours", hour_labels, texts_day, hour_ticks, "in 24 hours"),
            bar_chart("Codes texted and verified, 7 days", day_labels, texts_week, day_ticks, "in 7 days"),
            bar_chart("Sign-ins, 24 hours", hour_labels, [("signins", "sign-ins", [sign_ins.get(hour, 0) for hour in hours])],
                      hour_ticks, "in 24 hours"),
            bar_chart("Sign-ins, 7 days", day_labels, [("signins", "sign-ins", per_day(sign_ins))], day_ticks, "in 7 days"),
        ],
        "sms_countries": [country_row(code, counts) for code, counts in countries],
        "sms_budgets": [entry for entry in (budget("hour"), budget("day")) if entry is not None],
    }
