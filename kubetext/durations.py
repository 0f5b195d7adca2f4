"""Ages and durations as kubectl prints them (apimachinery's duration.HumanDuration, translateTimestampSince)."""

from __future__ import annotations

from datetime import UTC, datetime

UNKNOWN = "<unknown>"
INVALID = "<invalid>"


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


def aware(now: datetime) -> datetime:
    """A naive `now` read as UTC."""
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """duration.HumanDuration: a 2-3 significant figure age such as `45s`, `5m30s`, `3h`, `2d1h`, `3y`."""
    whole = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    # Up to a second in the future still reads as now, to tolerate clock skew.
    if whole < -1:
        return INVALID
    if whole < 0:
        return "0s"
    if whole < 2 * 60:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(timestamp: str | datetime | None, now: datetime) -> str:
    """translateTimestampSince: how long before `now` the timestamp was, `<unknown>` without one.

    A timestamp more than a second after `now` reads `<invalid>`, as in kubectl.
    """
    moment = parse_time(timestamp)
    if moment is None:
        return UNKNOWN
    return human_duration((aware(now) - moment).total_seconds())
