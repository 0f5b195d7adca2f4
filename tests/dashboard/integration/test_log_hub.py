"""LogHub against the sandbox: tail and follow, sharing, restarts, previous, missing things, slow viewers, resuming."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml
from kubernetes import client

from dashboard.kube.clusters import Cluster
from dashboard.kube.logs import Item, Line, LogHub, LogOptions, LogSubscription, Notice, Skipped, parse_timestamp
from dashboard.kube.watches import WatchHub
from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary

COUNTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.05; done"
# Three lines per write, so that they usually share one timestamp.
BURSTS = "i=0; while true; do i=$((i+1)); printf 'a %d\\nb %d\\nc %d\\n' $i $i $i; sleep 0.05; done"
STOPPABLE = "echo started; while [ ! -f /tmp/stop ]; do echo tick; sleep 0.2; done; rm /tmp/stop; exit 3"
NANOS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
ALL = LogOptions(tail=None)


@pytest.fixture
async def log_hub(watch_hub: WatchHub) -> AsyncIterator[LogHub]:
    """A LogHub whose streams stop half a second after their last viewer, all stopped after the test."""
    hub = LogHub(linger=0.5, watch_hub=watch_hub)
    yield hub
    await hub.close()
    # A connection dropped mid-stream finishes closing a few loop turns later; let it, before the loop closes.
    await asyncio.sleep(0.2)


async def collect(
    sub: LogSubscription, done: Callable[[list[Item]], bool], timeout: float = 15.0, items: list[Item] | None = None
) -> list[Item]:
    """More items until `done(items)` holds; fail with the last of them otherwise."""
    items = list(items or [])
    deadline = time.monotonic() + timeout
    while not done(items):
        left = deadline - time.monotonic()
        assert left > 0, f"not there within {timeout}s; last items: {items[-5:]}"
        try:
            items += await asyncio.wait_for(sub.get(), left)
        except TimeoutError:
            continue
    return items


def texts(items: list[Item]) -> list[str]:
    return [item.text for item in items if isinstance(item, Line)]


def numbers(items: list[Item]) -> list[int]:
    return [int(item.text.split()[-1]) for item in items if isinstance(item, Line)]


def notices(items: list[Item]) -> list[tuple[str, str]]:
    return [(item.kind, item.message) for item in items if isinstance(item, Notice)]


def has_notice(kind: str) -> Callable[[list[Item]], bool]:
    return lambda items: any(isinstance(item, Notice) and item.kind == kind for item in items)


def after_notice(kind: str, text: str) -> Callable[[list[Item]], bool]:
    """Whether a line containing `text` came after a notice of `kind`."""

    def check(items: list[Item]) -> bool:
        marks = [i for i, item in enumerate(items) if isinstance(item, Notice) and item.kind == kind]
        return bool(marks) and any(text in line for line in texts(items[marks[0] :]))

    return check


def kubectl(sandbox: SandboxProcess, *args: str) -> None:
    command = [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), *args]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def log_requests(sandbox: SandboxProcess, tmp_path: Path) -> tuple[int, int]:
    """From the sandbox's /metrics: (pods/log requests answered 200, pods/log requests in progress)."""
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    with requests.Session() as session:
        # REQUESTS_CA_BUNDLE in the environment names another CA; take nothing from the environment.
        session.trust_env = False
        answer = session.get(
            f"{sandbox.url}/metrics", headers={"Authorization": f"Bearer {sandbox.token}"}, verify=str(ca), timeout=10
        )
    answer.raise_for_status()
    done = running = 0
    for line in answer.text.splitlines():
        if 'resource="pods"' not in line or 'subresource="log"' not in line:
            continue
        value = int(line.rsplit(" ", 1)[1])
        if line.startswith("apiserver_request_total{") and 'code="200"' in line and 'verb="GET"' in line:
            done += value
        elif line.startswith("apiserver_longrunning_requests{"):
            running += value
    return done, running


async def until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)
    return result


