"""Who may hold Podscope's websockets, from where, how many, and for how long: origins, page tokens, limits per
person, revocation when a session or a right ends, and malformed frames that must end a socket cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.test import AsyncClient
from django.urls import reverse

from dashboard.asgi import application
from dashboard.kube import clusters, logs, streams
from dashboard.kube.watches import WatchHub
from dashboard.models import SessionRecord
from dashboard.origins import socket_token
from dashboard.sockets.registry import registry
from tests.dashboard.integration.helpers import connect, with_token

pytestmark = pytest.mark.django_db(transaction=True)

COUNTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"


def paths(namespace: str, pod: str = "web") -> dict[str, str]:
    """One address of each kind of socket."""
    base = f"/ws/c/sandbox/ns/{namespace}/pods/"
    return {
        "list": base,
        "pod": f"{base}{pod}/",
        "logs": f"{base}{pod}/logs/",
        "exec": f"{base}{pod}/exec/?container=main&command=sh",
    }


class Peer:
    """The browser's end of one socket: everything it was sent, and how it closed."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[Any] = []
        self.closed: int | None = None

    async def until_closed(self, timeout: float = 10) -> Peer:
        deadline = time.monotonic() + timeout
        while self.closed is None:
            left = deadline - time.monotonic()
            assert left > 0, f"still open after {timeout}s; got {self.frames[-3:]}"
            with contextlib.suppress(TimeoutError):
                await self._take(left)
        return self

    async def _take(self, timeout: float) -> None:
        """Read the next thing the server sent: a frame (JSON as a dict, HTML as text, bytes) or the close."""
        got = await self.communicator.receive_output(timeout=timeout)
        if got["type"] == "websocket.close":
            self.closed = got.get("code", 1000)
        elif got.get("bytes") is not None:
            self.frames.append(got["bytes"])
        else:
            text = got["text"]
            self.frames.append(json.loads(text) if text.startswith("{") else text)

    def errors(self) -> list[str]:
        return [f["message"] for f in self.frames if isinstance(f, dict) and f.get("type") == "error"]

    async def until(self, predicate: Callable[[Any], bool], timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            left = deadline - time.monotonic()
            assert self.closed is None, f"closed {self.closed} before it came; got {self.frames[-3:]}"
            assert left > 0, f"not there in {timeout}s; got {self.frames[-3:]}"
            await self._take(left)


@pytest.fixture
async def opened() -> AsyncIterator[list[WebsocketCommunicator]]:
    """Communicators the test opened, disconnected after it (whatever happened)."""
    communicators: list[WebsocketCommunicator] = []
    yield communicators
    for communicator in communicators:
        await communicator.disconnect()
    await asyncio.sleep(0.1)


async def open_as(
    async_client: AsyncClient, user: User | None, path: str, opened: list[WebsocketCommunicator], **kwargs: Any
) -> Peer:
    communicator = await connect(async_client, user, path, **kwargs)
    opened.append(communicator)
    return Peer(communicator)


async def raw(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[bool, WebsocketCommunicator]:
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    return connected, communicator


# --- origins --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "pod", "logs", "exec"])
@pytest.mark.parametrize(
    "origin",
    [
        b"http://localhost:9999",  # a page on another port of the same host: the browser sends the cookie too
        b"http://localhost:8080",
        b"https://localhost",  # another scheme
        b"http://127.0.0.1",  # another host
        b"http://evil.example",
        b"null",  # a sandboxed page, e.g. a pod's page opened through the port proxy
        None,  # no Origin at all
    ],
)
async def test_sockets_refuse_every_origin_but_the_dashboards_own(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, kind: str, origin: bytes | None
) -> None:
    await async_client.aforce_login(alice)
    key = async_client.cookies["sessionid"].value
    headers = [(b"host", b"localhost"), (b"cookie", f"sessionid={key}".encode())]
    if origin is not None:
        headers.append((b"origin", origin))
    # Even with a valid token: the origin alone refuses the handshake, before any consumer runs.
    connected, communicator = await raw(with_token(paths("default")[kind], key), headers)
    assert not connected
    await communicator.disconnect()
    assert not await SessionRecord.objects.aexists()


async def test_the_dashboards_own_origin_with_its_port_is_accepted(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, namespace: str, watch_hub: WatchHub
) -> None:
    await async_client.aforce_login(bob)
    key = async_client.cookies["sessionid"].value
    headers = [
        (b"host", b"localhost:8000"),
        (b"origin", b"http://localhost:8000"),
        (b"cookie", f"sessionid={key}".encode()),
    ]
    connected, communicator = await raw(with_token(paths(namespace)["list"], key), headers)
    try:
        assert connected
        assert 'id="pod-table"' in await communicator.receive_from(timeout=10)
    finally:
        await communicator.disconnect()
    headers[1] = (b"origin", b"http://localhost:8001")
    connected, communicator = await raw(with_token(paths(namespace)["list"], key), headers)
    assert not connected
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("trusted", "origin", "accepted"),
    [
        (["https://podscope.example.edu"], b"https://podscope.example.edu", True),
        (["https://podscope.example.edu"], b"http://podscope.example.edu", False),
        (["https://podscope.example.edu"], b"https://podscope.example.edu:8443", False),
        (["https://*.example.edu"], b"https://class.example.edu", True),
        (["https://*.example.edu"], b"https://example.org", False),
    ],
)
async def test_trusted_origins_are_matched_exactly_or_by_wildcard(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    watch_hub: WatchHub,
    settings: Any,
    trusted: list[str],
    origin: bytes,
    accepted: bool,
) -> None:
    settings.CSRF_TRUSTED_ORIGINS = trusted
    await async_client.aforce_login(bob)
    key = async_client.cookies["sessionid"].value
    headers = [(b"host", b"localhost"), (b"origin", origin), (b"cookie", f"sessionid={key}".encode())]
    connected, communicator = await raw(with_token(paths("default")["list"], key), headers)
    await communicator.disconnect()
    assert connected is accepted


# --- the page's token ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "pod", "logs", "exec"])
@pytest.mark.parametrize("token", ["", "0" * 32, "other-session"])
async def test_sockets_without_the_pages_token_close_before_sending_anything(
    async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster, kind: str, token: str
) -> None:
    await async_client.aforce_login(alice)
    key = async_client.cookies["sessionid"].value
    if token == "other-session":
        token = socket_token("some-other-session-key")
    path = paths("default")[kind]
    path += ("&" if "?" in path else "?") + urlencode({"token": token})
    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", f"sessionid={key}".encode())]
    connected, communicator = await raw(path, headers)
    try:
        assert connected  # the handshake completes, so that a page of ours can say "reload"...
        # ... but the very first thing on the socket is its close: no fragment, log line or sentence.
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}
    finally:
        await communicator.disconnect()
    if kind == "exec":
        record = await SessionRecord.objects.aget()
        assert (record.allowed, record.username) == (False, "alice")
        assert "token" in record.outcome


