"""Websocket consumers: keep an open pod list or pod page current by sending re-rendered fragments.

Each consumer authenticates, subscribes to the WatchHub and sends the same fragments the page rendered,
with their element ids, which htmx's ws extension swaps in place. Close codes the page explains:
4401 signed out, 4403 missing permission, 4404 no such cluster or bad name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import pods
from dashboard.asciicast import Recorder
from dashboard.context import pod_context
from dashboard.kube import clusters, logs, watches
from dashboard.kube.exec import ExecSession, Exit, open_shell
from dashboard.kube.logs import Line, LogOptions, LogSubscription, Notice, Skipped
from dashboard.kube.resources import Forbidden, KubeError
from dashboard.kube.watches import Subscription, hub
from dashboard.models import SessionRecord
from dashboard.names import InvalidName, check_container, check_name, check_namespace, parse_since
from dashboard.permissions import EXEC_PODS, READ_LOGS, VIEW_PODS, capabilities
from dashboard.terminals import MAX_CELLS, BadRequest, close_record, open_record, parse_request, seats

log = logging.getLogger(__name__)

SIGNED_OUT, FORBIDDEN, NOT_FOUND = 4401, 4403, 4404
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")
# How often a quiet socket checks that its session still exists (a user who logs out loses the socket).
SESSION_CHECK = 30.0
# Several watch events usually arrive together (a restart changes status several times); one render covers them.
COALESCE = 0.05


async def admit(consumer: AsyncWebsocketConsumer, permission: str) -> Any:
    """Accept the socket, then keep it only for a signed-in user with `permission` and a valid address.

    On success the consumer has `cluster`, `namespace` and `name` ("" for a namespace) and the user is returned;
    otherwise the socket is closed with the code the page explains and None is returned.
    """
    await consumer.accept()
    user = consumer.scope.get("user")
    if user is None or not user.is_authenticated:
        await consumer.close(SIGNED_OUT)
        return None
    if not await database_sync_to_async(user.has_perm)(permission):
        await consumer.close(FORBIDDEN)
        return None
    kwargs = consumer.scope["url_route"]["kwargs"]
    try:
        consumer.cluster = clusters.get(kwargs["cluster"])
        consumer.namespace = check_namespace(kwargs["namespace"])
        consumer.name = check_name(kwargs["name"]) if "name" in kwargs else ""
    except (clusters.ClusterError, InvalidName):
        await consumer.close(NOT_FOUND)
        return None
    return user


@database_sync_to_async
def session_alive(scope: dict[str, Any], user_pk: Any) -> bool:
    """Whether the session a socket was opened with still belongs to the same user (no logout or expiry since)."""
    key = scope["session"].session_key
    if not key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
    return str(store.get(SESSION_KEY)) == str(user_pk)


class LiveConsumer(AsyncWebsocketConsumer):
    """Authenticate, subscribe to one namespace, and re-render on every change until the socket closes."""

    permission = VIEW_PODS

    async def connect(self) -> None:
        user = await admit(self, self.permission)
        if user is None:
            return
        self.caps = await database_sync_to_async(capabilities)(user)
        self.user_pk = user.pk
        self.subscription: Subscription | None = hub().subscribe(self.cluster, self.namespace)
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code: int) -> None:
        if task := getattr(self, "pump", None):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sub := getattr(self, "subscription", None):
            sub.close()

    async def _pump(self) -> None:
        assert self.subscription is not None
        names: set[str] | None = None  # None: render everything once, as the page may be older than the snapshot
        checked = time.monotonic()
        while True:
            try:
                await self.changed(names)
            except Exception:
                # A fragment that fails to render must not kill the socket; the next change tries again.
                log.exception("rendering a live update of %s/%s failed", self.namespace, self.name or "pods")
            try:
                names = await asyncio.wait_for(self.subscription.changes(), SESSION_CHECK)
                await asyncio.sleep(COALESCE)
            except TimeoutError:
                names = set()
            if time.monotonic() - checked >= SESSION_CHECK:
                checked = time.monotonic()
                if not await session_alive(self.scope, self.user_pk):
                    await self.close(SIGNED_OUT)
                    return

    async def send_fragments(self, *parts: tuple[str, dict[str, Any]]) -> None:
        """Render each (template, context) and send them in one frame."""
        html = "".join(render_to_string(template, context) for template, context in parts)
        await self.send(text_data=html)

    def status_part(self) -> tuple[str, dict[str, Any]]:
        snapshot = self.subscription.snapshot() if self.subscription else None
        return "dashboard/_cluster_status.html", {"cluster": self.cluster, "snapshot": snapshot}

    async def changed(self, names: set[str] | None) -> None:
        raise NotImplementedError


class PodListConsumer(LiveConsumer):
    """The pod table of one namespace, filtered and paged as the page asked."""

    async def connect(self) -> None:
        self.query = pods.Query.from_params(_query_params(self.scope))
        await super().connect()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The filter form sends its fields as JSON (htmx ws-send) while the user types.
        if getattr(self, "subscription", None) is None:
            return  # refused at connect; a frame sent before the close arrived is ignored
        try:
            fields = json.loads(text_data or "{}")
        except ValueError:
            return
        if isinstance(fields, dict):
            self.query = pods.Query.from_params({k: str(v) for k, v in fields.items() if isinstance(v, str | int)})
            await self.changed(None)

    async def changed(self, names: set[str] | None) -> None:
        snapshot = self.subscription.snapshot()
        table = pods.table(snapshot.pods.values(), self.query, datetime.now(UTC))
        context = {"cluster": self.cluster, "namespace": self.namespace, "query": self.query, "table": table}
        context |= {"snapshot": snapshot, "caps": self.caps}
        await self.send_fragments(("dashboard/_pod_table.html", context), self.status_part())


class PodConsumer(LiveConsumer):
    """One pod's page: summary, diagram, containers, events and YAML."""

    REFRESH = 5.0  # events and metrics are not watched; they are fetched again this often

    async def connect(self) -> None:
        self.last_fetch = 0.0
        self.context: dict[str, Any] = {}
        await super().connect()
        if getattr(self, "subscription", None) is not None:
            self.refresher = asyncio.create_task(self._refresh())

    async def disconnect(self, code: int) -> None:
        if task := getattr(self, "refresher", None):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().disconnect(code)

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
        self.context |= {"caps": self.caps, "live": True}
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


