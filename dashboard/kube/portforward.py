"""PortConnection: one TCP connection to a pod's port, carried by one port-forward websocket to the API server.

The websocket speaks the v4 channel protocol that both the API server and the kubelet serve for port-forward: for
the one port asked for, channel 0 carries the connection's bytes both ways and channel 1 the kubelet's error text.
Each channel first announces the port (3 bytes: channel, port little-endian). A websocket is good for one
connection: when the pod's side closes, the server closes the websocket.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import aiohttp

from dashboard.kube.clusters import Cluster
from dashboard.kube.resources import KubeError
from dashboard.kube.streams import Frame, Upstream, open_stream

PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1
# Writes are cut into pieces well below any websocket server's message limit.
CHUNK = 32 * 1024


class PortRefused(KubeError):
    """The pod's side of the connection failed: nothing listening on the port, or the kubelet could not connect."""


def error_sentence(pod: str, port: int, text: str) -> str:
    """A sentence for the kubelet's error text about forwarding `port` of `pod`."""
    text = text.strip()
    if "connection refused" in text.lower():
        return f"nothing is listening on port {port} in pod {pod}: the connection to it was refused"
    return f"the cluster could not connect to port {port} of pod {pod}: {text}"


class PortConnection:
    """One TCP connection to `port` of a pod: `write()` bytes to it, iterate over what it answers, `close()`."""

    def __init__(self, upstream: Upstream, pod: str, port: int) -> None:
        self.upstream = upstream
        self.pod = pod
        self.port = port
        self.bytes_in = 0  # sent to the pod
        self.bytes_out = 0  # received from the pod
        self._ended = False

    @classmethod
    async def open(
        cls, cluster: Cluster, namespace: str, pod: str, port: int, *, heartbeat: float | None = None
    ) -> PortConnection:
        """Open the connection and check the server's announcement of the port; KubeError if that fails."""
        if not 1 <= port <= 65535:
            raise KubeError(f"{port} is not a TCP port: ports go from 1 to 65535", status=400)
        upstream = await open_stream(
            cluster,
            f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward",
            [("ports", str(port))],
            [PROTOCOL],
            what="forward a port",
            heartbeat=heartbeat,
        )
        connection = cls(upstream, pod, port)
        try:
            await connection._expect_announcements()
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _expect_announcements(self) -> None:
        expected = {DATA, ERROR}
        while expected:
            msg = await self.upstream.socket.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                raise KubeError(
                    f"the API server ended the port-forward to pod {self.pod} before it started", status=502
                )
            data: bytes = msg.data
            if len(data) != 3 or data[0] not in expected:
                raise KubeError(
                    f"the API server's port-forward to pod {self.pod} did not start as the protocol says "
                    f"(first message {data[:16]!r})",
                    status=502,
                )
            (announced,) = struct.unpack("<H", data[1:])
            if announced != self.port:
                raise KubeError(
                    f"the API server forwarded port {announced} of pod {self.pod} instead of {self.port}", status=502
                )
            expected.discard(data[0])

    async def write(self, data: bytes) -> None:
        """Send bytes to the pod's port; KubeError if the connection has closed."""
        for start in range(0, len(data), CHUNK):
            piece = data[start : start + CHUNK]
            try:
                await self.upstream.socket.send_bytes(bytes([DATA]) + piece)
            except (ConnectionError, aiohttp.ClientError) as exc:
                # The kubelet may have failed to connect and closed before this write: its error says why.
                raise await self._refusal_left() or KubeError(
                    f"the connection to port {self.port} of pod {self.pod} closed while sending to it", status=502
                ) from exc
            self.bytes_in += len(piece)

    async def _refusal_left(self) -> PortRefused | None:
        try:
            async with asyncio.timeout(1.0):
                async for _ in self._chunks():
                    pass
        except PortRefused as exc:
            return exc
        except (KubeError, TimeoutError):
            pass
        return None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        """The pod's bytes as they come, until its side closes; PortRefused for the kubelet's error text."""
        while not self._ended:
            got = await self.upstream.receive()
            if isinstance(got, Frame):
                if got.channel == DATA and got.payload:
                    self.bytes_out += len(got.payload)
                    yield got.payload
                elif got.channel == ERROR and got.payload:
                    self._ended = True
                    text = got.payload.decode("utf-8", "replace")
                    raise PortRefused(error_sentence(self.pod, self.port, text), status=502)
            elif got.type == aiohttp.WSMsgType.TEXT:
                self._ended = True
                raise KubeError(f"the API server sent text on the port-forward to pod {self.pod}", status=502)
            elif got.type == aiohttp.WSMsgType.ERROR:
                self._ended = True
                raise KubeError(
                    f"the port-forward to pod {self.pod} broke: {got.data or 'the connection was lost'}", status=502
                )
            else:
                # CLOSE, CLOSING or CLOSED: the pod's side of the connection has ended.
                self._ended = True

    async def close(self) -> None:
        """Close the websocket and with it the connection to the pod; safe to call more than once."""
        self._ended = True
        await self.upstream.close()