# --- revocation ------------------------------------------------------------------------------------------------


@pytest.fixture
def web(make_pod: Callable[..., dict[str, Any]]) -> str:
    """A running pod that logs a line five times a second."""
    make_pod("web", command=COUNTER)
    return "web"


async def open_every_kind(
    async_client: AsyncClient, user: User, namespace: str, pod: str, opened: list[WebsocketCommunicator]
) -> dict[str, Peer]:
    """One socket of each kind, each shown to be live (a fragment, a log line, a started terminal)."""
    peers = {kind: await open_as(async_client, user, path, opened) for kind, path in paths(namespace, pod).items()}
    await peers["logs"].communicator.send_json_to({"type": "start", "container": "main", "tail": 1})
    await peers["list"].until(lambda f: isinstance(f, str) and 'id="pod-table"' in f)
    await peers["pod"].until(lambda f: isinstance(f, str) and 'id="pod-diagram"' in f)
    await peers["logs"].until(lambda f: isinstance(f, dict) and f.get("type") == "lines")
    await peers["exec"].until(lambda f: isinstance(f, dict) and f.get("type") == "started")
    return peers


@pytest.fixture
def every_kind(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    web: str,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
    opened: list[WebsocketCommunicator],
) -> Callable[[], Awaitable[dict[str, Peer]]]:
    """Opens one socket of each kind as alice (an operator) on the `web` pod, once the test has set what it needs."""
    return lambda: open_every_kind(async_client, alice, namespace, web, opened)


