"""The channel.k8s.io WebSocket protocols that exec and port-forward speak, as the apiserver and kubelet serve them.

Each protocol frames a message as one channel byte and a payload (the base64 ones in text, the others in
binary). The subprotocol is the first one the client lists that we support; a client that offers none gets the
legacy `channel.k8s.io`. Both subresources ping their clients to keep idle connections open.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from sandbox import errors

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
BASE64 = "base64.channel.k8s.io"
CHANNEL = "channel.k8s.io"

KEEPALIVE = 30.0


@dataclass(frozen=True)
class Wire:
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


def requested_upgrade(request: web.Request) -> str:
    """The requested Upgrade protocol, lowercased; 400 for a request that is not an upgrade."""
    connection = ",".join(request.headers.getall("Connection", [])).lower()
    if "upgrade" not in connection:
        raise errors.bad_request("Upgrade request required")
    upgrade = request.headers.get("Upgrade", "").strip().lower()
    if upgrade not in ("websocket", "spdy/3.1"):
        raise errors.bad_request(f'unable to upgrade: unsupported protocol "{upgrade}"')
    return upgrade


def offered_protocols(request: web.Request) -> list[str]:
    """The subprotocols the client offers, in its order of preference."""
    headers = request.headers.getall("Sec-WebSocket-Protocol", [])
    return [p.strip() for header in headers for p in header.split(",") if p.strip()]


async def accept_websocket(request: web.Request, supported: Sequence[str]) -> tuple[web.WebSocketResponse, Wire]:
    """Upgrade with the first client-listed protocol we support (none offered means the legacy one)."""
    offered = offered_protocols(request)
    chosen = ""
    if offered:
        chosen = next((p for p in offered if p in supported), "")
        if not chosen:
            raise errors.bad_request(
                f"requested protocol(s) are not supported: [{' '.join(offered)}]; supports [{' '.join(supported)}]"
            )
    ws = web.WebSocketResponse(protocols=(chosen,) if chosen else (), autoping=True, compress=False)
    await ws.prepare(request)
    return ws, Wire(chosen)


async def ping_until_closed(ws: web.WebSocketResponse, interval: float) -> None:
    """Ping the client regularly; a missing pong is not fatal, since a client only answers while it reads."""
    while not ws.closed:
        await asyncio.sleep(interval)
        try:
            await ws.ping()
        except (ConnectionError, RuntimeError):
            return


async def cancel(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks (None stands for one never started) and wait until every one has ended."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)