def _query_params(scope: dict[str, Any]) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


# --- logs ---------------------------------------------------------------------------------------------------

BAD_REQUEST = 4400
FRAME_INTERVAL = 0.05  # at most one frame of lines per 50 ms
FRAME_BYTES = 64 * 1024
MAX_TAIL = 100_000


class StartError(ValueError):
    """A `start` frame the log view cannot follow, with a sentence for the user."""


@dataclass(frozen=True)
class LogStart:
    container: str  # "" for every container, merged
    options: LogOptions
    resume: dict[str, tuple[str, int]]


def parse_start(frame: str) -> LogStart:
    """Read and check a `start` frame from the log view."""
    try:
        data = json.loads(frame)
    except ValueError:
        raise StartError("the log view sent something that is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "start":
        raise StartError('the log view must start with {"type": "start", ...}')
    container = data.get("container") or ""
    try:
        if container:
            check_container(str(container))
        since_seconds = parse_since(str(data.get("since") or ""))
    except InvalidName as exc:
        raise StartError(str(exc)) from None
    tail = data.get("tail", 100)
    if tail is not None and (not isinstance(tail, int) or isinstance(tail, bool) or not 0 <= tail <= MAX_TAIL):
        raise StartError(f"tail must be a number of lines from 0 to {MAX_TAIL}, or all")
    resume: dict[str, tuple[str, int]] = {}
    for name, point in (data.get("resume") or {}).items():
        if (
            isinstance(point, list)
            and len(point) == 2
            and isinstance(point[0], str)
            and TIMESTAMP.fullmatch(point[0])
            and isinstance(point[1], int)
        ):
            resume[str(name)] = (point[0], point[1])
    options = LogOptions(tail=tail, since_seconds=since_seconds, previous=bool(data.get("previous")))
    return LogStart(container, options, resume)


def normal_ts(ts: str) -> str:
    """A kubelet timestamp with nine fraction digits, so that timestamps compare correctly as strings."""
    if not ts.endswith("Z"):
        return ts
    whole, _, fraction = ts[:-1].partition(".")
    return f"{whole}.{fraction[:9]:0<9}Z"


class LogConsumer(AsyncWebsocketConsumer):
    """One log view: a container's log or every container's merged, followed through LogHub."""

    async def connect(self) -> None:
        if await admit(self, READ_LOGS) is None:
            return
        self.subscriptions: list[LogSubscription] = []
        self.pump: asyncio.Task[None] | None = None

    async def disconnect(self, code: int) -> None:
        await self._stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not hasattr(self, "subscriptions"):
            return  # refused at connect; a frame sent before the close arrived is ignored
        try:
            start = parse_start(text_data or "")
        except StartError as exc:
            await self.send(text_data=json.dumps({"type": "error", "message": str(exc)}))
            await self.close(BAD_REQUEST)
            return
        await self._stop()
        snapshot = await watches.hub().snapshot(self.cluster, self.namespace)
        pod = snapshot.pods.get(self.name)
        everyone = [{"name": c.name, "kind": c.kind} for c in pods.containers_of(pod)] if pod else []
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
        self.pump = asyncio.create_task(self._pump())

    async def _stop(self) -> None:
        if getattr(self, "pump", None) is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
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
                for frame in frames(batches):
                    await self.send(text_data=frame)
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

TOO_MANY = 4429
# Keystrokes typed while the shell is still starting are kept for it, up to this much.
EARLY_INPUT = 64 * 1024


class ExecConsumer(AsyncWebsocketConsumer):
    """One terminal: a command in a container through an ExecSession, audited from the attempt to the end.

    The page opens the socket with the container, command and size in its query string. Binary frames carry
    keystrokes one way and output the other; text frames carry JSON: `resize` and `ping` from the page,
    `started`, `notice`, `error`, `exit` and `pong` to it.
    """

    record: SessionRecord | None = None
    session: ExecSession | None = None
    recorder: Recorder | None = None
    seat: int | None = None

    async def connect(self) -> None:
        self.early: list[bytes] = []
        self.tasks: list[asyncio.Task[None]] = []
        await self.accept()
        refusal = await self._admit()
        if refusal is not None:
            code, message = refusal
            await self._audit(allowed=False, outcome=message)
            await self.send(text_data=json.dumps({"type": "error", "message": message}))
            await self.close(code)
            return
        self.record = await self._audit(allowed=True, command=self.request.command_label)
        self.tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._watch_session())]

    async def _admit(self) -> tuple[int, str] | None:
        """None when the terminal may open; otherwise the close code and the sentence saying why not."""
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        if user is None or not user.is_authenticated:
            return SIGNED_OUT, "You are signed out; sign in again to open a terminal."
        if not await database_sync_to_async(user.has_perm)(EXEC_PODS):
            return FORBIDDEN, "You do not have the permission to open terminals (exec) in pods."
        try:
            self.cluster = clusters.get(kwargs["cluster"])
            self.namespace = check_namespace(kwargs["namespace"])
            self.name = check_name(kwargs["name"])
            self.request = parse_request(_query_params(self.scope))
        except clusters.ClusterError as exc:
            return NOT_FOUND, str(exc)
        except InvalidName as exc:
            return NOT_FOUND, str(exc)
        except BadRequest as exc:
            return BAD_REQUEST, str(exc)
        limit = settings.PODSCOPE_EXEC_MAX_SESSIONS
        if not seats.take(user.pk, limit):
            return TOO_MANY, f"You already have {limit} terminals open, the most allowed; close one to open another."
        self.seat = user.pk
        return None

    async def _audit(self, **fields: Any) -> SessionRecord:
        request = getattr(self, "request", None)
        if request is not None:
            fields.setdefault("container", request.container)
            fields.setdefault("command", request.command_label)
        else:
            fields.setdefault("container", _query_params(self.scope).get("container", ""))
            fields.setdefault("command", _query_params(self.scope).get("command", ""))
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
            await self._send_json(type="error", message=message)
            await self.close(FORBIDDEN if refused else NOT_FOUND if exc.status == 404 else BAD_REQUEST)
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
        await self.close(1000)

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

    async def _watch_session(self) -> None:
        # A user who signs out elsewhere loses their terminals too.
        user_pk = self.scope["user"].pk
        while True:
            await asyncio.sleep(SESSION_CHECK)
            if not await session_alive(self.scope, user_pk):
                await self._send_json(type="error", message="You were signed out, so this terminal was closed.")
                await self.close(SIGNED_OUT)
                return

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.record is None or self.record.ended is not None:
            return  # refused, or over: frames that crossed the close are ignored
        if bytes_data is not None:
            await self._input(bytes_data)
            return
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        if message.get("type") == "ping":
            await self._send_json(type="pong")
        elif message.get("type") == "resize":
            cols, rows = message.get("cols"), message.get("rows")
            if not all(isinstance(n, int) and 1 <= n <= MAX_CELLS for n in (cols, rows)):
                return
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

    async def disconnect(self, code: int) -> None:
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.session is not None:
            await self.session.close()
        await self._finish(outcome="The terminal was closed before the command ended.")
        if self.seat is not None:
            seats.give_back(self.seat)
            self.seat = None