async def all_closed(peers: dict[str, Peer], code: int, within: float) -> float:
    """Seconds until every peer was closed with `code` (fails after `within`)."""
    started = time.monotonic()
    await asyncio.gather(*(peer.until_closed(within) for peer in peers.values()))
    assert {kind: peer.closed for kind, peer in peers.items()} == dict.fromkeys(peers, code)
    return time.monotonic() - started


async def exec_row_ended(outcome: str) -> SessionRecord:
    deadline = time.monotonic() + 5
    while True:
        record = await SessionRecord.objects.alatest("started")
        if record.ended is not None:
            assert outcome.lower() in record.outcome.lower()
            return record
        assert time.monotonic() < deadline, "the terminal's audit row never ended"
        await asyncio.sleep(0.05)


async def test_signing_out_closes_every_socket_of_that_session_at_once(
    async_client: AsyncClient, every_kind: Callable[[], Awaitable[dict[str, Peer]]]
) -> None:
    peers = await every_kind()
    await async_client.alogout()
    assert await all_closed(peers, 4401, within=3) < 3
    assert "You signed out, so this connection was closed." in peers["logs"].errors()
    await exec_row_ended("You signed out")
    assert streams.open_streams() == 0
    assert registry().all() == []


async def test_a_session_that_ends_elsewhere_closes_its_sockets_within_the_recheck(
    every_kind: Callable[[], Awaitable[dict[str, Peer]]], settings: Any
) -> None:
    # Another process (or expiry) removes the session: no signal reaches this one, the periodic check does.
    settings.PODSCOPE_SOCKET_RECHECK = 0.5
    peers = await every_kind()
    await sync_to_async(Session.objects.all().delete)()
    assert await all_closed(peers, 4401, within=5) < 3
    assert any("session ended" in e for e in peers["exec"].errors())


async def test_a_disabled_account_loses_its_sockets(
    alice: User, every_kind: Callable[[], Awaitable[dict[str, Peer]]]
) -> None:
    # With the default ten-second check: saving the account brings the check forward.
    peers = await every_kind()
    alice.is_active = False
    await alice.asave()
    assert await all_closed(peers, 4401, within=5) < 3
    await exec_row_ended("session ended")


async def test_a_lost_permission_closes_the_sockets_that_need_it(
    alice: User, every_kind: Callable[[], Awaitable[dict[str, Peer]]]
) -> None:
    peers = await every_kind()
    # From Operators to Viewers: logs and pages stay, the terminal goes.
    await sync_to_async(alice.groups.set)([await Group.objects.aget(name="Viewers")])
    exec_peer = peers.pop("exec")
    await exec_peer.until_closed(5)
    assert exec_peer.closed == 4403
    assert exec_peer.errors() == ["You no longer have the permission this connection needs, so it was closed."]
    await exec_row_ended("no longer have the permission")
    await asyncio.sleep(0.5)
    assert all(peer.closed is None for peer in peers.values())
    # Then no group at all: everything goes.
    await sync_to_async(alice.groups.clear)()
    assert await all_closed(peers, 4403, within=5) < 3


def test_sign_out_and_expiry_are_checked_well_within_the_promised_30_seconds(settings: Any) -> None:
    assert settings.PODSCOPE_SOCKET_RECHECK <= 10


# --- limits per person -------------------------------------------------------------------------------------------


