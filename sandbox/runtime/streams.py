"""The streaming pod subresources: exec over the WebSocket channel protocols, port-forward
over WebSocket (the Python client) and over SPDY/3.1 (kubectl, raw or tunnelled in a WebSocket).

The handlers know nothing about containers: exec gets a `spawn` callable, port-forward a blocking
`connect(port)`. Wire details follow the apiserver and kubelet: the subprotocol
is the first one the client lists that we support, the first frame is empty, the exit status goes on
channel 3 as a metav1.Status before a normal close, and messages read like the real ones.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import struct
import termios
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import WSMsgType, web
from multidict import MultiMapping

from sandbox import errors
from sandbox.runtime import spdy

log = logging.getLogger(__name__)

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
BASE64 = "base64.channel.k8s.io"
CHANNEL = "channel.k8s.io"
EXEC_PROTOCOLS = (V5, V4, V4_BASE64, BASE64, CHANNEL)
# The kubelet's port-forward server has no v5.
PORTFORWARD_PROTOCOLS = (V4, V4_BASE64)
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_SPDY = "portforward.k8s.io"

STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255

KEEPALIVE = 30.0
# How long output may keep flowing after the process exited (a background child holding the pipe).
DRAIN_GRACE = 2.0
# The kubelet's default streamCreationTimeout: both streams of a port-forward request must arrive by then.
STREAM_PAIR_TIMEOUT = 30.0
_CHUNK = 32 * 1024


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
Connect = Callable[[int], socket.socket]


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


def parse_ports(query: MultiMapping[str]) -> list[int]:
    """The `ports` of a port-forward request, comma-separated or repeated, as the apiserver converts them."""
    ports = []
    for value in query.getall("ports", []):
        for item in value.split(","):
            problem = _uint16_problem(item)
            if problem:
                raise errors.bad_request(f'cannot convert to []int32: strconv.ParseUint: parsing "{item}": {problem}')
            ports.append(int(item))
    return ports


def _uint16_problem(text: str) -> str:
    """What Go's strconv.ParseUint(text, 10, 16) objects to, or "" when it parses."""
    if not text.isascii() or not text.isdigit():
        return "invalid syntax"
    return "value out of range" if int(text) > 0xFFFF else ""


# ------------------------------------------------------------------------------------------------
# Exec and attach


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
    ws, wire = await _accept_websocket(request, EXEC_PROTOCOLS)
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
    upgrade = _upgrade(request)
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


@dataclass(frozen=True)
class _Wire:
    """The framing of one negotiated channel protocol."""

    protocol: str

    @property
    def base64(self) -> bool:
        return self.protocol in (V4_BASE64, BASE64)

    @property
    def status_json(self) -> bool:
        return self.protocol in (V5, V4, V4_BASE64)

    async def send(self, ws: web.WebSocketResponse, channel: int, data: bytes) -> bool:
        """Send one message on a channel; False once the client is gone."""
        if ws.closed:
            return False
        try:
            if self.base64:
                await ws.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
            else:
                await ws.send_bytes(bytes((channel,)) + data)
        except ConnectionError:
            return False
        return True

    def decode(self, message: Any) -> tuple[int, bytes] | None:
        """The channel and payload of a client message; text and binary frames are read alike."""
        raw = message.data.encode() if message.type is WSMsgType.TEXT else bytes(message.data)
        if not raw:
            return None
        if not self.base64:
            return raw[0], raw[1:]
        try:
            return raw[0] - ord("0"), base64.b64decode(raw[1:], validate=False)
        except binascii.Error:
            return None


def _upgrade(request: web.Request) -> str:
    """The requested Upgrade protocol, lowercased; 400 for a request that is not an upgrade."""
    connection = ",".join(request.headers.getall("Connection", [])).lower()
    if "upgrade" not in connection:
        raise errors.bad_request("Upgrade request required")
    upgrade = request.headers.get("Upgrade", "").strip().lower()
    if upgrade not in ("websocket", "spdy/3.1"):
        raise errors.bad_request(f'unable to upgrade: unsupported protocol "{upgrade}"')
    return upgrade


def _offered(request: web.Request) -> list[str]:
    headers = request.headers.getall("Sec-WebSocket-Protocol", [])
    return [p.strip() for header in headers for p in header.split(",") if p.strip()]


