"""Exec over the WebSocket channel protocols (v5 down to the legacy one), as the apiserver and kubelet serve it.

The handler knows nothing about containers: it gets a `spawn` callable that starts the command as a `Process`
(see sandbox/runtime/processes.py for local ones). As on a real cluster, the first frame is empty, the exit status
goes on channel 3 as a metav1.Status before a normal close, and messages read like the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSCloseCode, WSMsgType, web
from multidict import MultiMapping

from sandbox import errors
from sandbox.runtime.channels import (
    BASE64,
    CHANNEL,
    KEEPALIVE,
    V4,
    V4_BASE64,
    V5,
    Wire,
    accept_websocket,
    cancel,
    ping_until_closed,
    requested_upgrade,
)

log = logging.getLogger(__name__)

EXEC_PROTOCOLS = (V5, V4, V4_BASE64, BASE64, CHANNEL)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
# How long output may keep flowing after the process exited (a background child holding the pipe).
DRAIN_GRACE = 2.0


class Process(Protocol):
    """A started process as exec drives it.

    `output(1)` and `output(2)` each iterate the chunks written to stdout and stderr until EOF (with a
    tty everything is on 1 and 2 ends at once); the handlers always consume or close both. `wait()`
    returns the exit code (128 + signal for a signalled process). `kill()` ends the process and
    everything it started, then waits for it; exec calls it when the client goes away.
    """

    def output(self, channel: int) -> AsyncIterator[bytes]: ...

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    def resize(self, width: int, height: int) -> None: ...

    async def wait(self) -> int: ...

    async def kill(self) -> None: ...


Spawn = Callable[[list[str], bool], Awaitable[Process]]


class SpawnError(Exception):
    """The command could not be started; the message reaches the client inside an InternalError Status."""


@dataclass(frozen=True)
class ExecOptions:
    """PodExecOptions / PodAttachOptions read from a query string."""

    command: list[str]
    container: str
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool


def query_bool(query: MultiMapping[str], name: str) -> bool:
    """A boolean query parameter as the apiserver converts it: absent, "0" or "false" is false, anything else true."""
    values = query.getall(name, [])
    return bool(values) and values[0] != "0" and values[0].lower() != "false"


def exec_options(query: MultiMapping[str]) -> ExecOptions:
    """The exec or attach options of a request; `command` repeats once per argv element."""
    return ExecOptions(
        command=list(query.getall("command", [])),
        container=query.get("container", ""),
        stdin=query_bool(query, "stdin"),
        stdout=query_bool(query, "stdout"),
        stderr=query_bool(query, "stderr"),
        tty=query_bool(query, "tty"),
    )


async def serve_exec(
    request: web.Request,
    *,
    command: Sequence[str],
    tty: bool,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    spawn: Spawn,
    keepalive: float = KEEPALIVE,
) -> web.StreamResponse:
    """Run `command` through `spawn` for one exec request and stream it until it exits."""
    stderr = _check_streams(request, tty=tty, stdin=stdin, stdout=stdout, stderr=stderr)
    ws, wire = await accept_websocket(request, EXEC_PROTOCOLS)
    session = _Session(ws, wire, stdin=stdin, stdout=stdout, stderr=stderr, tty=tty, keepalive=keepalive)
    await session.hello()
    try:
        process = await spawn(list(command), tty)
    except Exception as exc:
        if not isinstance(exc, SpawnError):
            log.exception("exec of %s failed to start", list(command))
        await session.finish(_internal_status(f"error executing command in container: {exc}", wire.protocol))
        return ws
    code = await session.run(process)
    if code is not None:
        await session.finish(_exit_status(code, command, wire.protocol))
    return ws


def _check_streams(request: web.Request, *, tty: bool, stdin: bool, stdout: bool, stderr: bool) -> bool:
    """Refuse what the apiserver and kubelet refuse before the upgrade; return stderr as the kubelet sees it."""
    upgrade = requested_upgrade(request)
    if upgrade == "spdy/3.1":
        raise errors.bad_request(
            "exec and attach over SPDY are not supported by the sandbox: use a WebSocket client "
            "(kubectl 1.30 or later, or the kubernetes Python client)"
        )
    # The kubelet silently drops stderr with a tty: everything arrives on stdout.
    stderr = stderr and not tty
    if not (stdin or stdout or stderr):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    return stderr


_SUCCESS: dict[str, Any] = {"metadata": {}, "status": "Success"}


def _exit_status(code: int, command: Sequence[str], protocol: str) -> dict[str, Any]:
    if code == 0:
        return _SUCCESS
    # With v5 the apiserver re-wraps the error it decoded from the kubelet; older protocols reach the
    # kubelet's own message, which names the command.
    if protocol == V5:
        detail = f"command terminated with exit code {code}"
    else:
        detail = f"error executing command [{' '.join(command)}], exit code {code}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: {detail}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _internal_status(message: str, protocol: str) -> dict[str, Any]:
    # The kubelet reports an InternalError; for v5 the apiserver wraps what it decoded into another one.
    if protocol == V5:
        message = f"Internal error occurred: {message}"
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: {message}",
        "reason": "InternalError",
        "details": {"causes": [{"message": message}]},
        "code": 500,
    }


def _go_json(value: Any) -> bytes:
    """JSON as Go's json.Marshal writes it: compact, UTF-8, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode()


