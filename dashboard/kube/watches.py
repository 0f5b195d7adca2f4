"""WatchHub: one list+watch of pods per (cluster, namespace), shared by every viewer.

A classroom of thirty browsers looking at one namespace costs the API server one watch. Each viewer
holds a `Subscription` that collects the names of pods that changed since it last looked, so a slow
viewer never falls behind: it simply sees several changes at once. The hub relists on 410 Gone,
keeps the last pods it had while the cluster is unreachable (marked stale), retries with back-off,
and stops a watch a while after its last viewer leaves.

A watch that hears nothing may be a quiet namespace or a frozen API server; the cluster's health checks
(kube/health.py), not the silence, tell which. When they find the cluster silent, the watch drops its
connection, marks its pods stale and tells its viewers at once, then lists again when a check is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.aio import client as aio_client

from dashboard.kube import health, resources
from dashboard.kube.clusters import Cluster
from dashboard.kube.resources import KubeError
from dashboard.loops import PerLoop, TaskOwner

log = logging.getLogger(__name__)

LIST_CHUNK = 500
# The server ends a watch after this long; a read silent for longer than READ_TIMEOUT means a dead connection.
WATCH_SECONDS = 240
READ_TIMEOUT = WATCH_SECONDS + 30
LIST_TIMEOUT = 60.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0


class Gone(Exception):
    """The resourceVersion being watched is too old: relist."""


@dataclass(frozen=True)
class Snapshot:
    """What a viewer can show: the pods as last seen, and whether they are current."""

    pods: dict[str, dict[str, Any]]
    synced: bool
    error: str | None
    stale_since: datetime | None

    @property
    def stale(self) -> bool:
        return self.stale_since is not None


class Subscription:
    """One viewer's interest in a namespace: the names of pods changed since `changes()` last returned."""

    def __init__(self, watch: NamespaceWatch) -> None:
        self._watch = watch
        self._changed: set[str] = set()
        self._event = asyncio.Event()
        self.closed = False

    def _notify(self, names: set[str]) -> None:
        self._changed |= names
        self._event.set()

    async def changes(self) -> set[str]:
        """Wait for the next change; the names of changed pods (empty when only the connection state changed)."""
        await self._event.wait()
        self._event.clear()
        names, self._changed = self._changed, set()
        return names

    def snapshot(self) -> Snapshot:
        return self._watch.snapshot()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._watch.unsubscribe(self)


