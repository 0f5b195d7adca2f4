"""kubectl's durations and ages: apimachinery's HumanDuration table and translateTimestampSince."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubetext.durations import human_duration, parse_time, since

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


MS = 0.001


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        # TestHumanDuration
        (1, "1s"),
        (70, "70s"),
        (190, "3m10s"),
        (70 * MINUTE, "70m"),
        (47 * HOUR, "47h"),
        (49 * HOUR, "2d1h"),
        ((8 * 24 + 2) * HOUR, "8d"),
        (367 * DAY, "367d"),
        ((365 * 2 * 24 + 25) * HOUR, "2y1d"),
        ((365 * 8 * 24 + 2) * HOUR, "8y"),
        # kubectl users know these
        (0, "0s"),
        (0.9, "0s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (312, "5m12s"),
        (300, "5m"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 12 * 60, "3h12m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (48 * 3600 - 1, "47h"),
        (48 * 3600, "2d"),
        (2 * 86400 + 5 * 3600, "2d5h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (45 * 86400, "45d"),
        (730 * 86400 - 1, "729d"),
        (730 * 86400, "2y"),
        (775 * 86400, "2y45d"),
        (8 * 365 * 86400 + 5 * 86400, "8y"),
        # TestHumanDurationBoundaries
        (-2, "<invalid>"),
        (-2 + 1e-9, "0s"),
        (1 - MS, "0s"),
        (2 * MINUTE - MS, "119s"),
        (2 * MINUTE, "2m"),
        (2 * MINUTE + 1, "2m1s"),
        (10 * MINUTE - MS, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + 1, "10m"),
        (3 * HOUR - MS, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + MINUTE, "3h1m"),
        (8 * HOUR - MS, "7h59m"),
        (8 * HOUR, "8h"),
        (8 * HOUR + 59 * MINUTE, "8h"),
        (2 * DAY - MS, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + HOUR, "2d1h"),
        (8 * DAY - MS, "7d23h"),
        (8 * DAY, "8d"),
        (8 * DAY + 23 * HOUR, "8d"),
        (2 * YEAR - MS, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + 23 * HOUR, "2y"),
        (2 * YEAR + 23 * HOUR + 59 * MINUTE, "2y"),
        (2 * YEAR + DAY - MS, "2y"),
        (2 * YEAR + DAY, "2y1d"),
        (3 * YEAR, "3y"),
        (7 * YEAR, "7y"),
        (8 * YEAR - MS, "7y364d"),
        (8 * YEAR, "8y"),
        (8 * YEAR + 364 * DAY, "8y"),
        (9 * YEAR, "9y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (None, "<unknown>"),
        ("", "<unknown>"),
        (ago(5 * MINUTE), "5m"),
        (ago(90), "90s"),
        ("2025-06-01T11:59:30.123456Z", "29s"),
        ("2025-06-01T12:00:01Z", "0s"),
    ],
)
def test_since_is_translate_timestamp_since(timestamp: str | None, expected: str) -> None:
    assert since(timestamp, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-06-01T11:59:30.123456789Z", datetime(2025, 6, 1, 11, 59, 30, 123456, tzinfo=UTC)),
        (" 2025-06-01T13:00:00+01:00 ", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("2025-06-01T12:00:00", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time_reads_rfc3339_as_utc(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_since_reads_a_time_more_than_a_second_ahead_as_invalid() -> None:
    assert since("2025-06-01T12:00:01Z", NOW) == "0s"
    assert since("2025-06-01T12:00:05Z", NOW) == "<invalid>"
    assert since(NOW - timedelta(minutes=5), NOW.replace(tzinfo=None)) == "5m"
