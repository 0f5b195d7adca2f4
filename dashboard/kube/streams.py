"""Websockets to a pod's streaming subresources (exec, portforward) on the API server.

The generated client's websocket helper offers one fixed subprotocol and hides which one the server chose, so
streams are opened here instead: the URL and credentials come from the cluster's ApiClient exactly as for a REST
call (bearer tokens, exec plugins and client certificates all work), and aiohttp does the websocket, with
keep-alive pings so no proxy on the way closes a quiet stream.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
import yaml
from kubernetes.aio import client as aio_client
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.config.config_exception import ConfigException as SyncConfigException

from dashboard.kube.clusters import Cluster
from dashboard.kube.resources import (
    REQUEST_TIMEOUT,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    _unreachable,
    not_answering,
)

# kubectl allows 4 MiB messages too; a terminal's output comes in far smaller pieces.
MAX_MESSAGE = 4 * 1024 * 1024

_REFUSED = {
    400: Invalid,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
}


@dataclass(frozen=True)
class Frame:
    """A binary message of the channel protocols (exec, portforward): its first byte names the channel."""

    channel: int
    payload: bytes


@dataclass(eq=False)
class Upstream:
    """An open websocket to the API server and the session that carries it; `close()` ends both."""

    socket: aiohttp.ClientWebSocketResponse
    session: aiohttp.ClientSession
    protocol: str
    _closed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        _open.add(self)

    async def receive(self) -> Frame | aiohttp.WSMessage:
        """The next binary message as a Frame, skipping empty ones; any other message (text, close, error) as is."""
        while True:
            msg = await self.socket.receive()
            if msg.type != aiohttp.WSMsgType.BINARY:
                return msg
            data: bytes = msg.data
            if data:
                return Frame(data[0], data[1:])

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _open.discard(self)
        with contextlib.suppress(Exception):
            await self.socket.close()
        await self.session.close()


# Every stream opened and not closed yet, held strongly: one that is never closed stays counted.
_open: set[Upstream] = set()


def open_streams() -> int:
    """How many exec and port-forward streams to API servers this process holds open."""
    return len(_open)


def _refusal(status: int, what: str) -> KubeError:
    # A refused upgrade's body is not kept by aiohttp, so the sentence comes from the status alone. Callers check the
    # pod and container first, so most refusals are explained before this point.
    if status in (401, 403):
        text = f"the cluster does not allow Podscope to {what} here (HTTP {status})"
    elif status == 404:
        text = f"the API server has no {what} for this pod (HTTP 404): the pod may have just been deleted"
    else:
        text = f"the API server refused to {what} (HTTP {status})"
    return _REFUSED.get(status, KubeError)(text, status=status)


async def open_stream(
    cluster: Cluster,
    path: str,
    query: Sequence[tuple[str, str]],
    protocols: Sequence[str],
    *,
    what: str,
    heartbeat: float | None,
) -> Upstream:
    """Open a websocket to `path` (with `{namespace}`/`{name}` already filled in) offering `protocols`, in order.

    `what` names the action in error sentences ("open a terminal"). Every failure is a KubeError.
    """
    if silence := not_answering(cluster):
        raise silence  # a frozen or unreachable API server: say so now rather than after a timeout
    try:
        api = await cluster.client()
    except (ConfigException, SyncConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise KubeError(f"cannot use the configuration of cluster {cluster.label}: {exc}", unreachable=True) from exc
    try:
        _, url, headers, _, _ = await api.param_serialize(
            "GET",
            path,
            query_params=list(query),
            auth_settings=["BearerToken"],
        )
        ssl_context = api.rest_client.ssl_context
        configuration: aio_client.Configuration = api.configuration
    finally:
        await api.close()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=REQUEST_TIMEOUT))
    try:
        socket = await session.ws_connect(
            url,
            protocols=tuple(protocols),
            headers=headers,
            heartbeat=heartbeat,
            ssl=ssl_context,
            proxy=configuration.proxy,
            max_msg_size=MAX_MESSAGE,
            # The API server's frames are binary; a text frame would be a protocol error worth seeing as it is.
            autoping=True,
        )
    except aiohttp.WSServerHandshakeError as exc:
        await session.close()
        raise _refusal(exc.status, what) from exc
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        await session.close()
        raise _unreachable(configuration.host, exc) from exc
    except BaseException:
        await session.close()
        raise
    protocol = socket.protocol
    if protocol is None or protocol not in protocols:
        await socket.close()
        await session.close()
        raise KubeError(
            f"the API server answered without a streaming protocol Podscope speaks ({', '.join(protocols)})"
        )
    return Upstream(socket, session, protocol)
