"""Watch streams: chunked newline-delimited JSON events, as the apiserver writes them.

Covers resourceVersion resume (410 Expired as an ERROR event for a version that is too old),
label and field selectors (an object leaving the selection is a DELETED event, entering it an
ADDED one), bookmarks, timeoutSeconds, sendInitialEvents (the watch-list protocol that kubectl
1.35+ uses for `delete --wait`), and Table events for `kubectl get -w`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox import errors
from sandbox.api import tables
from sandbox.api.rest import Call, wants_table, with_type
from sandbox.api.selectors import parse_field_selector, parse_label_selector
from sandbox.store import ADDED, DELETED, MODIFIED, Change, Store

# The apiserver's default: minRequestTimeout x (1 + rand), i.e. 30 to 60 minutes.
MIN_REQUEST_TIMEOUT = 1800


def _validate(call: Call) -> bool:
    """Check the watch-list parameters; return whether initial events were asked for."""
    if not call.flag("sendInitialEvents"):
        return False
    problems = []
    if call.query.get("resourceVersionMatch") != "NotOlderThan":
        problems.append(
            errors.forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            )
        )
    if not call.flag("allowWatchBookmarks"):
        problems.append(
            errors.forbidden("allowWatchBookmarks", "sendInitialEvents requires setting allowWatchBookmarks to true")
        )
    if problems:
        raise errors.invalid("ListOptions", "", problems, group="meta.k8s.io")
    return True


def _since(call: Call) -> int | None:
    raw = call.query.get("resourceVersion", "")
    if raw in ("", "0"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.invalid(
            "ListOptions",
            "",
            [errors.invalid_value("resourceVersion", raw, "must be a number")],
            group="meta.k8s.io",
        ) from None


def _timeout(call: Call) -> float:
    raw = call.query.get("timeoutSeconds", "")
    if raw:
        try:
            return max(0.0, float(int(raw)))
        except ValueError:
            raise errors.bad_request(f"invalid value for timeoutSeconds: {raw!r}") from None
    return MIN_REQUEST_TIMEOUT * (1 + random.random())


class WatchStream:
    """One open watch: turns store changes into the events this client should see."""

    def __init__(self, store: Store, call: Call, response: web.StreamResponse) -> None:
        self.store = store
        self.call = call
        self.response = response
        labels = parse_label_selector(call.query.get("labelSelector", ""))
        fields = parse_field_selector(call.query.get("fieldSelector", ""), call.resource.kind)
        self.matches: Callable[[dict[str, Any]], bool] = lambda o: (
            labels.matches(o["metadata"].get("labels") or {}) and fields.matches(o)
        )
        self.table = wants_table(call.accept)
        self.headers_sent = False

    async def send(self, kind: str, obj: dict[str, Any]) -> None:
        body: dict[str, Any]
        if self.table and kind != "BOOKMARK" and kind != "ERROR":
            body = tables.table(
                self.call.resource.kind,
                [with_type(self.call.resource, obj)],
                datetime.now(UTC),
                include_object=self.call.query.get("includeObject", "Metadata"),
                with_headers=not self.headers_sent,
                resource_version=obj["metadata"]["resourceVersion"],
            )
            self.headers_sent = True
        elif kind in ("BOOKMARK", "ERROR"):
            body = obj
        else:
            body = with_type(self.call.resource, obj)
        line = json.dumps({"type": kind, "object": body}, separators=(",", ":")) + "\n"
        await self.response.write(line.encode())

    def bookmark(self, rv: str, initial_end: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {
            "kind": self.call.resource.kind,
            "apiVersion": self.call.resource.api_version,
            "metadata": meta,
        }

    def translate(self, change: Change) -> str | None:
        """The event type this client sees for a change, given its selectors (None: not its business)."""
        now = self.matches(change.object)
        if change.type == ADDED:
            return ADDED if now else None
        if change.type == DELETED:
            return DELETED if now else None
        before = change.previous is not None and self.matches(change.previous)
        if before and now:
            return MODIFIED
        if before:
            return DELETED
        return ADDED if now else None


async def serve(request: web.Request, store: Store, call: Call, bookmark_interval: float) -> web.StreamResponse:
    """Answer a `?watch=true` request; the stream ends at timeoutSeconds, on shutdown or disconnect."""
    initial_events = _validate(call)
    since = None if initial_events else _since(call)
    timeout = _timeout(call)
    bookmarks = call.flag("allowWatchBookmarks")

    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    stream = WatchStream(store, call, response)
    try:
        watcher = store.watch(call.resource.key, call.namespace, since)
    except errors.ApiError as exc:
        # A too-old resourceVersion is still a 200: the error travels as the stream's only event.
        await response.prepare(request)
        await stream.send("ERROR", exc.status())
        await response.write_eof()
        return response
    # Taken with no await since subscribing, so the snapshot and the live changes line up exactly.
    start_rv = store.resource_version
    snapshot = [o for o in store.list(call.resource.key, call.namespace) if stream.matches(o)] if since is None else []

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        await response.prepare(request)
        for obj in snapshot:
            await stream.send(ADDED, obj)
        if initial_events:
            await stream.send("BOOKMARK", stream.bookmark(start_rv, initial_end=True))
        next_bookmark = loop.time() + bookmark_interval
        while True:
            now = loop.time()
            if now >= deadline:
                break
            wait = deadline - now
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            try:
                # Not asyncio.wait_for, which on Python 3.11 drops a cancellation (the server closing the
                # stream) that arrives as the queue hands over a change.
                async with asyncio.timeout(wait):
                    change = await watcher.queue.get()
            except TimeoutError:
                if bookmarks and loop.time() >= next_bookmark:
                    await stream.send("BOOKMARK", stream.bookmark(store.resource_version))
                    next_bookmark = loop.time() + bookmark_interval
                continue
            if change is None:
                if watcher.overflowed:
                    gone = errors.expired("the watch fell too far behind; list and watch again")
                    await stream.send("ERROR", {**gone.status(), "code": 410, "reason": "Expired"})
                break
            kind = stream.translate(change)
            if kind is not None:
                await stream.send(kind, change.object)
        await response.write_eof()
    except ConnectionResetError:
        pass
    finally:
        store.stop_watch(watcher)
    return response
