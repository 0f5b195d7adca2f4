"""Port-forward: over the WebSocket channel protocol (the Python client) and over SPDY/3.1 (kubectl, on the raw
connection after an upgrade, or tunnelled in a WebSocket), as the apiserver and kubelet serve it.

The handler knows nothing about pods: it gets a blocking `connect(port)` that reaches the port inside the pod's
network namespace. Errors read like the kubelet's, which kubectl prints as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from aiohttp import WSCloseCode, WSMsgType, web
from multidict import MultiMapping

from sandbox import errors
from sandbox.runtime import spdy
from sandbox.runtime.channels import (
    KEEPALIVE,
    V4,
    V4_BASE64,
    Wire,
    accept_websocket,
    cancel,
    offered_protocols,
    ping_until_closed,
    requested_upgrade,
)

log = logging.getLogger(__name__)

# The kubelet's port-forward server has no v5.
PORTFORWARD_PROTOCOLS = (V4, V4_BASE64)
SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
PORTFORWARD_SPDY = "portforward.k8s.io"
# The kubelet's default streamCreationTimeout: both streams of a port-forward request must arrive by then.
STREAM_PAIR_TIMEOUT = 30.0
# How much is read from the pod's port at a time.
_CHUNK = 32 * 1024

Connect = Callable[[int], socket.socket]


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
    if requested_upgrade(request) == "spdy/3.1":
        return await _serve_spdy_upgrade(request, forwarder)
    if SPDY_TUNNEL in offered_protocols(request):
        ws = web.WebSocketResponse(protocols=(SPDY_TUNNEL,), autoping=True, compress=False)
        await ws.prepare(request)
        await forwarder.serve_spdy(_websocket_bytes(ws), ws.send_bytes)
        with contextlib.suppress(ConnectionError):
            await ws.close(code=WSCloseCode.OK)
        return ws
    if not ports:
        raise errors.bad_request('query parameter "port" is required')
    if any(port < 1 for port in ports):
        raise errors.bad_request(f'port "{",".join(str(p) for p in ports)}" must be > 0')
    ws, wire = await accept_websocket(request, PORTFORWARD_PROTOCOLS)
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

    async def serve_channels(self, ws: web.WebSocketResponse, wire: Wire, ports: list[int], keepalive: float) -> None:
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
        pinger = asyncio.create_task(ping_until_closed(ws, keepalive))
        try:
            running = set(forwards)
            while running and not reader.done():
                _, running = await asyncio.wait({reader, *running}, return_when=asyncio.FIRST_COMPLETED)
                running.discard(reader)
            if not running:
                with contextlib.suppress(ConnectionError):
                    await ws.close(code=WSCloseCode.OK)
        finally:
            await cancel(reader, pinger, *forwards)

    async def _forward_channel(
        self, ws: web.WebSocketResponse, wire: Wire, index: int, port: int, inbox: asyncio.Queue[bytes]
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
            await cancel(sender)
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
            await cancel(receiver, *tasks)

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
                await cancel(sender)
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


async def _read_channels(ws: web.WebSocketResponse, wire: Wire, inboxes: list[asyncio.Queue[bytes]]) -> None:
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
