"""Turning tasks and runs into what a person reads: schedules in words, Markdown made safe,
durations, costs and small charts. Pure functions; the templates call them as filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import nh3
from cron_descriptor import ExpressionDescriptor, Options  # type: ignore[import-untyped]
from markdown_it import MarkdownIt
from markupsafe import Markup

from backbeat.domain.clock import iso_utc, utc
from backbeat.domain.cron import ScheduleError, normalize
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus, Trigger

TRIGGERS = {
    Trigger.SCHEDULED: "Scheduled",
    Trigger.CATCH_UP: "Late catch-up",
    Trigger.MANUAL: "Manual",
}
# Runs whose status can still change: their page polls for news.
# How each delivery state reads on the run page, before the recipient.
DELIVERY_STATES = {
    "pending": "Waiting to send to",
    "sending": "Sending to",
    "sent": "Sent to",
    "unconfirmed": "Handed over, unconfirmed (not resent), to",
    "failed": "Failed for",
    "refused": "Refused by the mail server for",
}
LIVE_STATUSES = frozenset(
    {
        RunStatus.PENDING_VERSION,
        RunStatus.DELAYED,
        RunStatus.QUEUED,
        RunStatus.EXECUTING,
        RunStatus.REATTEMPTING,
        RunStatus.FROZEN,
    }
)
CANCELABLE_STATUSES = LIVE_STATUSES


@lru_cache(maxsize=4096)
def describe_schedule(expression: str) -> str:
    """The schedule in words ("At 09:00, only on Thursday"), in the schedule's own zone.

    cron-descriptor reads only the 5-field form, so macros (@daily) and cron's one-value
    steps are described after Backbeat's own normalisation; the locale and the 24-hour
    clock are fixed, not taken from the server's environment.
    """
    try:
        normalized = normalize(expression)
    except ScheduleError:
        return expression
    options = Options(locale_code="en_US", use_24hour_time_format=True)
    try:
        return str(ExpressionDescriptor(normalized, options).get_description())
    except Exception:  # a description is a nicety: never fail a page over it
        return normalized


_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_CLEANER = nh3.Cleaner(
    tags={
        "a",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    },
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    url_schemes={"http", "https", "mailto"},
    link_rel="noopener nofollow noreferrer",
    strip_comments=True,
)


def markdown(text: str) -> Markup:
    """Untrusted Markdown (a model's output) as safe HTML.

    Raw HTML in the text stays text (markdown-it with html off), then nh3 keeps only plain
    formatting tags: no scripts, images, styles, event handlers or javascript: links.
    """
    return Markup(_CLEANER.clean(_MARKDOWN.render(text)))  # noqa: S704 - sanitised just now


def iso(value: datetime) -> str:
    return iso_utc(value)


def utc_text(value: datetime) -> str:
    return utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(ms: int | float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def cost(cents: float | None) -> str:
    """Dollars, precise enough for a cheap model's fractions of a cent."""
    if cents is None:
        return "–"
    return f"${cents / 100:.4f}"


def status_class(status: RunStatus | str) -> str:
    value = RunStatus(status)
    if value is RunStatus.COMPLETED:
        return "ok"
    if value in LIVE_STATUSES:
        return "live"
    if value is RunStatus.CANCELED:
        return "muted"
    return "bad"


def trigger_label(trigger: Trigger | str) -> str:
    return TRIGGERS.get(Trigger(trigger), str(trigger))


def error_text(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    name, message = error.get("name"), error.get("message")
    return f"{name}: {message}" if name else str(message or error)


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Sparkline:
    """A line over the last runs, oldest on the left, drawn in a width x height box."""

    title: str
    summary: str
    points: list[Point]
    width: int
    height: int

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def sparkline(
    title: str,
    runs: list[Run],
    value: Any,
    text: Any,
    *,
    width: int = 240,
    height: int = 48,
) -> Sparkline:
    """A chart of `value(run)` over `runs` (given newest first, drawn oldest first)."""
    ordered = list(reversed(runs))
    values = [float(value(run)) for run in ordered]
    pad = 4.0
    top = max(values, default=0.0) or 1.0
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = [
        Point(
            x=pad + index * step,
            y=height - pad - (amount / top) * (height - 2 * pad),
            label=f"{run.id}: {text(amount)}",
        )
        for index, (run, amount) in enumerate(zip(ordered, values, strict=True))
    ]
    if values:
        summary = (
            f"{title} of the last {len(values)} run{'' if len(values) == 1 else 's'}, "
            "oldest first: "
            f"lowest {text(min(values))}, highest {text(max(values))}, latest {text(values[-1])}"
        )
    else:
        summary = f"{title}: no runs yet"
    return Sparkline(title, summary, points, width, height)


def charts(runs: list[Run]) -> list[Sparkline]:
    return [
        sparkline("Duration", runs, lambda run: run.duration_ms, duration),
        sparkline("Cost", runs, lambda run: run.cost_in_cents, cost),
    ]
