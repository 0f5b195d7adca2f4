"""Websocket consumers: live pages, log views and terminals, each a translator over dashboard/sockets.py.

`SocketConsumer` admits every socket the same way (session, page token, permission, address, limits), validates
frames and always cleans up; these classes only subscribe, translate frames and let go. Close codes (in
sockets.py) the pages explain: 4400 bad message, 4401 signed out, 4403 missing permission, 4404 no such cluster or
bad name, 4429 over a limit, 1001 Podscope shutting down, 1011 Podscope failed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import pod_status, pod_table
from dashboard.asciicast import Recorder
from dashboard.context import pod_context
from dashboard.kube import logs, watches
from dashboard.kube.exec import ExecSession, Exit, open_shell
from dashboard.kube.logs import Line, LogOptions, LogSubscription, Notice, Skipped
from dashboard.kube.resources import Forbidden, KubeError
from dashboard.kube.watches import Subscription, hub
from dashboard.models import SessionRecord
from dashboard.names import InvalidName, check_container, parse_since
from dashboard.origins import port_key
from dashboard.permissions import EXEC_PODS, READ_LOGS, VIEW_PODS, capabilities
from dashboard.sockets import (
    BAD_REQUEST,
    FORBIDDEN,
    NORMAL,
    NOT_FOUND,
    BadFrame,
    Refusal,
    SocketConsumer,
    cancel,
    query_params,
    read_json,
)
from dashboard.terminals import MAX_CELLS, BadRequest, close_record, open_record, parse_request

log = logging.getLogger(__name__)

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
# Several watch events usually arrive together (a restart changes status several times); one render covers them.
COALESCE = 0.05


class LiveConsumer(SocketConsumer):
    """Subscribe to one namespace, and re-render on every change until the socket closes."""

    permission = VIEW_PODS
    subscription: Subscription | None = None
    pump: asyncio.Task[None] | None = None

    async def tell(self, message: str) -> None:
        # htmx swaps whatever arrives into the page; the close code is what these pages explain (podscope.js).
        return

    async def start(self) -> None:
        self.caps = await database_sync_to_async(capabilities)(self.user)
        self.port_key = port_key(self.ticket.session_key if self.ticket else None)
        self.subscription = hub().subscribe(self.cluster, self.namespace)
        self.pump = self.spawn(self._pump())

    async def stop(self) -> None:
        await cancel([self.pump])
        if self.subscription is not None:
            self.subscription.close()

    async def _pump(self) -> None:
        assert self.subscription is not None
        names: set[str] | None = None  # None: render everything once, as the page may be older than the snapshot
        while True:
            try:
                await self.changed(names)
            except Exception:
                # A fragment that fails to render must not kill the socket; the next change tries again.
                log.exception("rendering a live update of %s/%s failed", self.namespace, self.name or "pods")
            names = await self.subscription.changes()
            await asyncio.sleep(COALESCE)

    async def send_fragments(self, *parts: tuple[str, dict[str, Any]]) -> None:
        """Render each (template, context) and send them in one frame."""
        html = "".join(render_to_string(template, context) for template, context in parts)
        await self.send(text_data=html)

    def status_part(self) -> tuple[str, dict[str, Any]]:
        snapshot = self.subscription.snapshot() if self.subscription else None
        return "dashboard/_cluster_status.html", {"cluster": self.cluster, "snapshot": snapshot}

    async def changed(self, names: set[str] | None) -> None:
        raise NotImplementedError


# The pod list's filter form sends these fields (htmx ws-send), plus htmx's own HEADERS.
FILTER_FIELDS = frozenset({"q", "selector", "page"})
MAX_FIELD = 4096


def filter_query(data: dict[str, Any]) -> pod_table.Query:
    """The pod list's query from a filter frame, or BadFrame."""
    fields: dict[str, str] = {}
    for key, value in data.items():
        if key == "HEADERS":
            if not isinstance(value, dict) or not all(isinstance(v, str | bool | None) for v in value.values()):
                raise BadFrame("HEADERS must be an object of plain values")
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise BadFrame(f'the field "{key[:40]}" must be text of at most {MAX_FIELD} characters')
        if key in FILTER_FIELDS:
            fields[key] = value
    return pod_table.Query.from_params(fields)