async def test_log_views_per_person_are_capped(
    async_client: AsyncClient,
    bob: User,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
    opened: list[WebsocketCommunicator],
    settings: Any,
) -> None:
    settings.PODSCOPE_MAX_LOG_SOCKETS = 3
    path = paths(namespace)["logs"]
    held = [await open_as(async_client, bob, path, opened) for _ in range(3)]
    refused = await (await open_as(async_client, bob, path, opened)).until_closed()
    assert refused.closed == 4429
    assert refused.errors() == [
        "You already follow 3 logs, the most allowed; close a log view (or its tab) to open another."
    ]
    assert all(peer.closed is None for peer in held)
    # Another person is not affected, and closing one gives the seat back.
    other = await open_as(async_client, alice, path, opened)
    await held[0].communicator.disconnect()
    opened.remove(held[0].communicator)
    again = await open_as(async_client, bob, path, opened)
    await asyncio.sleep(0.3)
    assert other.closed is None
    assert again.closed is None
    assert registry().held(bob.pk, "logs") == 3


async def test_namespaces_watched_per_person_are_capped_for_sockets_and_pages(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    watch_hub: WatchHub,
    opened: list[WebsocketCommunicator],
    settings: Any,
) -> None:
    settings.PODSCOPE_MAX_NAMESPACES = 2
    first = await open_as(async_client, bob, "/ws/c/sandbox/ns/ns-one/pods/", opened)
    second = await open_as(async_client, bob, "/ws/c/sandbox/ns/ns-two/pods/web/", opened)
    # More sockets on a namespace already watched are fine.
    more = await open_as(async_client, bob, "/ws/c/sandbox/ns/ns-one/pods/web/", opened)
    third = await (await open_as(async_client, bob, "/ws/c/sandbox/ns/ns-three/pods/", opened)).until_closed()
    assert third.closed == 4429
    assert all(peer.closed is None for peer in (first, second, more))
    # A page of a third namespace is refused too (it would start a watch that lingers a minute).
    response = await async_client.get(reverse("pod-list", args=["sandbox", "ns-three"]))
    assert response.status_code == 429
    assert "You are watching 2 namespaces at once" in response.content.decode()
    assert len(watch_hub.watches) == 2


async def test_socket_opens_per_minute_are_capped(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    watch_hub: WatchHub,
    opened: list[WebsocketCommunicator],
    settings: Any,
) -> None:
    settings.PODSCOPE_MAX_SOCKET_OPENS = 5
    for _ in range(5):
        peer = await open_as(async_client, bob, "/ws/c/sandbox/ns/default/pods/", opened)
        await peer.communicator.disconnect()
        opened.remove(peer.communicator)
    refused = await (await open_as(async_client, bob, "/ws/c/sandbox/ns/default/pods/", opened)).until_closed()
    assert refused.closed == 4429


# --- malformed frames ------------------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ('{"type": "start", "container": "ma', "not JSON"),
        (nested(20_000), "nested too deeply"),
        ('{"type": "start", "resume": [1, 2]}', "resume must be an object"),
        ('{"type": "start", "resume": {"main": "yesterday"}}', "resume point"),
        ('{"type": "start", "container": 5}', "container must be"),
        ('{"type": "start", "container": ["main"]}', "container must be"),
        ('{"type": "start", "since": {"a": 1}}', "since must be"),
        ('{"type": "start", "previous": "yes"}', "previous must be"),
        ('{"type": "start", "extra": 1}', "a field it should not"),
        ("[]", "JSON object"),
        ("x" * 70_000, "more than the"),
        (b"\x00\x01binary", "not binary"),
    ],
)
async def test_a_malformed_log_frame_ends_the_socket_and_lets_go_of_everything(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    web: str,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
    opened: list[WebsocketCommunicator],
    frame: str | bytes,
    says: str,
) -> None:
    peer = await open_as(async_client, bob, paths(namespace, web)["logs"], opened)
    await peer.communicator.send_json_to({"type": "start", "container": "main", "tail": 1})
    await peer.until(lambda f: isinstance(f, dict) and f.get("type") == "lines")
    assert len(log_hub.streams) == 1
    if isinstance(frame, bytes):
        await peer.communicator.send_to(bytes_data=frame)
    else:
        await peer.communicator.send_to(text_data=frame)
    await peer.until_closed()
    assert peer.closed == 4400
    assert says.lower() in peer.errors()[-1].lower()
    # The upstream follow is released (it lingers for other viewers, with no subscriber left).
    (stream,) = log_hub.streams.values()
    assert not stream.subscribers
    assert registry().all() == []