async def _accept_websocket(request: web.Request, supported: Sequence[str]) -> tuple[web.WebSocketResponse, _Wire]:
    """Upgrade with the first client-listed protocol we support (none offered means the legacy one)."""
    offered = _offered(request)
    chosen = ""
    if offered:
        chosen = next((p for p in offered if p in supported), "")
        if not chosen:
            raise errors.bad_request(
                f"requested protocol(s) are not supported: [{' '.join(offered)}]; supports [{' '.join(supported)}]"
            )
    ws = web.WebSocketResponse(protocols=(chosen,) if chosen else (), autoping=True, compress=False)
    await ws.prepare(request)
    return ws, _Wire(chosen)


async def _keepalive(ws: web.WebSocketResponse, interval: float) -> None:
    """Ping the client regularly; a missing pong is not fatal, since a client only answers while it reads."""
    while not ws.closed:
        await asyncio.sleep(interval)
        try:
            await ws.ping()
        except (ConnectionError, RuntimeError):
            return


async def _cancel(*tasks: asyncio.Task[Any] | None) -> None:
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)


class _Session:
    """One exec connection: client frames to the process, process output to the client."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        wire: _Wire,
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
        pinger = asyncio.create_task(_keepalive(self.ws, self.keepalive))
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
            await _cancel(reader, feeder, pinger, *pumps)
            if not waiter.done():
                await _cancel(waiter)

    async def finish(self, status: dict[str, Any]) -> None:
        """Write the final Status on channel 3 and close normally, which kubectl reads as the end of output."""
        if self.wire.status_json:
            await self.wire.send(self.ws, ERROR, _go_json(status))
        elif status["status"] != "Success":
            await self.wire.send(self.ws, ERROR, status["message"].encode())
        with contextlib.suppress(ConnectionError):
            await self.ws.close(code=1000)

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


# ------------------------------------------------------------------------------------------------
# Local processes


async def spawn_local(
    argv: list[str],
    tty: bool,
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    preexec: Callable[[], None] | None = None,
) -> Process:
    """Start `argv` as a local process in its own session: pipes, or a pty that becomes its controlling terminal."""
    if not argv:
        raise SpawnError("failed to exec in container: no command given")
    try:
        if tty:
            return await _PtyProcess.start(argv, env=env, cwd=cwd, preexec=preexec)
        return await _PipeProcess.start(argv, env=env, cwd=cwd, preexec=preexec)
    except FileNotFoundError as exc:
        if "/" in argv[0]:
            raise SpawnError(
                f'failed to exec in container: exec: "{argv[0]}": stat {argv[0]}: no such file or directory'
            ) from exc
        raise SpawnError(f'failed to exec in container: exec: "{argv[0]}": executable file not found in $PATH') from exc
    except PermissionError as exc:
        raise SpawnError(f'failed to exec in container: exec: "{argv[0]}": permission denied') from exc
    except OSError as exc:
        raise SpawnError(f"failed to exec in container: {exc.strerror or exc}") from exc


def _exit_code(returncode: int) -> int:
    # Runtimes report a signalled process as 128 + signal, as a shell would.
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The usual subprocess protocol, plus an event set as soon as the process exits.

    asyncio's own `wait()` also waits for every pipe to close, which a background child can delay forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


class _PipeProcess:
    """A local process on three pipes."""

    def __init__(self, process: asyncio.subprocess.Process, protocol: _ExitProtocol) -> None:
        self._process = process
        self._protocol = protocol

    @classmethod
    async def start(
        cls, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, preexec: Callable[[], None] | None
    ) -> _PipeProcess:
        loop = asyncio.get_running_loop()
        pipe = asyncio.subprocess.PIPE
        transport, protocol = await loop.subprocess_exec(
            lambda: _ExitProtocol(loop),
            *argv,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
        return cls(asyncio.subprocess.Process(transport, protocol, loop), protocol)

    async def output(self, channel: int) -> AsyncIterator[bytes]:
        stream = self._process.stdout if channel == STDOUT else self._process.stderr
        if stream is None:
            return
        while chunk := await stream.read(_CHUNK):
            yield chunk

    async def write_stdin(self, data: bytes) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(data)
        await self._process.stdin.drain()

    async def close_stdin(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()

    def resize(self, width: int, height: int) -> None:
        """Pipes have no window size."""

    async def wait(self) -> int:
        await self._protocol.exited.wait()
        assert self._process.returncode is not None
        return _exit_code(self._process.returncode)

    async def kill(self) -> None:
        _kill_group(self._process.pid)
        await self._protocol.exited.wait()


class _PtyProcess:
    """A local process whose stdin, stdout and stderr are one pseudo-terminal."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self._process = process
        self._master = master
        self._closed = False
        self._waiters: set[asyncio.Future[None]] = set()

    @classmethod
    async def start(
        cls, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, preexec: Callable[[], None] | None
    ) -> _PtyProcess:
        master, slave = os.openpty()

        def become_terminal_owner() -> None:
            # start_new_session made the child a session leader; now the pty becomes its controlling terminal,
            # so ^C reaches the foreground job and the shell gets job control.
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if preexec is not None:
                preexec()

        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=become_terminal_owner,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child keeps the slave open, so reading the master ends (EIO) when the child's side closes.
            os.close(slave)
        os.set_blocking(master, False)
        return cls(process, master)

    async def output(self, channel: int) -> AsyncIterator[bytes]:
        if channel != STDOUT:
            return
        try:
            while not self._closed:
                try:
                    chunk = os.read(self._master, _CHUNK)
                except BlockingIOError:
                    await self._ready(writable=False)
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise
                if not chunk:
                    return
                yield chunk
        finally:
            self._close()

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed:
                raise BrokenPipeError("the terminal is closed")
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await self._ready(writable=True)

    async def close_stdin(self) -> None:
        # A terminal has no end of input, only the EOF character: the shell reading it sees end of file.
        with contextlib.suppress(OSError):
            await self.write_stdin(b"\x04")

    def resize(self, width: int, height: int) -> None:
        if not self._closed:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        return _exit_code(await self._process.wait())

    async def kill(self) -> None:
        _kill_group(self._process.pid)
        await self._process.wait()

    async def _ready(self, *, writable: bool) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
        add(self._master, wake)
        self._waiters.add(ready)
        try:
            await ready
        finally:
            self._waiters.discard(ready)
            # Once closed the fd number may already belong to someone else: leave its registration alone.
            if not self._closed:
                remove(self._master)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        os.close(self._master)


