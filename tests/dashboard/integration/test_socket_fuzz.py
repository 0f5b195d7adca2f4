"""Malformed frames by the thousand, on every kind of socket: each one ends its socket with 4400 and a sentence,
and afterwards nothing is left held: no socket in the registry, no upstream stream, no log subscriber, no open
audit row, no file descriptor.

The default run sends FUZZ_FRAMES (200) frames per socket kind, about 11 s in all; set
PODSCOPE_FUZZ_FRAMES=10000 for the full run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import string
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient

from dashboard.kube import clusters, logs, streams
from dashboard.kube.watches import WatchHub
from dashboard.models import SessionRecord
from dashboard.sockets.base import MAX_TEXT_FRAME
from dashboard.sockets.registry import registry
from tests.dashboard.integration.helpers import connect

FUZZ_FRAMES = int(os.environ.get("PODSCOPE_FUZZ_FRAMES") or 200)
# The full run takes longer than the suite's two minutes a test.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120 + FUZZ_FRAMES * 0.3)]
AT_ONCE = 8
COUNTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"


# --- what to send -----------------------------------------------------------------------------------------------


def deep(rng: random.Random) -> str:
    depth = rng.choice([200, 1_000, 5_000, 20_000])
    opening, closing = rng.choice([("[", "]"), ('{"a":', "}")])
    text = opening * depth + "1" + closing * depth
    return text if rng.random() < 0.7 else text[: rng.randrange(1, len(text))]


def junk_text(rng: random.Random) -> str:
    alphabet = string.printable + '\u00e9\u2028\u0000\u202e\U0001f600{}[]",:'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200)))


def wrong_value(rng: random.Random, allowed: tuple[type, ...]) -> Any:
    """A JSON value of none of the `allowed` types."""
    while True:
        value = rng.choice(
            [
                None,
                True,
                -1,
                10**30,
                1.5,
                "x" * rng.randrange(0, 9000),
                [],
                [1, [2, [3]]],
                {},
                {"nested": {"deeper": [None]}},
            ]
        )
        if type(value) not in allowed and not (isinstance(value, bool) and int in allowed and bool in allowed):
            return value


def mutate(rng: random.Random, valid: dict[str, Any], fields: dict[str, tuple[type, ...]]) -> str:
    """A frame that breaks one of the socket's rules, built from a valid one."""
    frame = json.loads(json.dumps(valid))
    choice = rng.randrange(9)
    if choice <= 3 and fields:
        name = rng.choice(sorted(fields))
        frame[name] = wrong_value(rng, fields[name])
    elif choice == 4:
        frame["unexpected" + str(rng.randrange(1000))] = {"a": [1]}
    elif choice == 5:
        return json.dumps(rng.choice([[frame], "start", 42, None, True]))
    elif choice == 6:
        return deep(rng)
    elif choice == 7:
        text = json.dumps(frame)
        return text[: rng.randrange(0, len(text))]
    else:
        return junk_text(rng) + "{"
    return json.dumps(frame)


def log_frame(rng: random.Random) -> str | bytes:
    valid = {"type": "start", "container": "main", "tail": 100, "since": "5m", "previous": False, "resume": None}
    special = rng.randrange(12)
    if special == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if special == 1:
        return json.dumps({**valid, "container": rng.choice(["Main", "a" * 64, "-x", "x_y", " ", "../etc"])})
    if special == 2:
        return json.dumps({**valid, "since": rng.choice(["yesterday", "5", "-5m", "5mm", "1w"])})
    if special == 3:
        return json.dumps({**valid, "tail": rng.choice([-1, 100_001, True, "all"])})
    if special == 4:
        resume = rng.choice([[1, 2], "x", {"main": "yesterday"}, {"main": ["2026-01-01T00:00:00Z", -1]}, {"Bad": []}])
        return json.dumps({**valid, "resume": resume})
    if special == 5:
        return json.dumps({**valid, "type": rng.choice(["stop", "", None, 1, "START"])})
    if special == 6:
        return "x" * (MAX_TEXT_FRAME + rng.randrange(1, 1000))
    fields = {
        "container": (str, type(None)),
        "since": (str, type(None)),
        "previous": (bool,),
        "tail": (int, type(None)),
    }
    return mutate(rng, valid, fields)


def list_frame(rng: random.Random) -> str | bytes:
    valid = {"q": "", "selector": "", "page": "1", "HEADERS": {"HX-Request": "true", "HX-Trigger": None}}
    special = rng.randrange(8)
    if special == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if special == 1:
        return json.dumps({**valid, "HEADERS": wrong_value(rng, (dict,))})
    if special == 2:
        return json.dumps({**valid, "HEADERS": {"HX-Trigger": wrong_value(rng, (str, bool, type(None)))}})
    if special == 3:
        return json.dumps({**valid, "q": "x" * 5000})
    return mutate(rng, valid, {"q": (str,), "selector": (str,), "page": (str,)})


def pod_frame(rng: random.Random) -> str | bytes:
    # A pod page's socket takes no messages at all: anything is malformed.
    if rng.random() < 0.3:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
    return rng.choice([junk_text(rng), json.dumps({"q": "x"}), deep(rng), "{}"])


