"""What the integration tests share: websockets through the real application, terminals, the port proxy, pods."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import AsyncClient
from django.urls import reverse
from kubernetes import client, config

from dashboard.asgi import application
from dashboard.origins import port_key, port_token, socket_token
from tests.clusters import SandboxProcess


def with_token(path: str, session_key: str | None) -> str:
    """`path` with the socket token a page of that session would add."""
    return path + ("&" if "?" in path else "?") + urlencode({"token": socket_token(session_key)})


async def connect(
    async_client: AsyncClient, user: User | None, path: str, *, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    """A socket opened as a page of Podscope's own would open it, signed in as `user` (None: anonymous)."""
    headers = [(b"origin", origin), (b"host", b"localhost")]
    session_key = None
    if user is not None:
        await async_client.aforce_login(user)
        session_key = async_client.cookies["sessionid"].value
        headers.append((b"cookie", f"sessionid={session_key}".encode()))
    communicator = WebsocketCommunicator(application, with_token(path, session_key), headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_until(communicator: WebsocketCommunicator, pattern: str, timeout: float = 10.0) -> str:
    """Frames until one matches `pattern`; fail with the last one seen."""
    deadline = time.monotonic() + timeout
    last = ""
    while (left := deadline - time.monotonic()) > 0:
        try:
            last = await communicator.receive_from(timeout=left)
        except TimeoutError:
            break
        if re.search(pattern, last, re.S):
            return last
    raise AssertionError(f"no frame matching {pattern!r} within {timeout}s; last frame:\n{last[:2000]}")


def exec_path(namespace: str, pod: str, **params: Any) -> str:
    return f"/ws/c/sandbox/ns/{namespace}/pods/{pod}/exec/?{urlencode(params)}"


class Screen:
    """What a terminal socket sent: output bytes, JSON messages, and the close code."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.output = b""
        self.messages: list[dict[str, Any]] = []
        self.closed: int | None = None

    def message(self, kind: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["type"] == kind), None)

    async def until(self, done: Callable[[Screen], bool], timeout: float = 15) -> Screen:
        """Read frames until `done(self)`; fail with what came if it does not happen in time."""
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            assert left > 0, f"not there: {self.output[-300:]!r} {self.messages} {self.closed}"
            assert self.closed is None or done is Screen.is_closed, f"closed {self.closed}: {self.messages}"
            got = await self.communicator.receive_output(timeout=left)
            if got["type"] == "websocket.close":
                self.closed = got.get("code", 1000)
            elif got.get("bytes") is not None:
                self.output += got["bytes"]
            else:
                self.messages.append(json.loads(got["text"]))
        return self

    def is_closed(self) -> bool:
        return self.closed is not None

    async def ended(self, timeout: float = 15) -> Screen:
        return await self.until(Screen.is_closed, timeout)

    async def type(self, text: str) -> None:
        await self.communicator.send_to(bytes_data=text.encode())


def url(client: AsyncClient, namespace: str, pod: str, port: int, rest: str = "", cluster: str = "sandbox") -> str:
    """The link to a pod's port that Podscope makes for the session `client` is signed in with."""
    key = port_key(client.cookies[settings.SESSION_COOKIE_NAME].value)
    token = port_token(key, cluster, namespace, pod, port)
    if rest:
        return reverse("pod-port", args=[cluster, namespace, pod, port, token, rest])
    return reverse("pod-port", args=[cluster, namespace, pod, port, token])


async def body_of(response: HttpResponse) -> bytes:
    """The whole body, streamed or not."""
    if response.streaming:
        return b"".join([chunk async for chunk in response.streaming_content])
    return response.content


async def until_served(client: AsyncClient, path: str, **kwargs: Any) -> tuple[HttpResponse, bytes]:
    """GET `path` until the pod's server answers (it may still be starting), for at most 20 seconds."""
    deadline = time.monotonic() + 20
    while True:
        response = await client.get(path, **kwargs)
        body = await body_of(response)
        if b"Nothing is listening" not in body or time.monotonic() > deadline:
            return response, body
        await asyncio.sleep(0.3)


async def until(check: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def create_pod(sandbox: SandboxProcess, name: str) -> None:
    # On the virtual node the pod is Running at once and stopping the sandbox has no process to kill.
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        body = {
            "metadata": {"name": name},
            "spec": {"nodeName": "virtual", "containers": [{"name": "c", "image": "x"}]},
        }
        client.CoreV1Api(api_client).create_namespaced_pod("default", body)
    finally:
        api_client.close()


def http_scope(
    path: str,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] = ("127.0.0.1", 50000),
    server: tuple[str, int] = ("127.0.0.1", 8000),
) -> dict[str, Any]:
    """The ASGI scope of a plain GET of `path`, for driving the application by hand."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": client,
        "server": server,
    }