class ResizeDecoder:
    """Terminal sizes from channel 4: a stream of JSON objects that may be concatenated or split across frames.

    Keys match case-insensitively as Go's decoder matches `Width`/`Height`; like the kubelet, the first
    malformed value stops all later resizes.
    """

    _LIMIT = 64 * 1024

    def __init__(self) -> None:
        self._buffer = ""
        self._utf8 = bytearray()
        self.failed = False

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        """Return the (width, height) of every object completed by `data`."""
        if self.failed:
            return []
        self._utf8 += data
        try:
            self._buffer += self._utf8.decode()
            self._utf8.clear()
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":
                self.failed = True
                return []
        sizes = []
        while (value := self._next_value()) is not None:
            size = self._size(value)
            if size is None:
                self.failed = True
                break
            sizes.append(size)
        if len(self._buffer) > self._LIMIT:
            self.failed = True
        return sizes

    def _next_value(self) -> str | None:
        text = self._buffer.lstrip(" \t\r\n")
        self._buffer = text
        if not text:
            return None
        if text[0] != "{":
            self.failed = True
            return None
        depth, in_string, escaped = 0, False, False
        for index, char in enumerate(text):
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
                if depth == 0:
                    self._buffer = text[index + 1 :]
                    return text[: index + 1]
        return None

    @staticmethod
    def _size(raw: str) -> tuple[int, int] | None:
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(value, dict):
            return None
        size = {"width": 0, "height": 0}
        for key, number in value.items():
            field = key.lower()
            if field not in size:
                continue
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 0xFFFF:
                return None
            size[field] = number
        return size["width"], size["height"]


class _Session:
    """One exec connection: client frames to the process, process output to the client."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        wire: Wire,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
        keepalive: float,
    ) -> None:
        self.ws = ws
        self.wire = wire
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.tty = tty
        self.keepalive = keepalive
        self._stdin_queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)
        self._resize = ResizeDecoder()

    async def hello(self) -> None:
        """The empty first message on the lowest output channel: the client's sign the stream is up."""
        channel = STDOUT if self.stdout else STDERR if self.stderr else ERROR
        await self.wire.send(self.ws, channel, b"")

    async def run(self, process: Process) -> int | None:
        """Pump until the process exits (its exit code, output drained) or the client leaves (None).

        The process belongs to this session: stdin nobody asked for is closed at once and the process is
        killed when the client leaves.
        """
        pumps = [
            asyncio.create_task(self._pump(process, STDOUT, self.stdout)),
            asyncio.create_task(self._pump(process, STDERR, self.stderr)),
        ]
        feeder = asyncio.create_task(self._feed_stdin(process))
        reader = asyncio.create_task(self._read_client(process))
        waiter = asyncio.create_task(process.wait())
        pinger = asyncio.create_task(ping_until_closed(self.ws, self.keepalive))
        try:
            await asyncio.wait({reader, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                if not await self._drained(pumps, DRAIN_GRACE):
                    # Something the command started still holds its output open: end it.
                    await process.kill()
                    await self._drained(pumps, DRAIN_GRACE)
                return waiter.result()
            await process.kill()
            return None
        finally:
            await cancel(reader, feeder, pinger, *pumps)
            if not waiter.done():
                await cancel(waiter)

    async def finish(self, status: dict[str, Any]) -> None:
        """Write the final Status on channel 3 and close normally, which kubectl reads as the end of output."""
        if self.wire.status_json:
            await self.wire.send(self.ws, ERROR, _go_json(status))
        elif status["status"] != "Success":
            await self.wire.send(self.ws, ERROR, status["message"].encode())
        with contextlib.suppress(ConnectionError):
            await self.ws.close(code=WSCloseCode.OK)

    @staticmethod
    async def _drained(pumps: list[asyncio.Task[None]], grace: float) -> bool:
        _, pending = await asyncio.wait(pumps, timeout=grace)
        return not pending

    async def _pump(self, process: Process, channel: int, forward: bool) -> None:
        # Output nobody asked for is still read, so the process never blocks on a full pipe.
        chunks = process.output(channel)
        try:
            async for chunk in chunks:
                if forward and chunk and not await self.wire.send(self.ws, channel, chunk):
                    forward = False
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()

    async def _feed_stdin(self, process: Process) -> None:
        if not self.stdin:
            await process.close_stdin()
            return
        while (data := await self._stdin_queue.get()) is not None:
            try:
                await process.write_stdin(data)
            except OSError:
                # The process closed its stdin or exited; what the client still sends is dropped.
                return
        with contextlib.suppress(OSError):
            await process.close_stdin()

    async def _read_client(self, process: Process) -> None:
        stdin_open = self.stdin
        while True:
            message = await self.ws.receive()
            if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                return
            decoded = self.wire.decode(message)
            if decoded is None:
                continue
            channel, payload = decoded
            if channel == STDIN and stdin_open and payload:
                await self._stdin_queue.put(payload)
            elif channel == RESIZE:
                for width, height in self._resize.feed(payload):
                    if self.tty:
                        with contextlib.suppress(OSError):
                            process.resize(width, height)
            elif channel == CLOSE and self.wire.protocol == V5 and payload[:1] == bytes((STDIN,)) and stdin_open:
                stdin_open = False
                await self._stdin_queue.put(None)