def exec_frame(rng: random.Random) -> str | bytes:
    # Binary frames are keystrokes, always acceptable; the control messages are the ones with rules.
    valid = {"type": "resize", "cols": 80, "rows": 24}
    special = rng.randrange(6)
    if special == 0:
        return json.dumps({"type": "resize", "cols": rng.choice([0, 1001, -3, 2.5]), "rows": 24})
    if special == 1:
        return json.dumps({"type": rng.choice(["pong", "input", "", None, ["ping"]])})
    if special == 2:
        return "x" * 5000
    return mutate(rng, valid, {"cols": (int,), "rows": (int,)})


# --- the run -------------------------------------------------------------------------------------------------------


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def fuzz(
    async_client: AsyncClient,
    user: User,
    path: str,
    make: Callable[[random.Random], str | bytes],
    *,
    seed: int,
    count: int = FUZZ_FRAMES,
    first: dict[str, Any] | None = None,
    wait_for: str | None = None,
) -> list[tuple[str | bytes, int | None, str]]:
    """Send `count` malformed frames, each on a socket of its own, AT_ONCE at a time; what went wrong."""
    rng = random.Random(seed)
    frames = [make(rng) for _ in range(count)]
    await async_client.aforce_login(user)
    problems: list[tuple[str | bytes, int | None, str]] = []

    async def one(index: int, frame: str | bytes) -> None:
        communicator = await connect(async_client, user, path)
        try:
            if first is not None:
                await communicator.send_json_to(first)
            # Now and then the frame comes once the socket is busy (a log following, a command running),
            # otherwise at once, while it is still starting up.
            if wait_for and index % 5 == 0:
                while wait_for not in str(await communicator.receive_output(timeout=15)):
                    pass
            if isinstance(frame, bytes):
                await communicator.send_to(bytes_data=frame)
            else:
                await communicator.send_to(text_data=frame)
            said, deadline = "", time.monotonic() + 15
            while True:
                output = await communicator.receive_output(timeout=max(0.01, deadline - time.monotonic()))
                if output["type"] == "websocket.close":
                    if output.get("code") != 4400:
                        problems.append((frame, output.get("code"), said))
                    return
                text = output.get("text") or ""
                if text.startswith('{"type": "error"'):
                    said = json.loads(text)["message"]
        except TimeoutError:
            problems.append((frame, None, "no close within 15 s"))
        finally:
            await communicator.disconnect()

    pending: set[asyncio.Task[None]] = set()
    for index, frame in enumerate(frames):
        if len(pending) >= AT_ONCE:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        pending.add(asyncio.ensure_future(one(index, frame)))
    await asyncio.gather(*pending)
    return problems


@pytest.fixture
def generous(settings: Any) -> None:
    """One person opening thousands of sockets a minute, eight at a time: over the limits people get."""
    settings.PODSCOPE_MAX_SOCKET_OPENS = 10**9
    settings.PODSCOPE_EXEC_MAX_SESSIONS = AT_ONCE


@pytest.fixture
def quiet_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail on any error Podscope logged: a frame that reached code unprepared for it."""
    with caplog.at_level(logging.ERROR, logger="dashboard"):
        yield
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("dashboard")]
    assert not failures, [r.getMessage() for r in failures[:5]]


@pytest.mark.usefixtures("generous", "quiet_errors")
@pytest.mark.parametrize(
    ("kind", "make", "first", "wait_for"),
    [
        ("list", list_frame, None, None),
        ("pod", pod_frame, None, None),
        ("logs", log_frame, {"type": "start", "container": "main", "tail": 1}, '"type": "lines"'),
        ("exec", exec_frame, None, '"type": "started"'),
    ],
)
async def test_malformed_frames_end_their_socket_and_leave_nothing_held(
    async_client: AsyncClient,
    alice: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable[..., dict[str, Any]],
    watch_hub: WatchHub,
    log_hub: logs.LogHub,
    kind: str,
    make: Callable[[random.Random], str | bytes],
    first: dict[str, Any] | None,
    wait_for: str | None,
) -> None:
    make_pod("web", command=COUNTER)
    base = f"/ws/c/sandbox/ns/{namespace}/pods/"
    path = {
        "list": base,
        "pod": base + "web/",
        "logs": base + "web/logs/",
        "exec": base + "web/exec/?container=main&command=sh",
    }
    # Warm up (the namespace's watch, a log follow, the database), so what stays open afterwards is what leaked.
    await fuzz(async_client, alice, path[kind], make, seed=0, count=20, first=first, wait_for=wait_for)
    before = fds()
    # A log follow lingers a while after its last viewer, and keeps its pod's watch meanwhile; nothing beyond.
    watching = sum(len(watch.subscribers) for watch in watch_hub.watches.values())

    problems = await fuzz(
        async_client, alice, path[kind], make, seed=sum(map(ord, kind)), first=first, wait_for=wait_for
    )

    assert problems == [], problems[:5]
    await asyncio.sleep(0.5)
    assert registry().all() == []
    assert streams.open_streams() == 0
    assert all(not stream.subscribers for stream in log_hub.streams.values())
    assert sum(len(watch.subscribers) for watch in watch_hub.watches.values()) <= watching
    assert not await SessionRecord.objects.filter(ended__isnull=True).aexists()
    assert fds() <= before + 4
