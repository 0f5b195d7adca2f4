"""SPDY/3.1 as kubectl port-forward speaks it: frames, compressed header blocks and a server-side session.

Only what moby/spdystream (the library behind client-go) uses is here: SYN_STREAM, SYN_REPLY, DATA,
RST_STREAM, PING, GOAWAY, and HEADERS/SETTINGS/WINDOW_UPDATE read and ignored (spdystream does no flow
control). The session is transport-agnostic: the caller feeds it the bytes it receives and gives it a
coroutine that sends bytes, so the same code serves a raw upgraded connection and a WebSocket tunnel.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

SYN_STREAM = 1
SYN_REPLY = 2
RST_STREAM = 3
SETTINGS = 4
PING = 6
GOAWAY = 7
HEADERS = 8
WINDOW_UPDATE = 9

FLAG_FIN = 0x01

# The RST_STREAM status spdystream sends when it refuses or abandons a stream.
CANCEL = 5

VERSION = 3
_HEADER = struct.Struct(">II")
# Small DATA frames let the streams sharing one connection interleave.
_MAX_DATA = 0xFFFF

# Header names and values of the SPDY/3 dictionary, each prefixed with its 32-bit length, then a literal tail.
_DICTIONARY_WORDS = (
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = (
    b"".join(struct.pack(">I", len(word)) + word.encode() for word in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()
)


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3; the session cannot continue."""


def control_frame(kind: int, flags: int, body: bytes) -> bytes:
    """One control frame: the version, its type, flags and 24-bit length, then the body."""
    return _HEADER.pack(0x80000000 | VERSION << 16 | kind, flags << 24 | len(body)) + body


def data_frame(stream_id: int, flags: int, data: bytes) -> bytes:
    """One DATA frame for a stream."""
    return _HEADER.pack(stream_id & 0x7FFFFFFF, flags << 24 | len(data)) + data


def encode_headers(headers: dict[str, str]) -> bytes:
    """The uncompressed name/value block: a count, then length-prefixed lowercase names and values."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        for part in (name.lower().encode(), value.encode()):
            out.append(struct.pack(">I", len(part)) + part)
    return b"".join(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Parse an uncompressed name/value block; several values of one name arrive NUL-joined and stay so."""
    try:
        (count,) = struct.unpack_from(">I", block)
        offset, headers = 4, {}
        for _ in range(count):
            fields = []
            for _ in range(2):
                (size,) = struct.unpack_from(">I", block, offset)
                fields.append(block[offset + 4 : offset + 4 + size])
                if len(fields[-1]) != size:
                    raise ProtocolError("truncated header block")
                offset += 4 + size
            headers[fields[0].decode()] = fields[1].decode()
    except (struct.error, UnicodeDecodeError) as exc:
        raise ProtocolError(f"bad header block: {exc}") from exc
    return headers