async def test_tail_then_follow(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("counter", COUNTER)
    await asyncio.sleep(1.5)
    sub = log_hub.subscribe(sandbox_cluster, namespace, "counter", "main", LogOptions(tail=10))
    items = await collect(sub, lambda items: len(texts(items)) >= 30)
    got = numbers(items)
    assert got[0] > 10  # only the end of what was printed before
    assert got == list(range(got[0], got[0] + len(got)))  # then every line, in order
    assert not notices(items)
    line = items[0]
    assert isinstance(line, Line)
    assert line.container == "main"
    assert NANOS.fullmatch(line.ts)
    assert line.text == f"line {got[0]}"
    (stream,) = log_hub.streams.values()
    assert stream.requests == 1


async def test_since_seconds_starts_that_long_ago(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("counter", COUNTER)
    await asyncio.sleep(2.5)
    asked = time.time_ns()
    sub = log_hub.subscribe(sandbox_cluster, namespace, "counter", "main", LogOptions(tail=None, since_seconds=1))
    items = await collect(sub, lambda items: len(texts(items)) >= 25)
    first = items[0]
    assert isinstance(first, Line)
    # About a second's worth of lines (20), not the three seconds before; the clock is the same host's.
    assert parse_timestamp(first.ts) >= asked - 1_500_000_000
    assert numbers(items)[0] > 20


async def test_viewers_of_one_log_share_one_upstream_request(
    sandbox: SandboxProcess,
    sandbox_cluster: Cluster,
    namespace: str,
    make_pod: Callable[..., Any],
    log_hub: LogHub,
    tmp_path: Path,
) -> None:
    make_pod("counter", COUNTER)
    # Streams of earlier tests end on the server once it notices their clients left.
    await until(lambda: log_requests(sandbox, tmp_path)[1] == 0)
    before, _ = log_requests(sandbox, tmp_path)
    subs = [log_hub.subscribe(sandbox_cluster, namespace, "counter", "main", LogOptions()) for _ in range(5)]
    seen = [numbers(await collect(sub, lambda items: len(texts(items)) >= 20)) for sub in subs]
    assert all(got[:20] == seen[0][:20] for got in seen)
    (stream,) = log_hub.streams.values()
    # A viewer joining later gets the last `tail` lines from the stream's ring at once, then live lines.
    wanted = min(100, stream.produced)
    late = log_hub.subscribe(sandbox_cluster, namespace, "counter", "main", LogOptions())
    replayed = numbers(await late.get())
    assert len(replayed) == wanted
    assert replayed[-1] == numbers(list(stream.ring))[-1]
    more = numbers(await collect(late, lambda items: len(texts(items)) >= 5))
    assert replayed + more == list(range(replayed[0], replayed[0] + len(replayed) + len(more)))
    subs.append(late)
    assert len(log_hub.streams) == 1
    assert stream.requests == 1
    assert log_requests(sandbox, tmp_path)[1] == 1
    for sub in subs:
        sub.close()
    # The stream lingers a little for a viewer who comes back, then stops.
    assert log_hub.streams
    await until(lambda: not log_hub.streams, timeout=3)
    await until(lambda: log_requests(sandbox, tmp_path)[1] == 0)
    assert log_requests(sandbox, tmp_path)[0] == before + 1


async def test_restart_during_follow_is_announced_and_followed(
    sandbox: SandboxProcess,
    sandbox_cluster: Cluster,
    namespace: str,
    make_pod: Callable[..., Any],
    log_hub: LogHub,
) -> None:
    make_pod("stopper", STOPPABLE)
    sub = log_hub.subscribe(sandbox_cluster, namespace, "stopper", "main", ALL)
    items = await collect(sub, lambda items: texts(items).count("tick") >= 3)
    await asyncio.to_thread(kubectl, sandbox, "exec", "-n", namespace, "stopper", "--", "touch", "/tmp/stop")
    # The kubelet's back-off before a first restart is 10 s.
    items = await collect(sub, after_notice("restarted", "tick"), timeout=30, items=items)
    assert texts(items)[0] == "started"
    assert notices(items) == [
        ("terminated", "main exited with code 3 (Error)"),
        ("restarted", "main restarted (restart 1)"),
    ]
    restarted = next(i for i, item in enumerate(items) if isinstance(item, Notice) and item.kind == "restarted")
    # The new instance from its first line; the old one's lines all came before the notices.
    assert texts(items[restarted:])[:2] == ["started", "tick"]
    assert texts(items[:restarted]).count("started") == 1
    assert not sub.closed


async def test_previous_instance_is_read_once_then_ends(
    sandbox_cluster: Cluster, namespace: str, core: client.CoreV1Api, log_hub: LogHub
) -> None:
    # The first instance fails at once; the second one stays.
    command = "echo instance $RANDOM$RANDOM; echo bye; [ -f /data/once ] && sleep 3600; touch /data/once; exit 1"
    manifest = {
        "metadata": {"name": "crasher"},
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sh", "-c", command],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }
    await asyncio.to_thread(core.create_namespaced_pod, namespace, manifest)
    current = log_hub.subscribe(sandbox_cluster, namespace, "crasher", "main", ALL)
    items = await collect(current, after_notice("restarted", "bye"), timeout=30)
    first, _, second, _ = texts(items)
    assert first.startswith("instance ")
    assert second.startswith("instance ")
    assert second != first

    previous = log_hub.subscribe(sandbox_cluster, namespace, "crasher", "main", LogOptions(tail=None, previous=True))
    got = await collect(previous, has_notice("ended"))
    assert texts(got) == [first, "bye"]
    assert notices(got) == [("ended", "the log of the previous instance of main ends here")]
    assert previous.closed
    assert await previous.get() == []


async def test_previous_without_a_previous_instance_is_not_found(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("fresh")
    sub = log_hub.subscribe(sandbox_cluster, namespace, "fresh", "main", LogOptions(previous=True))
    items = await collect(sub, has_notice("not-found"))
    assert notices(items) == [("not-found", 'previous terminated container "main" in pod "fresh" not found')]
    assert sub.closed


async def test_missing_container_and_missing_pod_are_not_found(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("single")
    nope = log_hub.subscribe(sandbox_cluster, namespace, "single", "nope", ALL)
    ghost = log_hub.subscribe(sandbox_cluster, namespace, "ghost", "main", ALL)
    assert notices(await collect(nope, has_notice("not-found"))) == [
        ("not-found", 'pod "single" has no container "nope"; it has: main')
    ]
    assert notices(await collect(ghost, has_notice("not-found"))) == [("not-found", 'pods "ghost" not found')]
    assert nope.closed
    assert ghost.closed
    assert not log_hub.streams


async def test_waiting_container_is_announced_then_followed_when_it_starts(
    sandbox_cluster: Cluster, namespace: str, core: client.CoreV1Api, log_hub: LogHub
) -> None:
    # The init container holds the main one in Waiting (PodInitializing) for a second.
    manifest = {
        "metadata": {"name": "later"},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "sleep 1"]}],
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", COUNTER]}],
        },
    }
    await asyncio.to_thread(core.create_namespaced_pod, namespace, manifest)
    sub = log_hub.subscribe(sandbox_cluster, namespace, "later", "main", ALL)
    items = await collect(sub, lambda items: len(texts(items)) >= 3, timeout=20)
    said = notices(items)
    # Before the pod is on the node the API says so differently; either way it is waiting, then started.
    assert [kind for kind, _ in said] == ["waiting"] * (len(said) - 1) + ["started"]
    assert re.fullmatch(r'container "main" in pod "later" is waiting to start: \w+', said[-2][1])
    assert said[-1] == ("started", "main started")
    assert numbers(items)[:3] == [1, 2, 3]


async def test_deleted_pod_ends_the_stream(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], core: client.CoreV1Api, log_hub: LogHub
) -> None:
    make_pod("doomed", COUNTER)
    sub = log_hub.subscribe(sandbox_cluster, namespace, "doomed", "main", ALL)
    await collect(sub, lambda items: len(texts(items)) >= 5)
    await asyncio.to_thread(core.delete_namespaced_pod, "doomed", namespace)
    items = await collect(sub, has_notice("deleted"), timeout=20)
    # The container may be seen ending before the pod goes.
    assert notices(items)[-1] == ("deleted", 'pod "doomed" was deleted')
    assert {kind for kind, _ in notices(items)} <= {"terminated", "deleted"}
    assert sub.closed
    assert not log_hub.streams