# ------------------------------------------------------------------------------------------------
# Port-forward


async def serve_portforward(
    request: web.Request,
    ports: Sequence[int] | None,
    connect: Connect,
    *,
    pod: str = "",
    uid: str = "",
    keepalive: float = KEEPALIVE,
) -> web.StreamResponse:
    """Forward the pod's ports over the WebSocket channel protocol, or over SPDY for kubectl.

    `ports` None reads the request's `ports` query (the WebSocket protocol needs ports; SPDY names the
    port in each stream). `connect(port)` is blocking and runs in a thread; `pod` and `uid` name the pod
    in error messages as the kubelet does.
    """
    if ports is None:
        ports = parse_ports(request.query)
    forwarder = _Forwarder(connect, pod, uid)
    if _upgrade(request) == "spdy/3.1":
        return await _serve_spdy_upgrade(request, forwarder)
    if SPDY_TUNNEL in _offered(request):
        ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL,), autoping=True, compress=False)
        await ws.prepare(request)
        await forwarder.serve_spdy(_websocket_bytes(ws), ws.send_bytes)
        with contextlib.suppress(ConnectionError):
            await ws.close(code=1000)
        return ws
    if not ports:
        raise errors.bad_request('query parameter "port" is required')
    if any(port < 1 for port in ports):
        raise errors.bad_request(f'port "{",".join(str(p) for p in ports)}" must be > 0')
    ws, wire = await _accept_websocket(request, PORTFORWARD_PROTOCOLS)
    await forwarder.serve_channels(ws, wire, list(ports), keepalive)
    return ws


