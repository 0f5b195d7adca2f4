"""Log views: a container's log, or every container's merged, followed through LogHub.

The page sends one `start` frame (container, tail, since, previous, and where each container left off); the socket
answers `reset`, then frames of lines merged by time, `skipped` markers and `notice`s, at most one frame per 50 ms.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from dashboard import pod_status
from dashboard.kube import logs, watches
from dashboard.kube.logs import Item, Line, LogOptions, LogSubscription, Notice, Skipped
from dashboard.names import InvalidName, check_container, parse_since
from dashboard.permissions import READ_LOGS
from dashboard.sockets.base import BadFrame, SocketConsumer, cancel, read_json

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
FRAME_INTERVAL = 0.05  # at most one frame of lines per 50 ms
FRAME_BYTES = 64 * 1024
MAX_TAIL = 100_000
START_FIELDS = frozenset({"type", "container", "tail", "since", "previous", "resume"})
MAX_RESUME = 256


@dataclass(frozen=True)
class LogStart:
    container: str  # "" for every container, merged
    options: LogOptions
    resume: dict[str, tuple[str, int]]


def _resume_point(name: str, point: Any) -> tuple[str, int]:
    try:
        check_container(name)
    except InvalidName as exc:
        raise BadFrame(f"resume names a container that cannot exist: {exc}") from None
    if not (
        isinstance(point, list)
        and len(point) == 2
        and isinstance(point[0], str)
        and TIMESTAMP.fullmatch(point[0])
        and isinstance(point[1], int)
        and not isinstance(point[1], bool)
        and point[1] >= 0
    ):
        raise BadFrame(f'the resume point of "{name}" must be [timestamp, number of lines]')
    return point[0], point[1]


def parse_start(data: dict[str, Any]) -> LogStart:
    """Check a `start` frame from the log view, field by field; BadFrame says what is wrong."""
    if data.get("type") != "start":
        raise BadFrame('the log view must send {"type": "start", ...}')
    if unknown := sorted(set(data) - START_FIELDS):
        raise BadFrame(f'the start message has a field it should not: "{unknown[0][:40]}"')
    # Empty and null both mean "none" here; anything else must be text (0, [] or false are not).
    container = "" if data.get("container") is None else data["container"]
    since = "" if data.get("since") is None else data["since"]
    if not isinstance(container, str):
        raise BadFrame("container must be a container's name, or empty for every container")
    if not isinstance(since, str):
        raise BadFrame("since must be a duration such as 5m, or empty")
    try:
        if container:
            check_container(container)
        since_seconds = parse_since(since)
    except InvalidName as exc:
        raise BadFrame(str(exc)) from None
    tail = data.get("tail", 100)
    if tail is not None and (not isinstance(tail, int) or isinstance(tail, bool) or not 0 <= tail <= MAX_TAIL):
        raise BadFrame(f"tail must be a number of lines from 0 to {MAX_TAIL}, or all")
    previous = data.get("previous", False)
    if not isinstance(previous, bool):
        raise BadFrame("previous must be true or false")
    points = {} if data.get("resume") is None else data["resume"]
    if not isinstance(points, dict) or len(points) > MAX_RESUME:
        raise BadFrame(f"resume must be an object of at most {MAX_RESUME} containers and where each left off")
    resume = {name: _resume_point(name, point) for name, point in points.items()}
    options = LogOptions(tail=tail, since_seconds=since_seconds, previous=previous)
    return LogStart(container, options, resume)


def normal_ts(ts: str) -> str:
    """A kubelet timestamp with nine fraction digits, so that timestamps compare correctly as strings."""
    if not ts.endswith("Z"):
        return ts
    whole, _, fraction = ts[:-1].partition(".")
    return f"{whole}.{fraction[:9]:0<9}Z"


class LogConsumer(SocketConsumer):
    """One log view: a container's log or every container's merged, followed through LogHub."""

    permission = READ_LOGS
    kind = "logs"
    forbidden = "You do not have the permission to read these logs."
    subscriptions: list[LogSubscription]
    pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.subscriptions = []

    async def frame(self, text: str | None, data: bytes | None) -> None:
        start = parse_start(read_json(text))
        await self.stop()
        snapshot = await watches.hub().snapshot(self.cluster, self.namespace)
        pod = snapshot.pods.get(self.name)
        everyone = [{"name": c.name, "kind": c.kind} for c in pod_status.containers(pod)] if pod else []
        names = [start.container] if start.container else [c["name"] for c in everyone]
        if not names:
            # No pod (or none yet): follow the one name asked for so LogHub can say what is missing.
            names = [start.container or ""]
        await self.send(text_data=json.dumps({"type": "reset", "containers": everyone, "merged": not start.container}))
        hub = logs.hub()
        self.subscriptions = [
            hub.subscribe(self.cluster, self.namespace, self.name, name, start.options, after=start.resume.get(name))
            for name in names
        ]
        self.pump = self.spawn(self._pump())

    async def stop(self) -> None:
        await cancel([self.pump])
        self.pump = None
        for sub in getattr(self, "subscriptions", []):
            sub.close()
        self.subscriptions = []

    async def _pump(self) -> None:
        waiting: dict[asyncio.Task[list[Item]], LogSubscription] = {}
        try:
            while True:
                for sub in self.subscriptions:
                    if sub not in waiting.values() and not sub.closed:
                        waiting[asyncio.create_task(sub.get())] = sub
                if not waiting:
                    return  # every stream ended for good
                started = time.monotonic()
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                # Let the other containers' lines of the same moment arrive, so one frame merges them.
                await asyncio.sleep(max(0.0, FRAME_INTERVAL - (time.monotonic() - started)))
                done = {task for task in waiting if task.done()}
                batches = [task.result() for task in done]
                for task in done:
                    del waiting[task]
                for each in frames(batches):
                    await self.send(text_data=each)
        finally:
            for task in waiting:
                task.cancel()


def frames(batches: list[list[Item]]) -> list[str]:
    """JSON frames for items from several containers: lines merged by time, in frames of at most 64 KiB."""
    keyed: list[tuple[tuple[str, int], Item]] = []
    for batch in batches:
        last = ""
        for item in batch:
            if isinstance(item, Line):
                last = normal_ts(item.ts)
            keyed.append(((last, len(keyed)), item))
    keyed.sort(key=lambda pair: pair[0])
    out: list[str] = []
    lines: list[list[str]] = []
    size = 0
    for _, item in keyed:
        if isinstance(item, Line):
            entry = [item.container, normal_ts(item.ts), item.text]
            cost = len(item.text.encode()) + len(item.container) + 48
            if lines and size + cost > FRAME_BYTES:
                out.append(json.dumps({"type": "lines", "lines": lines}))
                lines, size = [], 0
            lines.append(entry)
            size += cost
            continue
        if lines:
            out.append(json.dumps({"type": "lines", "lines": lines}))
            lines, size = [], 0
        if isinstance(item, Skipped):
            out.append(json.dumps({"type": "skipped", "container": item.container, "count": item.count}))
        elif isinstance(item, Notice):
            message = {"type": "notice", "container": item.container, "kind": item.kind, "message": item.message}
            out.append(json.dumps(message))
    if lines:
        out.append(json.dumps({"type": "lines", "lines": lines}))
    return out