async def test_slow_viewer_gets_every_line_or_its_count(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], watch_hub: WatchHub
) -> None:
    make_pod("flood", "seq 1 20000; sleep 3600")
    hub = LogHub(queue_size=100, watch_hub=watch_hub)
    try:
        sub = hub.subscribe(sandbox_cluster, namespace, "flood", "main", ALL)
        received: list[int] = []
        skipped = 0
        deadline = time.monotonic() + 30
        while len(received) + skipped < 20_000:
            assert time.monotonic() < deadline, f"{len(received)} received and {skipped} skipped so far"
            for item in await asyncio.wait_for(sub.get(), 10):
                if isinstance(item, Skipped):
                    skipped += item.count
                elif isinstance(item, Line):
                    received.append(int(item.text))
            await asyncio.sleep(0.01)
        assert len(received) + skipped == 20_000
        assert skipped > 0
        assert received == sorted(set(received))
        assert received[0] == 1  # the first lines fit in the queue
        # And nothing more comes.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sub.get(), 0.5)
    finally:
        await hub.close()
        await asyncio.sleep(0.2)


async def test_long_lines_are_cut(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("wide", "head -c 100000 /dev/zero | tr '\\0' x; echo; echo after; sleep 3600")
    sub = log_hub.subscribe(sandbox_cluster, namespace, "wide", "main", ALL)
    long, after = texts(await collect(sub, lambda items: "after" in texts(items)))
    assert long.startswith("x" * 16384)
    assert long.endswith("x…")
    assert len(long) == 64 * 1024 + 1
    assert after == "after"


async def test_after_resumes_right_after_the_last_line_seen(
    sandbox_cluster: Cluster, namespace: str, make_pod: Callable[..., Any], log_hub: LogHub
) -> None:
    make_pod("bursts", BURSTS)
    first = log_hub.subscribe(sandbox_cluster, namespace, "bursts", "main", ALL)
    lines = [item for item in await collect(first, lambda items: len(texts(items)) >= 60) if isinstance(item, Line)]
    first.close()
    # A line in the middle of a group sharing one timestamp, so the count matters.
    index = next(i for i in range(20, len(lines) - 1) if lines[i].ts == lines[i - 1].ts == lines[i + 1].ts)
    ts = lines[index].ts
    n = sum(1 for line in lines[: index + 1] if line.ts == ts)
    assert n >= 2

    resumed = log_hub.subscribe(sandbox_cluster, namespace, "bursts", "main", ALL, after=(ts, n))
    got = [item for item in await collect(resumed, lambda items: len(texts(items)) >= 20) if isinstance(item, Line)]
    # Exactly the lines after that one: the same lines (same timestamps) the first viewer had, then new ones.
    assert got[: len(lines) - index - 1] == lines[index + 1 :]
    burst = int(lines[index].text.split()[1])
    expected = [f"{letter} {i}" for i in range(burst, burst + len(got)) for letter in "abc"]
    start = expected.index(lines[index + 1].text)
    assert [line.text for line in got] == expected[start : start + len(got)]


async def test_unreachable_cluster_is_an_error_notice(dead_cluster: Cluster, log_hub: LogHub) -> None:
    sub = log_hub.subscribe(dead_cluster, "default", "web", "main", ALL)
    items = await collect(sub, has_notice("error"))
    ((kind, message),) = notices(items)
    assert kind == "error"
    assert re.fullmatch(r"cannot reach the cluster at https://127\.0\.0\.1:\d+: connection refused", message)
    assert not sub.closed  # it keeps trying


class CuttingProxy:
    """A TCP proxy in front of the sandbox whose open connections a test can cut, as a network failure would."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                end.transport.abort()
                end.close()
                self.writers.discard(end)
            self.tasks.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    def cut(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        self.cut()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()


async def test_a_dropped_connection_resumes_without_gaps_or_duplicates(
    sandbox: SandboxProcess, namespace: str, make_pod: Callable[..., Any], watch_hub: WatchHub, tmp_path: Path
) -> None:
    make_pod("bursts", BURSTS)
    target = urlsplit(sandbox.url)
    proxy = CuttingProxy(target.hostname or "127.0.0.1", target.port or 443)
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{await proxy.start()}"
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    hub = LogHub(watch_hub=watch_hub)
    try:
        cluster = Cluster("proxied", "Proxied", path, config["current-context"])
        sub = hub.subscribe(cluster, namespace, "bursts", "main", ALL)
        items = await collect(sub, lambda items: len(texts(items)) >= 30)
        proxy.cut()

        def thirty_after_the_error(items: list[Item]) -> bool:
            marks = [i for i, item in enumerate(items) if isinstance(item, Notice) and item.kind == "error"]
            return bool(marks) and len(texts(items[marks[0] :])) >= 30

        items = await collect(sub, thirty_after_the_error, items=items)
        assert [kind for kind, _ in notices(items)] == ["error"]
        got = texts(items)
        expected = [f"{letter} {i}" for i in range(1, len(got)) for letter in "abc"][: len(got)]
        assert got == expected
        (stream,) = hub.streams.values()
        assert stream.requests == 2
    finally:
        await hub.close()
        await proxy.close()
        await asyncio.sleep(0.2)