class PodListConsumer(LiveConsumer):
    """The pod table of one namespace, filtered and paged as the page asked."""

    def parse(self) -> None:
        self.query = pod_table.Query.from_params(query_params(self.scope))

    async def frame(self, text: str | None, data: bytes | None) -> None:
        # The filter form sends its fields as JSON (htmx ws-send) while the user types.
        self.query = filter_query(read_json(text))
        await self.changed(None)

    async def changed(self, names: set[str] | None) -> None:
        snapshot = self.subscription.snapshot()
        table = pod_table.table(snapshot.pods.values(), self.query, datetime.now(UTC))
        context = {"cluster": self.cluster, "namespace": self.namespace, "query": self.query, "table": table}
        context |= {"snapshot": snapshot, "caps": self.caps}
        await self.send_fragments(("dashboard/_pod_table.html", context), self.status_part())


class PodConsumer(LiveConsumer):
    """One pod's page: summary, diagram, containers, events and YAML."""

    REFRESH = 5.0  # events and metrics are not watched; they are fetched again this often
    refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.context: dict[str, Any] = {}
        await super().start()
        self.refresher = self.spawn(self._refresh())

    async def stop(self) -> None:
        await cancel([self.refresher])
        await super().stop()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH)
            try:
                await self._render(fetch=True)
            except Exception:
                log.exception("refreshing events and metrics of %s/%s failed", self.namespace, self.name)

    async def changed(self, names: set[str] | None) -> None:
        if names is None or not names or self.name in names:
            await self._render(fetch=names is None)

    async def _render(self, fetch: bool) -> None:
        snapshot = self.subscription.snapshot()
        pod = snapshot.pods.get(self.name)
        if fetch or pod is None or not self.context.get("pod"):
            self.context = await pod_context(self.cluster, self.namespace, self.name, pod, snapshot)
        else:
            self.context = await pod_context(
                self.cluster, self.namespace, self.name, pod, snapshot, self.context.get("fetched")
            )
        self.context |= {"caps": self.caps, "live": True, "port_key": self.port_key}
        if pod is None:
            parts = [("dashboard/_pod_summary.html", self.context)]
        else:
            parts = [
                ("dashboard/_pod_summary.html", self.context),
                ("dashboard/_pod_diagram.html", self.context),
                ("dashboard/_containers.html", self.context),
                ("dashboard/_pod_events.html", self.context),
                ("dashboard/_pod_yaml.html", self.context),
            ]
        await self.send_fragments(*parts, self.status_part())


# --- logs ---------------------------------------------------------------------------------------------------

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
        waiting: dict[asyncio.Task[list[Any]], LogSubscription] = {}
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


def frames(batches: list[list[Any]]) -> list[str]:
    """JSON frames for items from several containers: lines merged by time, in frames of at most 64 KiB."""
    keyed = []
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


# --- terminals ----------------------------------------------------------------------------------------------

# Keystrokes typed while the shell is still starting are kept for it, up to this much.
EARLY_INPUT = 64 * 1024
# Resize and ping are the only text messages a terminal page sends; they are small.
MAX_CONTROL_FRAME = 4096
ENDED_EARLY = "The terminal was closed before the command ended."
CONTROL_FIELDS = {"ping": {"type"}, "resize": {"type", "cols", "rows"}}