@pytest.mark.parametrize(
    ("frame", "says"),
    [
        ('{"type": "resize", "cols": "80", "rows": 24}', "resize needs cols and rows"),
        ('{"type": "resize", "cols": 0, "rows": 24}', "resize needs cols and rows"),
        ('{"type": "resize", "cols": true, "rows": 24}', "resize needs cols and rows"),
        ('{"type": "hello"}', "a terminal takes keystrokes"),
        (nested(50_000)[:5000], "more than the"),
        (nested(1_500), "nested too deeply"),
        ("{", "not JSON"),
    ],
)
async def test_a_malformed_terminal_frame_ends_the_command_the_seat_and_the_audit_row(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    web: str,
    opened: list[WebsocketCommunicator],
    settings: Any,
    frame: str,
    says: str,
) -> None:
    settings.PODSCOPE_EXEC_MAX_SESSIONS = 1
    fds = len(os.listdir("/proc/self/fd"))
    peer = await open_as(async_client, alice, paths(namespace, web)["exec"], opened)
    await peer.until(lambda f: isinstance(f, dict) and f.get("type") == "started")
    assert streams.open_streams() == 1
    await peer.communicator.send_to(text_data=frame)
    await peer.until_closed()
    assert peer.closed == 4400
    assert says.lower() in peer.errors()[-1].lower()
    await exec_row_ended(says)
    assert streams.open_streams() == 0
    assert registry().all() == []
    # The seat came back: the one terminal allowed opens again.
    again = await open_as(async_client, alice, paths(namespace, web)["exec"], opened)
    await again.until(lambda f: isinstance(f, dict) and f.get("type") == "started")
    await again.communicator.disconnect()
    opened.remove(again.communicator)
    await asyncio.sleep(0.3)
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


@pytest.mark.parametrize(
    ("kind", "frame", "says"),
    [
        ("list", '{"q": ["a"]}', 'the field "q" must be text'),
        ("list", '{"q": "a", "HEADERS": {"HX-Trigger": {"deep": 1}}}', "HEADERS must be"),
        ("list", nested(30_000), "nested too deeply"),
        ("pod", '{"anything": 1}', None),
        ("pod", b"\x00", None),
    ],
)
async def test_a_malformed_frame_on_a_live_page_ends_it_with_4400(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    watch_hub: WatchHub,
    opened: list[WebsocketCommunicator],
    kind: str,
    frame: str | bytes,
    says: str | None,
) -> None:
    peer = await open_as(async_client, bob, paths(namespace)[kind], opened)
    await peer.until(lambda f: isinstance(f, str) and 'id="cluster-status"' in f)
    if isinstance(frame, bytes):
        await peer.communicator.send_to(bytes_data=frame)
    else:
        await peer.communicator.send_to(text_data=frame)
    await peer.until_closed()
    assert peer.closed == 4400
    assert registry().all() == []
    (watch,) = watch_hub.watches.values()
    assert not watch.subscribers


async def test_the_pod_list_still_takes_the_filter_forms_frames(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    watch_hub: WatchHub,
    opened: list[WebsocketCommunicator],
) -> None:
    peer = await open_as(async_client, bob, paths(namespace)["list"], opened)
    await peer.until(lambda f: isinstance(f, str) and 'id="pod-table"' in f)
    # What htmx's ws-send sends for the filter form: the fields, and its HEADERS with nulls for missing ids.
    headers = {"HX-Request": "true", "HX-Trigger": None, "HX-Trigger-Name": None, "HX-Target": "x", "X-CSRFToken": "t"}
    await peer.communicator.send_json_to({"q": "", "selector": "app in (", "page": "1", "HEADERS": headers})
    await peer.until(lambda f: isinstance(f, str) and 'id="selector-error"' in f)
    assert peer.closed is None
