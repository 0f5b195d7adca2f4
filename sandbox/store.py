"""The sandbox's object store: what etcd and the apiserver's watch cache are to a real cluster.

Objects are plain JSON dicts keyed by (resource, namespace, name). Every write bumps one global
resourceVersion, is persisted to SQLite in the state directory, is appended to a bounded history
(so a watch can resume from a recent resourceVersion and gets 410 Expired for an older one) and is
fanned out to the in-process watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import sqlite3
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox import errors

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name); namespace is "" for cluster-scoped objects
Filter = Callable[[dict[str, Any]], bool]

ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"


def now_rfc3339() -> str:
    """The current time as the API serialises metav1.Time (seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_resource(resource: str) -> tuple[str, str]:
    """`pods` -> ("pods", ""); `pods.metrics.k8s.io` -> ("pods", "metrics.k8s.io")."""
    plural, _, group = resource.partition(".")
    return plural, group


@dataclass(frozen=True)
class Change:
    """One committed write: what watchers and the history see."""

    rv: int
    resource: str
    type: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None


@dataclass(eq=False)
class Watcher:
    """A subscription to the changes of one resource, optionally within one namespace."""

    resource: str
    namespace: str
    queue: asyncio.Queue[Change | None] = field(default_factory=lambda: asyncio.Queue(maxsize=50_000))
    overflowed: bool = False

    def wants(self, change: Change) -> bool:
        if change.resource != self.resource:
            return False
        ns = change.object.get("metadata", {}).get("namespace", "")
        return not self.namespace or ns == self.namespace


class Store:
    """In-memory objects with write-through persistence, resourceVersions and watch fan-out."""

    def __init__(self, path: Path | None = None, history: int = 20_000) -> None:
        self._objects: dict[str, dict[Key, dict[str, Any]]] = {}
        self._history: deque[Change] = deque(maxlen=history)
        self._watchers: set[Watcher] = set()
        self._rv = 0
        self._db: sqlite3.Connection | None = None
        if path is not None:
            self._open(path)
        # The oldest resourceVersion a watch may resume from: nothing before start-up is retained,
        # exactly as a restarted apiserver's watch cache.
        self._floor = self._rv

    # -- persistence -------------------------------------------------------------------------

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS objects (resource TEXT, namespace TEXT, name TEXT, body TEXT,"
            " PRIMARY KEY (resource, namespace, name))"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        for resource, namespace, name, body in self._db.execute("SELECT * FROM objects"):
            self._objects.setdefault(resource, {})[(namespace, name)] = json.loads(body)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'rv'").fetchone()
        self._rv = int(row[0]) if row else 0

    def _persist(self, resource: str, key: Key, obj: dict[str, Any] | None) -> None:
        if self._db is None:
            return
        if obj is None:
            self._db.execute("DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?", (resource, *key))
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)",
                (resource, *key, json.dumps(obj, separators=(",", ":"))),
            )
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('rv', ?)", (str(self._rv),))

    def close(self) -> None:
        """Flush and close the database, and end every watch."""
        self.end_watches()
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- reads -------------------------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """A copy of one object, or NotFound."""
        obj = self._objects.get(resource, {}).get((namespace, name))
        if obj is None:
            raise errors.not_found(*split_resource(resource)[:1], name, split_resource(resource)[1])
        return copy.deepcopy(obj)

    def find(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A copy of one object, or None."""
        obj = self._objects.get(resource, {}).get((namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, resource: str, namespace: str = "") -> list[dict[str, Any]]:
        """Objects in key order (namespace, name), as etcd returns them; callers must not mutate them."""
        bucket = self._objects.get(resource, {})
        keys = sorted(k for k in bucket if not namespace or k[0] == namespace)
        return [bucket[k] for k in keys]

    def count(self, resource: str, namespace: str = "") -> int:
        bucket = self._objects.get(resource, {})
        if not namespace:
            return len(bucket)
        return sum(1 for k in bucket if k[0] == namespace)

    # -- writes ------------------------------------------------------------------------------

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object, stamping uid, resourceVersion, creationTimestamp and generation."""
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(resource, {})
        if key in bucket:
            raise errors.already_exists(*split_resource(resource)[:1], key[1], split_resource(resource)[1])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        if "spec" in obj:
            meta["generation"] = 1
        return self._commit(resource, key, obj, ADDED, None)

    def update(self, resource: str, obj: dict[str, Any], *, check_version: bool = True) -> dict[str, Any]:
        """Replace an object; with check_version, a stale metadata.resourceVersion is a 409 Conflict."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        plural, group = split_resource(resource)
        old = self._objects.get(resource, {}).get(key)
        if old is None:
            raise errors.not_found(plural, key[1], group)
        sent = meta.get("resourceVersion")
        if check_version and sent and sent != old["metadata"]["resourceVersion"]:
            raise errors.conflict(plural, key[1], errors.STALE_OBJECT, group)
        # Identity and creation facts belong to the server, whatever the client sent.
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
            if kept in old["metadata"]:
                meta[kept] = old["metadata"][kept]
            else:
                meta.pop(kept, None)
        if "generation" in old["metadata"]:
            # Only a registry's update strategy moves generation on (spec changes through the main
            # resource); status writes and bindings keep it.
            meta["generation"] = max(meta.get("generation") or 0, old["metadata"]["generation"])
        if _same_content(old, obj):
            return copy.deepcopy(old)
        return self._commit(resource, key, obj, MODIFIED, old)

    def mark_deleting(self, resource: str, obj: dict[str, Any], timestamp: str, grace: int) -> dict[str, Any]:
        """Set deletionTimestamp and deletionGracePeriodSeconds: the start of a graceful deletion."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        old = self._objects[resource][key]
        meta["deletionTimestamp"] = timestamp
        meta["deletionGracePeriodSeconds"] = grace
        return self._commit(resource, key, obj, MODIFIED, old)

    def delete(self, resource: str, namespace: str, name: str) -> dict[str, Any]:
        """Remove an object; watchers see its last state with a new resourceVersion."""
        plural, group = split_resource(resource)
        bucket = self._objects.get(resource, {})
        old = bucket.get((namespace, name))
        if old is None:
            raise errors.not_found(plural, name, group)
        last = copy.deepcopy(old)
        del bucket[(namespace, name)]
        self._rv += 1
        last["metadata"]["resourceVersion"] = str(self._rv)
        self._persist(resource, (namespace, name), None)
        self._publish(Change(self._rv, resource, DELETED, last, old))
        return copy.deepcopy(last)

    def _commit(
        self, resource: str, key: Key, obj: dict[str, Any], kind: str, old: dict[str, Any] | None
    ) -> dict[str, Any]:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        stored = copy.deepcopy(obj)
        self._objects.setdefault(resource, {})[key] = stored
        self._persist(resource, key, stored)
        self._publish(Change(self._rv, resource, kind, stored, old))
        return obj

    # -- watches -----------------------------------------------------------------------------

    def _publish(self, change: Change) -> None:
        self._history.append(change)
        for watcher in list(self._watchers):
            if not watcher.wants(change):
                continue
            try:
                watcher.queue.put_nowait(change)
            except asyncio.QueueFull:
                # A watcher this far behind is cut off, as the apiserver does with slow consumers;
                # the client relists and resumes.
                log.warning("watch on %s fell behind; closing it", watcher.resource)
                watcher.overflowed = True
                self.stop_watch(watcher)

    def watch(self, resource: str, namespace: str = "", since: int | None = None) -> Watcher:
        """Subscribe to changes after resourceVersion `since` (None: from now on).

        Raises 410 Expired when `since` is older than the retained history.
        """
        if since is not None and since < self.oldest_resumable():
            raise errors.expired(f"too old resource version: {since} ({self.oldest_resumable()})")
        watcher = Watcher(resource, namespace)
        if since is not None:
            for change in self._history:
                if change.rv > since and watcher.wants(change):
                    watcher.queue.put_nowait(change)
        self._watchers.add(watcher)
        return watcher

    def oldest_resumable(self) -> int:
        """The smallest resourceVersion a watch can start after."""
        if self._history and len(self._history) == self._history.maxlen:
            return self._history[0].rv
        return self._floor

    def stop_watch(self, watcher: Watcher) -> None:
        """End a subscription; its reader sees None."""
        if watcher in self._watchers:
            self._watchers.discard(watcher)
            # A full queue still ends: the reader checks `overflowed` once it drains it.
            with contextlib.suppress(asyncio.QueueFull):
                watcher.queue.put_nowait(None)

    def end_watches(self) -> None:
        """End every subscription: each reader sees None."""
        for watcher in list(self._watchers):
            self.stop_watch(watcher)

    def watcher_count(self) -> int:
        return len(self._watchers)

    def resources(self) -> Iterator[str]:
        return iter(list(self._objects))


async def changes(*watchers: Watcher) -> AsyncIterator[Change]:
    """The changes of several watches as they come; ends when any of them is stopped."""
    merged: asyncio.Queue[Change | None] = asyncio.Queue()

    async def pump(watcher: Watcher) -> None:
        while (change := await watcher.queue.get()) is not None:
            await merged.put(change)
        await merged.put(None)

    tasks = [asyncio.create_task(pump(w)) for w in watchers]
    try:
        while (change := await merged.get()) is not None:
            yield change
    finally:
        for task in tasks:
            task.cancel()


async def sync_each(store: Store, resource: str, sync: Callable[[dict[str, Any]], None]) -> None:
    """Call `sync` with the current state of every object of `resource`, then after each change to one."""
    watcher = store.watch(resource)

    def current(obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        found = store.find(resource, meta.get("namespace", ""), meta["name"])
        if found is not None:
            sync(found)

    try:
        for obj in list(store.list(resource)):
            current(obj)
        async for change in changes(watcher):
            if change.type != DELETED:
                current(change.object)
    finally:
        store.stop_watch(watcher)


def _same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when only the resourceVersion differs: the apiserver then skips the write (no new RV)."""
    a = {**old, "metadata": {k: v for k, v in old["metadata"].items() if k != "resourceVersion"}}
    b = {**new, "metadata": {k: v for k, v in new["metadata"].items() if k != "resourceVersion"}}
    return a == b