class Stream:
    """One SPDY stream as the server sees it: headers from SYN_STREAM, an inbox of DATA, half-close both ways."""

    def __init__(self, session: Session, stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self.remote_closed = False
        self.local_closed = False
        self.was_reset = False
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        """The next chunk from the peer; b"" once it half-closed or the stream was reset."""
        if self._inbox.empty() and (self.remote_closed or self.was_reset):
            return b""
        return await self._inbox.get()

    async def write(self, data: bytes) -> None:
        """Send bytes on the stream; ConnectionResetError once it was reset or we closed it."""
        if self.was_reset or self.local_closed or self.session.closed:
            raise ConnectionResetError(f"stream {self.id} is closed")
        for start in range(0, len(data), _MAX_DATA):
            await self.session.send(data_frame(self.id, 0, data[start : start + _MAX_DATA]))

    async def close(self) -> None:
        """Half-close our side with an empty DATA frame carrying FIN, once."""
        if self.local_closed or self.was_reset or self.session.closed:
            return
        self.local_closed = True
        await self.session.send(data_frame(self.id, FLAG_FIN, b""))
        self.session.forget(self)

    async def reset(self, status: int = CANCEL) -> None:
        """Abort the stream both ways with RST_STREAM."""
        if self.was_reset:
            return
        self._mark_reset()
        if not self.session.closed:
            await self.session.send(control_frame(RST_STREAM, 0, struct.pack(">II", self.id, status)))
        self.session.forget(self)

    def _receive(self, data: bytes, fin: bool) -> None:
        if self.remote_closed or self.was_reset:
            return
        if data:
            self._inbox.put_nowait(data)
        if fin:
            self.remote_closed = True
            self._inbox.put_nowait(b"")
            self.session.forget(self)

    def _mark_reset(self) -> None:
        if not self.was_reset:
            self.was_reset = True
            self._inbox.put_nowait(b"")


class Session:
    """The server end of one SPDY/3.1 connection.

    `feed()` takes received bytes in order; every stream the peer opens is checked by `check(headers)`
    (an error text refuses it with RST_STREAM, as the kubelet does), answered with SYN_REPLY, and queued
    for `accept()`. PINGs are echoed. `close()` ends every stream.
    """

    def __init__(self, send: Callable[[bytes], Awaitable[None]], check: Callable[[dict[str, str]], str | None]) -> None:
        self._send = send
        self._check = check
        self._lock = asyncio.Lock()
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(
            zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY
        )
        self._streams: dict[int, Stream] = {}
        self._accepted: asyncio.Queue[Stream | None] = asyncio.Queue()
        self.closed = False

    async def send(self, frame: bytes) -> None:
        """Write one whole frame; frames from concurrent streams never interleave."""
        async with self._lock:
            await self._send(frame)

    async def accept(self) -> Stream | None:
        """The next stream the peer opened, or None once the session ended."""
        if self.closed and self._accepted.empty():
            return None
        return await self._accepted.get()

    def forget(self, stream: Stream) -> None:
        """Drop a stream from the table once neither side will send on it."""
        if stream.was_reset or (stream.local_closed and stream.remote_closed):
            self._streams.pop(stream.id, None)

    async def feed(self, data: bytes) -> None:
        """Process received bytes: every complete frame in order, keeping any partial frame for later."""
        self._buffer += data
        while len(self._buffer) >= 8 and not self.closed:
            first, second = _HEADER.unpack_from(self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                return
            body = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                version = (first >> 16) & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"unsupported SPDY version {version}")
                await self._control(first & 0xFFFF, flags, body)
            else:
                stream = self._streams.get(first & 0x7FFFFFFF)
                if stream is not None:
                    stream._receive(body, bool(flags & FLAG_FIN))

    def close(self) -> None:
        """End the session: every stream reads EOF and `accept()` returns None."""
        if self.closed:
            return
        self.closed = True
        for stream in list(self._streams.values()):
            stream._mark_reset()
        self._streams.clear()
        self._accepted.put_nowait(None)

    async def _control(self, kind: int, flags: int, body: bytes) -> None:
        if kind == SYN_STREAM:
            if len(body) < 10:
                raise ProtocolError("short SYN_STREAM")
            (stream_id,) = struct.unpack_from(">I", body)
            headers = decode_headers(self._inflate_block(body[10:]))
            await self._open(stream_id & 0x7FFFFFFF, headers, bool(flags & FLAG_FIN))
        elif kind == RST_STREAM:
            if len(body) < 8:
                raise ProtocolError("short RST_STREAM")
            stream = self._streams.pop(struct.unpack_from(">I", body)[0] & 0x7FFFFFFF, None)
            if stream is not None:
                stream._mark_reset()
        elif kind == PING:
            await self.send(control_frame(PING, 0, body[:4]))
        elif kind == GOAWAY:
            self.close()
        elif kind == HEADERS:
            # Ignored, but the block must still pass through the shared decompressor to keep it in step.
            self._inflate_block(body[4:])
        elif kind == SYN_REPLY:
            # We never open streams, so no reply is expected; decompress only to keep the zlib state in step.
            self._inflate_block(body[4:])
        # SETTINGS, WINDOW_UPDATE and unknown types carry nothing this server acts on.

    async def _open(self, stream_id: int, headers: dict[str, str], fin: bool) -> None:
        problem = self._check(headers)
        stream = Stream(self, stream_id, headers)
        if problem is not None:
            log.info("refused SPDY stream %d: %s", stream_id, problem)
            stream.was_reset = True
            await self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, CANCEL)))
            return
        self._streams[stream_id] = stream
        await self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + self._deflate_block({})))
        if fin:
            stream._receive(b"", True)
        self._accepted.put_nowait(stream)

    def _inflate_block(self, data: bytes) -> bytes:
        try:
            return self._inflate.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(f"bad compressed header block: {exc}") from exc

    def _deflate_block(self, headers: dict[str, str]) -> bytes:
        return self._deflate.compress(encode_headers(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
