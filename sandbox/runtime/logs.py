"""Container log files in the CRI format, and what the kubelet serves from them for pods/log.

Each line of a file is `<timestamp> <stream> <tag> <content>`: an RFC 3339 UTC timestamp with nine
fractional digits, `stdout` or `stderr`, and `F` for a full line or `P` for a piece of one (a line longer
than 16 KiB, or an unterminated tail when the stream ends), as containerd writes them. The kubelet keeps one
file per container attempt, `<namespace>_<pod>_<uid>/<container>/<attempt>.log`; reading follows
`pkg/kubelet/kuberuntime/logs/logs.go` (tail first, then since, timestamps, limitBytes, follow).
"""

from __future__ import annotations

import asyncio
import calendar
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sandbox.api.pods import LogOptions

log = logging.getLogger(__name__)

MAX_LINE = 16 * 1024
# Writes reach the file at most this long after the container printed them, in one write() per batch.
FLUSH_DELAY = 0.004
FLUSH_SIZE = 64 * 1024
READ_CHUNK = 256 * 1024
TAIL_BLOCK = 64 * 1024
STREAMS = ("stdout", "stderr")

_FIXED_LEN = len("2006-01-02T15:04:05.000000000Z")
_TIMESTAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")


def log_dir(logs_root: Path, namespace: str, pod: str, uid: str, container: str) -> Path:
    """The directory of one container's log files, in the kubelet's layout."""
    return Path(logs_root) / f"{namespace}_{pod}_{uid}" / container


def attempts(container_dir: Path) -> list[Path]:
    """The container's log files, oldest attempt first."""
    found = []
    for path in Path(container_dir).glob("*.log"):
        if path.stem.isdigit():
            found.append((int(path.stem), path))
    return [path for _, path in sorted(found)]


def pick(container_dir: Path, previous: bool = False) -> Path | None:
    """The file `kubectl logs` reads: the latest attempt's, or with `previous` the one before it."""
    files = attempts(container_dir)
    index = -2 if previous else -1
    return files[index] if len(files) >= -index else None


def format_timestamp(ns: int) -> str:
    """RFC3339NanoFixed in UTC: always nine fractional digits."""
    seconds, fraction = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def parse_timestamp(text: bytes) -> int:
    """Nanoseconds since the epoch of an RFC 3339 timestamp (any fraction length, any offset)."""
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        raise ValueError(f"invalid timestamp {text!r}")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if zone != b"Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[:1] == b"+" else -offset
    nanos = int((fraction or b"0").ljust(9, b"0"))
    return seconds * 1_000_000_000 + nanos