class ExecConsumer(SocketConsumer):
    """One terminal: a command in a container through an ExecSession, audited from the attempt to the end.

    The page opens the socket with the container, command and size in its query string. Binary frames carry
    keystrokes one way and output the other; text frames carry JSON: `resize` and `ping` from the page,
    `started`, `notice`, `error`, `exit` and `pong` to it.
    """

    permission = EXEC_PODS
    kind = "exec"
    forbidden = "You do not have the permission to open terminals (exec) in pods."
    record: SessionRecord | None = None
    session: ExecSession | None = None
    recorder: Recorder | None = None
    runner: asyncio.Task[None] | None = None
    request: Any = None

    def parse(self) -> None:
        try:
            self.request = parse_request(query_params(self.scope))
        except BadRequest as exc:
            raise BadFrame(str(exc)) from None

    async def refused(self, refusal: Refusal) -> None:
        await self._audit(allowed=False, outcome=refusal.message)

    async def start(self) -> None:
        self.early: list[bytes] = []
        self.record = await self._audit(allowed=True, command=self.request.command_label)
        self.runner = self.spawn(self._run())

    async def _audit(self, **fields: Any) -> SessionRecord:
        request = self.request
        if request is not None:
            fields.setdefault("container", request.container)
            fields.setdefault("command", request.command_label)
        else:
            fields.setdefault("container", query_params(self.scope).get("container", ""))
            fields.setdefault("command", query_params(self.scope).get("command", ""))
        return await database_sync_to_async(open_record)(self.scope, kind=SessionRecord.Kind.EXEC, **fields)

    async def _send_json(self, **message: Any) -> None:
        await self.send(text_data=json.dumps(message))

    async def _run(self) -> None:
        request = self.request
        try:
            self.session = await open_shell(
                self.cluster,
                self.namespace,
                self.name,
                request.container,
                request.command,
                size=(request.cols, request.rows),
                heartbeat=settings.PODSCOPE_EXEC_KEEPALIVE,
            )
        except KubeError as exc:
            message = exc.message[:1].upper() + exc.message[1:]
            # The cluster's own refusal is a denied attempt, as Podscope's is.
            refused = isinstance(exc, Forbidden)
            await self._finish(outcome=message, **({"allowed": False} if refused else {}))
            await self.end(FORBIDDEN if refused else NOT_FOUND if exc.status == 404 else BAD_REQUEST, message)
            return
        session = self.session
        if (self.request.cols, self.request.rows) != (request.cols, request.rows):
            await session.resize(self.request.cols, self.request.rows)  # resized while the shell was starting
        if settings.PODSCOPE_RECORD_SESSIONS:
            self.recorder = await database_sync_to_async(self._start_recording)()
        await database_sync_to_async(close_record)(self.record, command=session.command_line, ended=None)
        await self._send_json(
            type="started",
            command=session.command_line,
            container=request.container,
            maxInput=settings.PODSCOPE_EXEC_MAX_INPUT,
            keepalive=settings.PODSCOPE_EXEC_KEEPALIVE,
        )
        for data in self.early:
            await session.write(data)
        self.early = []
        async for chunk in session.output():
            if self.recorder:
                self.recorder.output(chunk)
            await self.send(bytes_data=chunk)
        end = session.exit or Exit(None)
        await self._finish(exit_code=end.code, outcome="" if end.code == 0 else end.message)
        await self._send_json(type="exit", code=end.code, message=end.message)
        await self.end(NORMAL)

    def _start_recording(self) -> Recorder:
        request, user = self.request, self.scope["user"]
        title = f"{user.get_username()} in {self.cluster.id}/{self.namespace}/{self.name} -c {request.container}"
        recorder = Recorder.start(
            settings.PODSCOPE_RECORDINGS_DIR,
            width=request.cols,
            height=request.rows,
            title=title,
            command=self.session.command_line if self.session else request.command_label,
        )
        close_record(self.record, recording=recorder.name, ended=None)
        return recorder

    async def frame(self, text: str | None, data: bytes | None) -> None:
        if self.record is None or self.record.ended is not None:
            return  # over: frames that crossed the end are ignored
        if data is not None:
            await self._input(data)
            return
        message = read_json(text, limit=MAX_CONTROL_FRAME)
        kind = message.get("type")
        if not isinstance(kind, str) or kind not in CONTROL_FIELDS or set(message) - CONTROL_FIELDS[kind]:
            raise BadFrame('a terminal takes keystrokes, and {"type": "resize", "cols", "rows"} or {"type": "ping"}')
        if kind == "ping":
            await self._send_json(type="pong")
        elif kind == "resize":
            cols, rows = message.get("cols"), message.get("rows")
            if not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_CELLS for n in (cols, rows)):
                raise BadFrame(f"a resize needs cols and rows, whole numbers from 1 to {MAX_CELLS}")
            if self.session:
                await self.session.resize(cols, rows)
            else:
                self.request = replace(self.request, cols=cols, rows=rows)
            if self.recorder:
                self.recorder.resize(cols, rows)

    async def _input(self, data: bytes) -> None:
        limit = settings.PODSCOPE_EXEC_MAX_INPUT
        if len(data) > limit:
            await self._send_json(
                type="notice",
                message=f"Input of {len(data):,} bytes was refused: at most {limit:,} bytes may be sent at once.",
            )
            return
        if self.session is not None:
            await self.session.write(data)
        elif sum(map(len, self.early)) + len(data) <= EARLY_INPUT:
            self.early.append(data)
        else:
            await self._send_json(
                type="notice",
                message=f"Input of {len(data):,} bytes was refused: the command has not started yet, and at most "
                f"{EARLY_INPUT:,} bytes are kept until it does.",
            )

    async def _finish(self, **fields: Any) -> None:
        """End the audit row once, with the bytes each way and how it ended."""
        record = self.record
        if record is None or record.ended is not None:
            return
        if self.recorder:
            self.recorder.close()
        if self.session:
            fields |= {"bytes_in": self.session.bytes_in, "bytes_out": self.session.bytes_out}
        fields["ended"] = timezone.now()
        await database_sync_to_async(close_record)(record, **fields)

    async def stop(self) -> None:
        await cancel([self.runner])
        try:
            if self.session is not None:
                await self.session.close()
        finally:
            # Whatever ended the socket (the page, a revocation, a shutdown, a failure) ends the audit row too.
            await self._finish(outcome=self.reason or ENDED_EARLY)
