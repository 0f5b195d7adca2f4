"""Times and durations as kubectl prints them: the AGE column, "5m ago" and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

UNKNOWN = "<unknown>"


def parse_time(value: str | datetime | None) -> datetime | None:
    """An aware datetime from an RFC 3339 string or a datetime; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    # The API always serves UTC; a naive value can only have lost its zone on the way.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """A duration the way kubectl's AGE column prints it (apimachinery's duration.HumanDuration)."""
    total = int(seconds)
    # HumanDuration prints "<invalid>" below -1s; a dashboard would rather show clock skew as "just now".
    if total < 0:
        return "0s"
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        s = total % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | datetime | None, now: datetime) -> str:
    """How long ago timestamp was, as kubectl prints it; "<unknown>" without a timestamp."""
    moment = parse_time(timestamp)
    if moment is None:
        return UNKNOWN
    return human_duration((_aware(now) - moment).total_seconds())


def utc_text(timestamp: str | datetime | None) -> str:
    """The timestamp as "2026-01-31 12:00:00 UTC"; "" when absent or unreadable."""
    moment = parse_time(timestamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""
