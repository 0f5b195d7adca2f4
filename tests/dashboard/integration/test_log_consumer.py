"""The log view's websocket and the log download against the sandbox: one container, all merged, bad input."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient
from django.urls import reverse

from dashboard.kube import clusters, logs
from dashboard.kube.logs import Line, Notice, Skipped
from dashboard.kube.watches import WatchHub
from dashboard.sockets.logs import frames, normal_ts
from tests.dashboard.integration.helpers import connect

pytestmark = pytest.mark.django_db(transaction=True)

COUNTER = "i=0; while true; do i=$((i+1)); echo {name} $i; sleep 0.1; done"
NANOS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


async def open_logs(async_client: AsyncClient, user: User, path: str) -> WebsocketCommunicator:
    return await connect(async_client, user, path)


async def collect(communicator: WebsocketCommunicator, done: Callable[[list[dict]], bool], timeout: float = 15) -> list:
    """Frames until `done(frames)`; fail with what came."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not done(got):
        left = deadline - time.monotonic()
        assert left > 0, f"not there within {timeout}s: {got[-5:]}"
        output = await communicator.receive_output(timeout=left)
        if output["type"] == "websocket.close":
            got.append({"type": "close", "code": output["code"]})
            continue
        got.append(json.loads(output["text"]))
    return got


def lines_of(got: list[dict[str, Any]]) -> list[list[str]]:
    return [line for frame in got if frame["type"] == "lines" for line in frame["lines"]]


@pytest.fixture
def counting_pod(make_pod: Callable) -> Callable[..., str]:
    """A pod whose containers each print their name and a counter ten times a second."""

    def make(name: str, *containers: str) -> str:
        spec = [{"name": c, "image": "busybox", "command": ["sh", "-c", COUNTER.format(name=c)]} for c in containers]
        make_pod(name, containers=spec)
        return name

    return make


async def test_one_container_tail_then_follow(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    counting_pod: Callable,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
) -> None:
    counting_pod("counter", "main")
    await asyncio.sleep(1.5)
    communicator = await open_logs(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/counter/logs/")
    try:
        await communicator.send_json_to({"type": "start", "container": "main", "tail": 3})
        got = await collect(communicator, lambda g: len(lines_of(g)) >= 15)
        assert got[0]["type"] == "reset"
        assert [c["name"] for c in got[0]["containers"]] == ["main"]
        assert got[0]["merged"] is False
        numbers = [int(text.split()[1]) for _, _, text in lines_of(got)]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # no gap, no repeat
        assert numbers[0] > 3  # the tail, not the whole log
        assert all(NANOS.fullmatch(ts) for _, ts, _ in lines_of(got))
    finally:
        await communicator.disconnect()


async def test_all_containers_merge_by_time(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    counting_pod: Callable,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
) -> None:
    counting_pod("pair", "left", "right")
    communicator = await open_logs(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/pair/logs/")
    try:
        await communicator.send_json_to({"type": "start", "container": "", "tail": None})
        got = await collect(communicator, lambda g: {c for c, _, _ in lines_of(g)} == {"left", "right"})
        assert got[0] == {
            "type": "reset",
            "containers": [{"name": "left", "kind": "container"}, {"name": "right", "kind": "container"}],
            "merged": True,
        }
        for frame in got:
            if frame["type"] == "lines":
                stamps = [ts for _, ts, _ in frame["lines"]]
                assert stamps == sorted(stamps)
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ({"type": "start", "tail": -1}, "tail must be"),
        ({"type": "start", "since": "yesterday"}, "since must look like"),
        ({"type": "start", "container": "Not_A_Name"}, "not a valid container name"),
        ({"type": "hello"}, 'must send {"type": "start"'),
    ],
)
async def test_bad_parameters_are_answered_with_a_clear_error(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, start: dict, message: str
) -> None:
    communicator = await open_logs(async_client, bob, "/ws/c/sandbox/ns/default/pods/any/logs/")
    try:
        await communicator.send_json_to(start)
        got = await collect(communicator, lambda g: bool(g) and g[-1]["type"] == "close")
        assert got[0]["type"] == "error"
        assert message.lower() in got[0]["message"].lower()
        assert got[-1]["code"] == 4400
    finally:
        await communicator.disconnect()


