"""Container log files in CRI format, and reading them as the kubelet serves pods/log."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sandbox.api.pods import LogOptions
from sandbox.runtime import logs
from sandbox.runtime.logs import LogWriter

CRI_LINE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FP]) (.*)")


def options(**values: object) -> LogOptions:
    return LogOptions(container="app", **values)  # type: ignore[arg-type]


async def collect(source: LogWriter | Path, **values: object) -> bytes:
    return b"".join([chunk async for chunk in logs.read(source, options(**values))])


def parsed(path: Path) -> list[tuple[bytes, bytes, bytes]]:
    """(stream, tag, content) of every line of a CRI log file, checking each line's format."""
    out = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        match = CRI_LINE.fullmatch(line)
        assert match, line
        out.append((match[1], match[2], match[3]))
    return out


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    """Where one container attempt's log goes."""
    return tmp_path / "logs" / "default_web_uid" / "app" / "0.log"


# -- writing -------------------------------------------------------------------------------------


def test_lines_are_written_in_cri_format(log_file: Path) -> None:
    writer = LogWriter(log_file)
    writer.write("stdout", b"hello\nwor")
    writer.write("stderr", b"oops\r\n")
    writer.write("stdout", b"ld\n\n")
    writer.close()
    assert parsed(log_file) == [
        (b"stdout", b"F", b"hello"),
        (b"stderr", b"F", b"oops"),
        (b"stdout", b"F", b"world"),
        (b"stdout", b"F", b""),
    ]
    assert oct(log_file.stat().st_mode & 0o777) == oct(0o640)


@pytest.mark.parametrize(
    ("length", "pieces"),
    [
        (16384, [(b"F", 16384)]),
        (16385, [(b"P", 16384), (b"F", 1)]),
        (40000, [(b"P", 16384), (b"P", 16384), (b"F", 7232)]),
        (32768, [(b"P", 16384), (b"F", 16384)]),
    ],
)
def test_long_lines_are_split_into_partial_pieces(log_file: Path, length: int, pieces: list[tuple[bytes, int]]) -> None:
    writer = LogWriter(log_file)
    line = bytes(ord("a") + i % 26 for i in range(length))
    for start in range(0, length, 5000):
        writer.write("stdout", line[start : start + 5000])
    writer.write("stdout", b"\n")
    writer.close()
    lines = parsed(log_file)
    assert [(tag, len(content)) for _, tag, content in lines] == pieces
    assert b"".join(content for _, _, content in lines) == line


async def test_unterminated_output_is_a_partial_line_when_the_container_ends(log_file: Path) -> None:
    writer = LogWriter(log_file)
    writer.write("stdout", b"no newline")
    writer.close()
    assert parsed(log_file) == [(b"stdout", b"P", b"no newline")]
    assert await collect(log_file) == b"no newline"


def test_timestamps_never_go_backwards(log_file: Path) -> None:
    writer = LogWriter(log_file)
    for i in range(200):
        writer.write("stdout" if i % 2 else "stderr", b"%d\n" % i)
    writer.close()
    stamps = [line.split(b" ", 1)[0] for line in log_file.read_bytes().splitlines()]
    assert stamps == sorted(stamps)


async def test_writes_are_batched_and_flushed_within_milliseconds(log_file: Path) -> None:
    writer = LogWriter(log_file)
    for i in range(100):
        writer.write("stdout", b"line %d\n" % i)
    assert parsed(log_file) == []
    await asyncio.sleep(0.05)
    assert len(parsed(log_file)) == 100
    writer.close()


def test_writing_to_an_existing_file_appends(log_file: Path) -> None:
    first = LogWriter(log_file)
    first.write("stdout", b"one\n")
    first.close()
    second = LogWriter(log_file)
    assert second.size == log_file.stat().st_size
    second.write("stdout", b"two\n")
    second.close()
    assert [content for _, _, content in parsed(log_file)] == [b"one", b"two"]


# -- reading ---------------------------------------------------------------------------------------

