"""Times as the dashboard shows them: kubectl's AGE (kubetext.durations) and UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from kubetext.durations import INVALID, parse_time, since


def age(timestamp: str | datetime | None, now: datetime) -> str:
    """How long ago timestamp was, as kubectl prints it; "<unknown>" without a timestamp.

    kubectl prints "<invalid>" for a time more than a second ahead; here clock skew between Podscope and the
    cluster reads as "0s", just now.
    """
    text = since(timestamp, now)
    return "0s" if text == INVALID else text


def utc_text(timestamp: str | datetime | None) -> str:
    """The timestamp as "2026-01-31 12:00:00 UTC"; "" when absent or unreadable."""
    moment = parse_time(timestamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""
