"""Terminal recordings in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): write one, read one.

A recording is newline-delimited JSON: a header object, then one `[seconds, code, data]` event per line, where
code "o" is output and "r" a resize to "COLSxROWS". Only output is kept, never what the user typed; `asciinema
play FILE` replays one in a terminal. Pure: no Django, so the recorder can be used anywhere a terminal runs.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

VERSION = 2
SUFFIX = ".cast"
MEDIA_TYPE = "application/x-asciicast"
EVENT_CODES = frozenset("oimr")  # output, input, marker, resize: the codes of version 2


class Recorder:
    """One terminal's output, appended to its .cast file as it happens."""

    def __init__(self, file: IO[str], name: str) -> None:
        self._file: IO[str] | None = file
        self.name = name
        self._origin = time.monotonic()
        # A UTF-8 character split across two reads from the pod arrives whole in the second event.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @classmethod
    def start(cls, directory: Path, *, width: int, height: int, title: str, command: str) -> Recorder:
        """Create a new recording in `directory` (made if missing) and write its header."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = datetime.now(UTC)
        while True:
            name = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}{SUFFIX}"
            try:
                # Exclusive create: never append to someone else's recording. 0600: output can hold secrets.
                fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            break
        # Line-buffered: every event reaches the file as it is written, so a crash loses at most one line.
        file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        header = {
            "version": VERSION,
            "width": int(width),
            "height": int(height),
            "timestamp": int(now.timestamp()),
            "title": title,
            "command": command,
            "env": {"TERM": "xterm-256color", "SHELL": command},
        }
        file.write(json.dumps(header, ensure_ascii=False) + "\n")
        return cls(file, name)

    @property
    def closed(self) -> bool:
        return self._file is None

    def output(self, data: bytes) -> None:
        """Record bytes the terminal showed."""
        self._event("o", self._decoder.decode(data))

    def resize(self, width: int, height: int) -> None:
        """Record the terminal changing size."""
        self._event("r", f"{int(width)}x{int(height)}")

    def close(self) -> None:
        """Write what the decoder still holds and close the file; closing twice does nothing."""
        if self._file is None:
            return
        try:
            self._event("o", self._decoder.decode(b"", final=True))
        finally:
            self._file.close()
            self._file = None

    def _event(self, code: str, text: str) -> None:
        if self._file is None or not text:
            return
        elapsed = time.monotonic() - self._origin
        self._file.write(f"[{elapsed:.6f}, {json.dumps(code)}, {json.dumps(text, ensure_ascii=False)}]\n")


def read(path: Path, *, growing: bool = False) -> tuple[dict[str, Any], list[list[Any]]]:
    """A recording's header and events; ValueError with a sentence saying what is wrong when it is not one.

    `growing` is for a recording still being written: a last line with no newline yet is left out.
    """
    data = path.read_bytes()
    if growing and b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("The recording is not UTF-8 text, so it is not an asciicast file.") from None
    # Only "\n" ends a line: output may hold U+2028 or U+0085, which str.splitlines() would also split on.
    lines = text.split("\n")
    if not text.strip():
        raise ValueError("The recording is empty: it has no asciicast header.")
    header = _header(lines[0])
    events = []
    previous = 0.0
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        event = _event(line, number)
        if event[0] < previous:
            raise ValueError(f"Line {number} of the recording goes back in time ({event[0]} s after {previous} s).")
        previous = event[0]
        events.append(event)
    return header, events


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError("The first line of the recording is not a JSON header.") from None
    if not isinstance(header, dict):
        raise ValueError("The first line of the recording is not a JSON object, so it is not an asciicast v2 header.")
    if header.get("version") != VERSION:
        raise ValueError(f"The recording is asciicast version {header.get('version')!r}; only version 2 is played.")
    for key in ("width", "height"):
        value = header.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 10_000:
            raise ValueError(f"The recording's header has no usable {key} (a positive whole number of cells).")
    return header


def _event(line: str, number: int) -> list[Any]:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        raise ValueError(f"Line {number} of the recording is not JSON; the file is damaged or cut short.") from None
    if not (
        isinstance(event, list)
        and len(event) == 3
        and isinstance(event[0], int | float)
        and not isinstance(event[0], bool)
        and math.isfinite(event[0])
        and event[0] >= 0
        and isinstance(event[1], str)
        and event[1] in EVENT_CODES
        and isinstance(event[2], str)
    ):
        raise ValueError(f'Line {number} of the recording is not an event like [1.5, "o", "text"].')
    return event