async def test_missing_container_is_said_plainly(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    counting_pod: Callable,
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
) -> None:
    counting_pod("solo", "main")
    communicator = await open_logs(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/solo/logs/")
    try:
        await communicator.send_json_to({"type": "start", "container": "nope"})
        got = await collect(communicator, lambda g: any(f["type"] == "notice" for f in g))
        notice = next(f for f in got if f["type"] == "notice")
        assert notice["kind"] == "not-found"
        assert "nope" in notice["message"]
    finally:
        await communicator.disconnect()


async def test_user_without_log_permission_is_refused(
    async_client: AsyncClient, carol: User, sandbox_cluster: clusters.Cluster
) -> None:
    communicator = await open_logs(async_client, carol, "/ws/c/sandbox/ns/default/pods/any/logs/")
    # A frame sent before the refusal arrives is ignored, not an error: the page gets the refusal's sentence.
    await communicator.send_json_to({"type": "start", "container": ""})
    got = await collect(communicator, lambda g: bool(g) and g[-1]["type"] == "close")
    assert got == [
        {"type": "error", "message": "You do not have the permission to read these logs."},
        {"type": "close", "code": 4403},
    ]
    await communicator.disconnect()
    response = await async_client.get(reverse("pod-log", args=["sandbox", "default", "any"]), {"container": "x"})
    assert response.status_code == 403


async def test_download_streams_the_whole_log(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    counting_pod: Callable,
    watch_hub: WatchHub,
) -> None:
    counting_pod("talker", "main")
    await asyncio.sleep(1)
    await async_client.aforce_login(bob)
    url = reverse("pod-log", args=["sandbox", namespace, "talker"])
    response = await async_client.get(url, {"container": "main"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="talker_main.log"'
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert body.startswith("main 1\nmain 2\n")
    missing = await async_client.get(url, {"container": "nope"})
    assert missing.status_code in (400, 404)
    assert "nope" in missing.content.decode()
    bad = await async_client.get(url, {"container": "Not_Valid"})
    assert bad.status_code == 400


def test_frames_merge_containers_and_keep_markers_in_place() -> None:
    batches = [
        [Line("a", "2026-01-01T00:00:01.5Z", "a1"), Skipped("a", 7), Line("a", "2026-01-01T00:00:03Z", "a3")],
        [Line("b", "2026-01-01T00:00:02.25Z", "b2"), Notice("b", "restarted", "b restarted (restart 1)")],
    ]
    out = [json.loads(f) for f in frames(batches)]
    assert out == [
        {"type": "lines", "lines": [["a", "2026-01-01T00:00:01.500000000Z", "a1"]]},
        {"type": "skipped", "container": "a", "count": 7},
        {"type": "lines", "lines": [["b", "2026-01-01T00:00:02.250000000Z", "b2"]]},
        {"type": "notice", "container": "b", "kind": "restarted", "message": "b restarted (restart 1)"},
        {"type": "lines", "lines": [["a", "2026-01-01T00:00:03.000000000Z", "a3"]]},
    ]


def test_frames_stay_under_64_kib() -> None:
    batch = [Line("c", f"2026-01-01T00:00:00.{i:09d}Z", "x" * 1000) for i in range(300)]
    out = frames([batch])
    assert len(out) >= 5
    assert all(len(f.encode()) <= 64 * 1024 + 1024 for f in out)
    assert sum(len(json.loads(f)["lines"]) for f in out) == 300


def test_timestamps_are_padded_to_nanoseconds() -> None:
    assert normal_ts("2026-01-01T00:00:01.5Z") == "2026-01-01T00:00:01.500000000Z"
    assert normal_ts("2026-01-01T00:00:01Z") == "2026-01-01T00:00:01.000000000Z"


async def test_download_of_every_container_puts_each_under_a_header(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    counting_pod: Callable,
    watch_hub: WatchHub,
) -> None:
    counting_pod("duo", "left", "right")
    await asyncio.sleep(1)
    await async_client.aforce_login(bob)
    response = await async_client.get(reverse("pod-log", args=["sandbox", namespace, "duo"]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="duo.log"'
    body = b"".join([chunk async for chunk in response.streaming_content]).decode()
    assert body.startswith("==> left <==\nleft 1\n")
    assert "\n==> right <==\nright 1\n" in body