class LogWriter:
    """Turns a container's raw stdout and stderr into CRI log lines, batched into few writes."""

    # Used from the event loop's thread only. Followers `await wait(offset)` for the file to grow past what
    # they have read; `close()` marks the end of the container and wakes them for good.

    def __init__(self, path: Path, *, flush_delay: float = FLUSH_DELAY) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.flush_delay = flush_delay
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        # Bytes in the file; readers compare their offset with it.
        self.size = os.fstat(self._fd).st_size
        self.closed = False
        self._pending = {stream: b"" for stream in STREAMS}
        self._buffer = bytearray()
        self._timer: asyncio.TimerHandle | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._last_ns = 0
        self._second = -1
        self._second_text = b""

    def _stamp(self) -> bytes:
        now = max(time.time_ns(), self._last_ns)
        self._last_ns = now
        seconds, fraction = divmod(now, 1_000_000_000)
        if seconds != self._second:
            self._second = seconds
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)).encode()
        return b"%s.%09dZ" % (self._second_text, fraction)

    def write(self, stream: str, data: bytes) -> None:
        """Add raw output of one stream; complete lines become log lines, the rest waits for its newline."""
        if self.closed or not data:
            return
        pending = self._pending[stream] + data
        if b"\n" not in data and len(pending) <= MAX_LINE:
            self._pending[stream] = pending
            return
        stamp = self._stamp()
        full = b"%s %s F " % (stamp, stream.encode())
        partial = b"%s %s P " % (stamp, stream.encode())
        lines = pending.split(b"\n")
        rest = lines.pop()
        out = self._buffer
        for line in lines:
            # containerd reads lines with bufio.ReadLine, which drops the "\r" of a "\r\n".
            if line.endswith(b"\r"):
                line = line[:-1]
            while len(line) > MAX_LINE:
                out += partial + line[:MAX_LINE] + b"\n"
                line = line[MAX_LINE:]
            out += full + line + b"\n"
        while len(rest) > MAX_LINE:
            out += partial + rest[:MAX_LINE] + b"\n"
            rest = rest[MAX_LINE:]
        self._pending[stream] = rest
        self._schedule()

    def _schedule(self) -> None:
        if len(self._buffer) >= FLUSH_SIZE:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.flush_delay, self.flush)

    def flush(self) -> None:
        """Write the batched lines now and wake the followers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer or self._fd < 0:
            return
        data = memoryview(self._buffer)
        try:
            while data:
                written = os.write(self._fd, data)
                self.size += written
                data = data[written:]
        except OSError:
            log.exception("writing %s failed; dropping %d bytes of log", self.path, len(data))
        finally:
            data.release()
            self._buffer = bytearray()
        self._wake()

    def close(self) -> None:
        """The container exited: write any unterminated output (as a P line, like containerd) and finish."""
        if self.closed:
            return
        stamp = self._stamp()
        for stream, rest in self._pending.items():
            while rest:
                self._buffer += b"%s %s P %s\n" % (stamp, stream.encode(), rest[:MAX_LINE])
                rest = rest[MAX_LINE:]
            self._pending[stream] = b""
        self.flush()
        os.close(self._fd)
        self._fd = -1
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, offset: int) -> None:
        """Return once the file holds more than `offset` bytes, or the writer is closed."""
        while self.size <= offset and not self.closed:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


def tail_start(fd: int, lines: int) -> int:
    """Offset of the last `lines` lines (tail.FindTailLineStartIndex: an unterminated last line is not counted)."""
    if lines < 0:
        return 0
    need = lines + 1
    end = os.fstat(fd).st_size
    while end > 0:
        start = max(0, end - TAIL_BLOCK)
        block = os.pread(fd, end - start, start)
        count = block.count(b"\n")
        if count >= need:
            index = len(block)
            for _ in range(need):
                index = block.rfind(b"\n", 0, index)
            return start + index + 1
        need -= count
        end = start
    return 0


class _Renderer:
    """Turns CRI lines into what the kubelet sends: since filter, timestamps, and the byte limit."""

    def __init__(self, timestamps: bool, since_ns: int | None, limit: int | None) -> None:
        self.timestamps = timestamps
        self.since_ns = since_ns
        self.since = format_timestamp(since_ns).encode() if since_ns is not None else b""
        self.remaining = limit
        self.done = False

    def _kept(self, stamp: bytes) -> bool:
        if len(stamp) == _FIXED_LEN and stamp.endswith(b"Z"):
            return stamp >= self.since
        try:
            return parse_timestamp(stamp) >= (self.since_ns or 0)
        except ValueError:
            return False

    def _prefix(self, stamp: bytes) -> bytes:
        if len(stamp) == _FIXED_LEN and stamp.endswith(b"Z"):
            return stamp + b" "
        return format_timestamp(parse_timestamp(stamp)).encode() + b" "

    def render(self, chunk: bytes, terminated: bool = True) -> bytes:
        """The output for `chunk`: whole lines, or with `terminated` false one line with no newline yet."""
        lines = chunk.split(b"\n")
        if terminated:
            lines.pop()
        out: list[bytes] = []
        for line in lines:
            parts = line.split(b" ", 3)
            if len(parts) < 4:
                continue
            stamp, _stream, tag, content = parts
            if self.since_ns is not None and not self._kept(stamp):
                continue
            if self.timestamps:
                try:
                    out.append(self._prefix(stamp))
                except ValueError:
                    continue
            out.append(content)
            # A partial piece is sent without its newline, so the pieces join back into the line.
            if terminated and not tag.startswith(b"P"):
                out.append(b"\n")
        data = b"".join(out)
        if self.remaining is not None:
            if len(data) >= self.remaining:
                data = data[: self.remaining]
                self.done = True
            self.remaining -= len(data)
        return data


def _since_ns(options: LogOptions, now: datetime | None) -> int | None:
    if options.since_time is not None:
        when = options.since_time
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return calendar.timegm(when.utctimetuple()) * 1_000_000_000 + when.microsecond * 1000
    if options.since_seconds is not None:
        current = (now or datetime.now(UTC)).timestamp()
        return int((current - options.since_seconds) * 1_000_000_000)
    return None


async def read(source: LogWriter | Path, options: LogOptions, *, now: datetime | None = None) -> AsyncIterator[bytes]:
    """Stream a container log as the kubelet serves pods/log (the caller picks the file for `previous`)."""
    # `source` is the live writer of a running container, which `follow` needs, or a finished attempt's path;
    # following ends once the writer is closed and the file is drained.
    writer = source if isinstance(source, LogWriter) else None
    path = source.path if isinstance(source, LogWriter) else Path(source)
    if writer is not None:
        writer.flush()
    renderer = _Renderer(options.timestamps, _since_ns(options, now), options.limit_bytes)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        position = tail_start(fd, options.tail_lines) if options.tail_lines is not None else 0
        carry = b""
        while True:
            data = os.pread(fd, READ_CHUNK, position)
            if data:
                position += len(data)
                data = carry + data
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                out = renderer.render(data[:cut]) if cut else b""
                if out:
                    yield out
                if renderer.done:
                    return
                # Lets other streams run while a big file is read by a consumer that never awaits.
                await asyncio.sleep(0)
                continue
            if options.follow and writer is not None and not (writer.closed and position >= writer.size):
                # A line still being written stays in `carry` until its newline arrives.
                await writer.wait(position)
                continue
            break
        if carry:
            out = renderer.render(carry, terminated=False)
            if out:
                yield out
    finally:
        os.close(fd)


def last_lines(path: Path, lines: int, limit: int) -> str:
    """The end of a log as the kubelet uses it for FallbackToLogsOnError: the last lines, at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return ""
    try:
        start = tail_start(fd, lines)
        size = os.fstat(fd).st_size
        data = os.pread(fd, size - start, start)
    finally:
        os.close(fd)
    cut = data.rfind(b"\n") + 1
    renderer = _Renderer(False, None, None)
    text = renderer.render(data[:cut]) + renderer.render(data[cut:], terminated=False)
    return text[-limit:].decode("utf-8", "replace")