SAMPLE = (
    b"2026-01-02T03:04:05.000000001Z stdout F one\n"
    b"2026-01-02T03:04:06.000000000Z stderr F two\n"
    # containerd's RFC3339Nano drops trailing zeros; the kubelet prints nine digits anyway.
    b"2026-01-02T03:04:07.5Z stdout F three\n"
    b"2026-01-02T03:04:08.000000000Z stdout P fo\n"
    b"2026-01-02T03:04:08.000000001Z stdout F ur\n"
)
STAMPED = (
    b"2026-01-02T03:04:05.000000001Z one\n"
    b"2026-01-02T03:04:06.000000000Z two\n"
    b"2026-01-02T03:04:07.500000000Z three\n"
    b"2026-01-02T03:04:08.000000000Z fo2026-01-02T03:04:08.000000001Z ur\n"
)
T = datetime(2026, 1, 2, 3, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, b"one\ntwo\nthree\nfour\n"),
        ({"timestamps": True}, STAMPED),
        ({"tail_lines": 0}, b""),
        ({"tail_lines": 2}, b"four\n"),
        ({"tail_lines": 3}, b"three\nfour\n"),
        ({"tail_lines": 100}, b"one\ntwo\nthree\nfour\n"),
        ({"since_time": T.replace(second=6)}, b"two\nthree\nfour\n"),
        ({"since_time": T.replace(second=7, microsecond=500000)}, b"three\nfour\n"),
        ({"since_time": T.replace(second=9)}, b""),
        ({"tail_lines": 4, "since_time": T.replace(second=7)}, b"three\nfour\n"),
        ({"tail_lines": 1, "since_time": T.replace(second=5)}, b"ur\n"),
        ({"limit_bytes": 6}, b"one\ntw"),
        ({"limit_bytes": 35, "timestamps": True}, STAMPED[:35]),
        ({"limit_bytes": 1000}, b"one\ntwo\nthree\nfour\n"),
        ({"tail_lines": 2, "timestamps": True, "limit_bytes": 40}, STAMPED[-67:-27]),
    ],
)
async def test_read_options(tmp_path: Path, values: dict[str, object], expected: bytes) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(SAMPLE)
    assert await collect(path, **values) == expected


async def test_since_seconds_counts_back_from_now(tmp_path: Path) -> None:
    path = tmp_path / "0.log"
    path.write_bytes(SAMPLE)
    now = T.replace(second=10)
    got = b"".join([c async for c in logs.read(path, options(since_seconds=3), now=now)])
    assert got == b"three\nfour\n"


def test_previous_is_the_attempt_before_the_latest(tmp_path: Path) -> None:
    container = logs.log_dir(tmp_path, "default", "web", "uid", "app")
    assert container == tmp_path / "default_web_uid" / "app"
    assert logs.pick(container) is None
    for attempt in (0, 1, 10, 2):
        LogWriter(container / f"{attempt}.log").close()
    assert logs.pick(container) == container / "10.log"
    assert logs.pick(container, previous=True) == container / "2.log"
    for attempt in (1, 2, 10):
        (container / f"{attempt}.log").unlink()
    assert logs.pick(container, previous=True) is None


def test_last_lines_for_termination_messages(log_file: Path) -> None:
    writer = LogWriter(log_file)
    for i in range(100):
        writer.write("stderr", b"error %d\n" % i)
    writer.write("stderr", b"fatal")
    writer.close()
    text = logs.last_lines(log_file, 80, 2048)
    assert text.splitlines()[0] == "error 21"
    assert text.endswith("error 99\nfatal")
    assert logs.last_lines(log_file, 80, 10) == "r 99\nfatal"
    assert logs.last_lines(log_file.parent / "missing.log", 80, 10) == ""


# -- following -------------------------------------------------------------------------------------


async def follow(writer: LogWriter, **values: object) -> bytes:
    return b"".join([chunk async for chunk in logs.read(writer, options(follow=True, **values))])


async def test_follow_streams_new_lines_and_ends_when_the_writer_closes(log_file: Path) -> None:
    writer = LogWriter(log_file)
    writer.write("stdout", b"before\n")
    follower = asyncio.create_task(follow(writer))
    await asyncio.sleep(0.02)
    writer.write("stdout", b"after 1\n")
    await asyncio.sleep(0.02)
    writer.write("stderr", b"after 2\n")
    assert not follower.done()
    writer.close()
    assert await asyncio.wait_for(follower, 2) == b"before\nafter 1\nafter 2\n"