class NamespaceWatch(TaskOwner):
    """The list+watch of one namespace's pods, kept running while anyone subscribes."""

    def __init__(self, hub: WatchHub, cluster: Cluster, namespace: str) -> None:
        self.hub, self.cluster, self.namespace = hub, cluster, namespace
        self.pods: dict[str, dict[str, Any]] = {}
        self.synced = False
        self.error: str | None = None
        self.stale_since: datetime | None = None
        self.resource_version = ""
        self.subscribers: set[Subscription] = set()
        self.lists = 0  # how many times the namespace was listed: once, plus once per relist
        self._delay = BACKOFF_FIRST
        self._idle: asyncio.TimerHandle | None = None
        self._first = asyncio.Event()

    def snapshot(self) -> Snapshot:
        return Snapshot(dict(self.pods), self.synced, self.error, self.stale_since)

    def subscribe(self) -> Subscription:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"watch {self.namespace}")
        sub = Subscription(self)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscribers.discard(sub)
        if not self.subscribers and self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(self.hub.linger, self._stop_if_idle)

    async def first_sync(self, timeout: float) -> None:
        """Wait until the first list finished or failed, at most `timeout` seconds."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first.wait(), timeout)

    def _stop_if_idle(self) -> None:
        self._idle = None
        if not self.subscribers:
            self.hub._forget(self)
            self.stop()

    def _notify(self, names: set[str]) -> None:
        for sub in list(self.subscribers):
            sub._notify(names)

    async def _run(self) -> None:
        checks = health.monitor().of(self.cluster)
        with checks.hold():
            await self._follow(checks)

    async def _follow(self, checks: health.ClusterHealth) -> None:
        self._delay = BACKOFF_FIRST
        while True:
            try:
                await checks.unless_silent(self._list_and_watch())
            except Gone:
                log.info("watch of %s/%s expired; listing again", self.cluster.id, self.namespace)
                continue
            # Whatever went wrong becomes a banner and a retry, never a dead hub.
            except Exception as exc:
                if silence := resources.not_answering(self.cluster):
                    # The health checks say when to try again; until then every call would fail at once.
                    self._fail(silence, "Retrying as soon as it answers.", since=checks.silent_since)
                    await checks.answering()
                    self._delay = BACKOFF_FIRST
                    continue
                err = exc if isinstance(exc, KubeError) else KubeError(f"the watch failed: {exc}")
                self._fail(err, f"Retrying in {max(self._delay, 1):.0f} s.")
                await asyncio.sleep(self._delay * random.uniform(0.8, 1.2))
                self._delay = min(self._delay * 2, BACKOFF_MAX)

    async def _list_and_watch(self) -> None:
        async with resources.connection(self.cluster) as api:
            await self._list(api)
            self._delay = BACKOFF_FIRST
            while True:
                await self._watch(api)

    def _fail(self, err: KubeError, retry: str, since: datetime | None = None) -> None:
        """Keep the pods, marked stale since `since` (now), with a sentence saying why and when it tries again;
        tell every viewer."""
        self.error = f"{err.message[:1].upper()}{err.message[1:]}. {retry}"
        if self.stale_since is None:
            self.stale_since = since or datetime.now(UTC)
        log.warning("watch of %s/%s failed: %s", self.cluster.id, self.namespace, err.message)
        self._first.set()
        self._notify(set())

    async def _list(self, api: aio_client.ApiClient) -> None:
        core = aio_client.CoreV1Api(api)
        pods: dict[str, dict[str, Any]] = {}
        token = None
        while True:
            body = await resources.read_json(
                await core.list_namespaced_pod_without_preload_content(
                    self.namespace, limit=LIST_CHUNK, _continue=token, _request_timeout=LIST_TIMEOUT
                )
            )
            for pod in body.get("items") or []:
                pods[pod["metadata"]["name"]] = pod
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                break
        self.lists += 1
        changed = {name for name in pods.keys() | self.pods.keys() if pods.get(name) is not self.pods.get(name)}
        self.pods = pods
        self.resource_version = (body.get("metadata") or {}).get("resourceVersion", "")
        self.synced, self.error, self.stale_since = True, None, None
        self._first.set()
        self._notify(changed)

    async def _watch(self, api: aio_client.ApiClient) -> None:
        core = aio_client.CoreV1Api(api)
        response = await core.list_namespaced_pod_without_preload_content(
            self.namespace,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=self.resource_version,
            timeout_seconds=WATCH_SECONDS,
            # The client takes only a total timeout; the server ends the watch before it, so it only catches
            # a connection that died without a word.
            _request_timeout=READ_TIMEOUT,
        )
        if response.status == 410:
            response.release()
            raise Gone
        if response.status != 200:
            await resources.read_json(response)  # raises the KubeError the status means
        try:
            pending = b""
            async for chunk in response.content.iter_any():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                changed = set()
                for line in lines:
                    if line.strip():
                        changed |= self._apply(json.loads(line))
                if changed:
                    self._notify(changed)
        except BaseException:
            # Stopped mid-stream (cancelled, or a bad event): drop the connection at once. A graceful TLS
            # shutdown would wait on a server still streaming, and outlive the event loop in tests.
            if response.connection is not None and response.connection.transport is not None:
                response.connection.transport.abort()
            response.close()
            raise
        response.release()

    def _apply(self, event: dict[str, Any]) -> set[str]:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone
            message = obj.get("message") or "the watch failed"
            raise KubeError(message, status=obj.get("code"), reason=obj.get("reason", ""))
        meta = obj.get("metadata") or {}
        self.resource_version = meta.get("resourceVersion") or self.resource_version
        if kind == "BOOKMARK":
            return set()
        name = meta.get("name", "")
        if kind == "DELETED":
            self.pods.pop(name, None)
        else:
            self.pods[name] = obj
        return {name}


class WatchHub:
    """Every namespace watch of one event loop."""

    def __init__(self, linger: float = 60.0) -> None:
        self.linger = linger
        self.watches: dict[tuple[Cluster, str], NamespaceWatch] = {}

    def watch(self, cluster: Cluster, namespace: str) -> NamespaceWatch:
        key = (cluster, namespace)
        if key not in self.watches:
            self.watches[key] = NamespaceWatch(self, cluster, namespace)
        return self.watches[key]

    def subscribe(self, cluster: Cluster, namespace: str) -> Subscription:
        """Start following a namespace; close the subscription when done."""
        return self.watch(cluster, namespace).subscribe()

    async def snapshot(self, cluster: Cluster, namespace: str, wait: float = 5.0) -> Snapshot:
        """The namespace's pods, waiting up to `wait` s for a first list; the watch lingers for the page's socket."""
        sub = self.subscribe(cluster, namespace)
        try:
            await sub._watch.first_sync(wait)
            return sub.snapshot()
        finally:
            sub.close()

    def _forget(self, watch: NamespaceWatch) -> None:
        if self.watches.get((watch.cluster, watch.namespace)) is watch:
            del self.watches[(watch.cluster, watch.namespace)]

    async def close(self) -> None:
        """Stop every watch (tests, shutdown)."""
        watches, self.watches = list(self.watches.values()), {}
        for watch in watches:
            if watch._idle is not None:
                watch._idle.cancel()
            watch.stop()
        for watch in watches:
            await watch.join()


_hubs = PerLoop(WatchHub)


def hub() -> WatchHub:
    """The hub of the running event loop (daphne has one; each test has its own)."""
    return _hubs.get()