class _Forwarder:
    """Connections from a port-forward client to the pod's ports, with the kubelet's error texts."""

    def __init__(self, connect: Connect, pod: str, uid: str) -> None:
        self.connect = connect
        self.pod = pod
        self.uid = uid

    def error_text(self, port: int, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            reason = "i/o timeout"
        elif isinstance(exc, OSError) and exc.errno:
            reason = os.strerror(exc.errno).lower()
        else:
            reason = str(exc) or type(exc).__name__
        if isinstance(exc, OSError):
            reason = f'failed to connect to localhost:{port} inside namespace "{self.pod}": connect: {reason}'
        return f"error forwarding port {port} to pod {self.pod}, uid {self.uid}: {reason}"

    async def dial(self, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connect in a thread; a connection that completes after we gave up is closed, not leaked."""
        future = asyncio.get_running_loop().run_in_executor(None, self.connect, port)
        try:
            sock = await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(_close_result)
            raise
        try:
            sock.setblocking(False)
            return await asyncio.open_connection(sock=sock)
        except BaseException:
            sock.close()
            raise

    # -- the WebSocket channel protocol (v4): data 2i and error 2i+1 per port, one connection each

    async def serve_channels(self, ws: web.WebSocketResponse, wire: _Wire, ports: list[int], keepalive: float) -> None:
        """Announce each port on its two channels, forward one connection per port, close once all ended."""
        for index, port in enumerate(ports):
            header = struct.pack("<H", port)
            await wire.send(ws, 2 * index, header)
            await wire.send(ws, 2 * index + 1, header)
        inboxes: list[asyncio.Queue[bytes]] = [asyncio.Queue() for _ in ports]
        forwards = [
            asyncio.create_task(self._forward_channel(ws, wire, index, port, inboxes[index]))
            for index, port in enumerate(ports)
        ]
        reader = asyncio.create_task(_read_channels(ws, wire, inboxes))
        pinger = asyncio.create_task(_keepalive(ws, keepalive))
        try:
            running = set(forwards)
            while running and not reader.done():
                _, running = await asyncio.wait({reader, *running}, return_when=asyncio.FIRST_COMPLETED)
                running.discard(reader)
            if not running:
                with contextlib.suppress(ConnectionError):
                    await ws.close(code=1000)
        finally:
            await _cancel(reader, pinger, *forwards)

    async def _forward_channel(
        self, ws: web.WebSocketResponse, wire: _Wire, index: int, port: int, inbox: asyncio.Queue[bytes]
    ) -> None:
        try:
            upstream, writer = await self.dial(port)
        except Exception as exc:
            await wire.send(ws, 2 * index + 1, self.error_text(port, exc).encode())
            return

        async def to_pod() -> None:
            while True:
                writer.write(await inbox.get())
                await writer.drain()

        sender = asyncio.create_task(to_pod())
        try:
            while chunk := await upstream.read(_CHUNK):
                if not await wire.send(ws, 2 * index, chunk):
                    return
        except ConnectionError:
            pass
        finally:
            await _cancel(sender)
            await _close_writer(writer)

    # -- SPDY/3.1 (kubectl): a pair of streams (error, data) per local connection, matched by requestid

    async def serve_spdy(self, source: AsyncIterator[bytes], send: Callable[[bytes], Awaitable[None]]) -> None:
        """Run one SPDY session until the client goes away, forwarding every stream pair it opens."""
        session = spdy.Session(send, _check_spdy_headers)

        async def receive() -> None:
            try:
                async for data in source:
                    await session.feed(data)
            except (spdy.ProtocolError, ConnectionError) as exc:
                log.info("port-forward SPDY session ended: %s", exc)
            finally:
                session.close()

        receiver = asyncio.create_task(receive())
        pending: dict[str, dict[str, spdy.Stream]] = {}
        tasks: set[asyncio.Task[None]] = set()
        try:
            while (stream := await session.accept()) is not None:
                key = _request_id(stream)
                pair = pending.setdefault(key, {})
                kind = stream.headers["streamtype"]
                if kind in pair:
                    await stream.reset()
                    continue
                pair[kind] = stream
                if len(pair) == 1:
                    self._spawn(tasks, self._expire(pending, key))
                else:
                    del pending[key]
                    self._spawn(tasks, self._forward_pair(pair["error"], pair["data"]))
        finally:
            session.close()
            await _cancel(receiver, *tasks)

    @staticmethod
    def _spawn(tasks: set[asyncio.Task[None]], work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    @staticmethod
    async def _expire(pending: dict[str, dict[str, spdy.Stream]], key: str) -> None:
        await asyncio.sleep(STREAM_PAIR_TIMEOUT)
        pair = pending.pop(key, None)
        if not pair:
            return
        if "error" in pair:
            with contextlib.suppress(ConnectionError):
                await pair["error"].write(f"(request={key}) timed out waiting for streams".encode())
        for stream in pair.values():
            await stream.reset()

    async def _forward_pair(self, error: spdy.Stream, data: spdy.Stream) -> None:
        port = int(data.headers["port"])
        try:
            try:
                upstream, writer = await self.dial(port)
            except Exception as exc:
                with contextlib.suppress(ConnectionError):
                    await error.write(self.error_text(port, exc).encode())
                return
            sender = asyncio.create_task(_stream_to_pod(data, writer))
            try:
                while chunk := await upstream.read(_CHUNK):
                    await data.write(chunk)
            except ConnectionError:
                pass
            finally:
                await _cancel(sender)
                await _close_writer(writer)
        finally:
            # The kubelet closes the error stream first; kubectl reads both to EOF before it moves on.
            await error.close()
            await data.close()


async def _stream_to_pod(data: spdy.Stream, writer: asyncio.StreamWriter) -> None:
    """Copy a data stream to the pod; the client's FIN becomes a half-close so the reply still comes back."""
    while chunk := await data.read():
        writer.write(chunk)
        await writer.drain()
    if data.was_reset:
        writer.transport.abort()
    elif writer.can_write_eof():
        writer.write_eof()


def _check_spdy_headers(headers: dict[str, str]) -> str | None:
    """The kubelet's checks on a new port-forward stream; an error text refuses it."""
    port = headers.get("port", "")
    if not port:
        return '"port" header is required'
    problem = _uint16_problem(port)
    if problem:
        return f'unable to parse "{port}" as a port: strconv.ParseUint: parsing "{port}": {problem}'
    if int(port) < 1:
        return f'port "{port}" must be > 0'
    kind = headers.get("streamtype", "")
    if not kind:
        return '"streamType" header is required'
    if kind not in ("error", "data"):
        return f'invalid stream type "{kind}"'
    return None


def _request_id(stream: spdy.Stream) -> str:
    """The pairing key of a stream; clients older than the requestid header get the kubelet's stream-id guess."""
    key = stream.headers.get("requestid", "")
    if key:
        return key
    return str(stream.id if stream.headers["streamtype"] == "error" else stream.id - 2)


async def _read_channels(ws: web.WebSocketResponse, wire: _Wire, inboxes: list[asyncio.Queue[bytes]]) -> None:
    while True:
        message = await ws.receive()
        if message.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
            return
        decoded = wire.decode(message)
        if decoded is None:
            continue
        channel, payload = decoded
        # Only the even (data) channels carry client bytes; error channels are server-to-client.
        if channel % 2 == 0 and channel // 2 < len(inboxes) and payload:
            inboxes[channel // 2].put_nowait(payload)


async def _websocket_bytes(ws: web.WebSocketResponse) -> AsyncIterator[bytes]:
    """The byte stream a WebSocket tunnel carries: binary payloads in order; a text message is an error."""
    while True:
        message = await ws.receive()
        if message.type is WSMsgType.BINARY:
            yield message.data
        elif message.type is WSMsgType.TEXT:
            raise ConnectionError("text message in a SPDY tunnel")
        else:
            return


class _UpgradedReader:
    """Receives the raw bytes of a connection after an HTTP upgrade, in the place aiohttp gives a WebSocket parser."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.queue.put_nowait(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self.queue.put_nowait(None)

    async def chunks(self) -> AsyncIterator[bytes]:
        while (data := await self.queue.get()) is not None:
            yield data


async def _serve_spdy_upgrade(request: web.Request, forwarder: _Forwarder) -> web.StreamResponse:
    """kubectl's fallback: POST with `Upgrade: SPDY/3.1`, answered 101, then SPDY on the raw connection."""
    offered = [v.strip() for h in request.headers.getall("X-Stream-Protocol-Version", []) for v in h.split(",")]
    offered = [v for v in offered if v]
    if not offered:
        raise errors.bad_request("unable to upgrade: X-Stream-Protocol-Version is required")
    if PORTFORWARD_SPDY not in offered:
        raise errors.ApiError(
            403,
            "Forbidden",
            f"unable to upgrade: unable to negotiate protocol: client supports [{' '.join(offered)}], "
            f"server accepts [{PORTFORWARD_SPDY}]",
        )
    response = web.StreamResponse(
        status=101,
        headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": PORTFORWARD_SPDY},
    )
    response.force_close()
    reader = _UpgradedReader()
    # From here on the connection's bytes go to the SPDY session instead of the HTTP parser.
    request.protocol.set_parser(reader)  # type: ignore[arg-type]
    await response.prepare(request)
    await response.write(b"")
    try:
        await forwarder.serve_spdy(reader.chunks(), response.write)
    finally:
        if request.transport is not None:
            request.transport.close()
    return response


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()


def _close_result(future: asyncio.Future[socket.socket]) -> None:
    if not future.cancelled() and future.exception() is None:
        future.result().close()