async def test_follow_with_tail_zero_shows_only_new_lines(log_file: Path) -> None:
    writer = LogWriter(log_file)
    writer.write("stdout", b"old\n")
    follower = asyncio.create_task(follow(writer, tail_lines=0))
    await asyncio.sleep(0.02)
    writer.write("stdout", b"new\n")
    writer.close()
    assert await asyncio.wait_for(follower, 2) == b"new\n"


async def test_follow_stops_at_the_byte_limit(log_file: Path) -> None:
    writer = LogWriter(log_file)
    follower = asyncio.create_task(follow(writer, limit_bytes=10))
    for i in range(5):
        writer.write("stdout", b"line %d\n" % i)
        await asyncio.sleep(0.01)
    assert await asyncio.wait_for(follower, 2) == b"line 0\nlin"
    writer.close()


async def test_following_a_finished_container_returns_what_is_there(log_file: Path) -> None:
    writer = LogWriter(log_file)
    writer.write("stdout", b"done\n")
    writer.close()
    assert await asyncio.wait_for(follow(writer), 2) == b"done\n"
    got = b"".join([c async for c in logs.read(log_file, options(follow=True))])
    assert got == b"done\n"


async def test_follow_joins_partial_pieces_and_torn_writes(log_file: Path) -> None:
    writer = LogWriter(log_file)
    follower = asyncio.create_task(follow(writer))
    long_line = b"x" * 40000
    for start in range(0, len(long_line), 7000):
        writer.write("stdout", long_line[start : start + 7000])
        await asyncio.sleep(0.005)
    writer.write("stdout", b"\nshort\n")
    writer.flush()
    # A reader can see a write half done; the rest of the physical line must neither be lost nor repeated.
    torn = b"2026-01-02T03:04:05.000000000Z stdout F torn line\n"
    for piece in (torn[:17], torn[17:40], torn[40:]):
        writer._buffer += piece
        writer.flush()
        await asyncio.sleep(0.01)
    writer.close()
    assert await asyncio.wait_for(follower, 2) == long_line + b"\nshort\ntorn line\n"


async def test_many_followers_see_every_line_once_at_speed(log_file: Path) -> None:
    writer = LogWriter(log_file)
    followers = [asyncio.create_task(follow(writer)) for _ in range(3)]
    await asyncio.sleep(0.01)
    expected = []
    started = time.perf_counter()
    for burst in range(50):
        chunk = b"".join(b"burst %d line %d\n" % (burst, i) for i in range(200))
        expected.append(chunk)
        # Output arrives in arbitrary pieces, cutting lines anywhere.
        for start in range(0, len(chunk), 1500):
            writer.write("stdout", chunk[start : start + 1500])
        await asyncio.sleep(0.001)
    writer.close()
    results = await asyncio.wait_for(asyncio.gather(*followers), 10)
    elapsed = time.perf_counter() - started
    assert all(result == b"".join(expected) for result in results)
    # 10,000 lines to three followers: thousands of lines a second with room to spare.
    assert elapsed < 2.5


# -- big files -------------------------------------------------------------------------------------


@pytest.fixture
def big_log(tmp_path: Path) -> Path:
    """A 100,000-line log file."""
    path = tmp_path / "big.log"
    stamp = b"2026-01-02T03:04:05.123456789Z"
    path.write_bytes(b"".join(b"%s stdout F log line number %06d\n" % (stamp, i) for i in range(100_000)))
    return path


async def test_tail_of_a_big_log_reads_only_its_end(big_log: Path) -> None:
    started = time.perf_counter()
    got = await collect(big_log, tail_lines=3)
    assert time.perf_counter() - started < 0.05
    assert got == b"log line number 099997\nlog line number 099998\nlog line number 099999\n"


async def test_whole_big_log_reads_quickly(big_log: Path) -> None:
    started = time.perf_counter()
    got = await collect(big_log, timestamps=True)
    assert time.perf_counter() - started < 2
    assert got.count(b"\n") == 100_000
    assert got.endswith(b"2026-01-02T03:04:05.123456789Z log line number 099999\n")


def test_tail_start_matches_the_kubelet(tmp_path: Path) -> None:
    path = tmp_path / "t.log"
    path.write_bytes(b"a\nb\nc")
    with path.open("rb") as handle:
        fd = handle.fileno()
        # An unterminated last line is not counted as a line, as in tail.FindTailLineStartIndex.
        assert [logs.tail_start(fd, n) for n in (-1, 0, 1, 2, 5)] == [0, 4, 2, 0, 0]
