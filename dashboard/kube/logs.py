"""LogHub: one upstream log follow per (cluster, namespace, pod, container, options), shared by every viewer.

The hub reads `follow=true&timestamps=true` from the API server, splits the body into lines and hands each
viewer a bounded queue. A viewer that falls behind loses lines, but never silently: it gets a `Skipped`
marker with their number where they were dropped. The stream follows the container through its life,
learning about status changes from the namespace's WatchHub subscription (it never polls): it waits for a
container to start, says when an instance ends and follows the next one, reconnects after errors without
gaps or duplicates, and ends when the pod is deleted. Lines never pass through Django's channel layer.

Notices, by kind:
- waiting: the container has not started (the API's message); once per reason, until it starts.
- started: a container announced as waiting started; its lines follow.
- terminated: the followed instance ended ("main exited with code 3 (Error)"), from the pod's status.
- restarted: a new instance started ("main restarted (restart 1)"); its whole log follows.
- ended: the previous instance's log was read to its end (previous=True); the stream is over.
- deleted: the pod is gone; the stream is over.
- not-found: no such pod, container or previous instance; the stream is over.
- error: the cluster failed or is unreachable (once per distinct error); the stream retries with back-off.
"""

from __future__ import annotations

import asyncio
import calendar
import codecs
import contextlib
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes.aio import client as aio_client

from dashboard.kube import health, resources, watches
from dashboard.kube.clusters import Cluster
from dashboard.kube.resources import Invalid, KubeError, NotFound
from dashboard.loops import PerLoop, TaskOwner

log = logging.getLogger(__name__)

# A follow may be silent for hours; the client only takes a total timeout, so make it long. Opening the stream
# has its own short limit, so an unreachable cluster still answers quickly.
FOLLOW_TIMEOUT = 24 * 3600.0
OPEN_TIMEOUT = resources.REQUEST_TIMEOUT
MAX_LINE = 64 * 1024
ELLIPSIS = "…"
# Room for the timestamp in front of a line's text, so a cut line keeps all of its MAX_LINE bytes of text.
_RAW_LIMIT = MAX_LINE + 64
# The ring of recent lines holds `backlog` lines, and never more text than this.
RING_BYTES = 32 * 1024 * 1024
LINGER = 5.0
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
# How long a finished follow waits for the pod's status to say why, before taking it for a dropped connection.
END_GRACE = 10.0
FIRST_SYNC = 10.0
# While waiting for a container to start, try again at least this often even if no pod change arrives.
WAIT_RETRY = 60.0

_TIMESTAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)")

T = TypeVar("T")


@dataclass(frozen=True)
class LogOptions:
    """What a viewer asks of a container's log; viewers asking the same share one upstream stream."""

    tail: int | None = 100  # tailLines; None = the whole log
    since_seconds: int | None = None
    since_time: str | None = None  # RFC 3339 with whole seconds, as the API takes it
    previous: bool = False  # the previous (terminated) instance; such a stream ends by itself


@dataclass(frozen=True)
class Line:
    """One log line; `ts` is exactly as the API server sent it (RFC 3339 with nanoseconds)."""

    container: str
    ts: str
    text: str


@dataclass(frozen=True)
class Skipped:
    """Lines this viewer lost because it fell behind."""

    container: str
    count: int


@dataclass(frozen=True)
class Notice:
    """Something about the stream rather than a line; the module's docstring lists the kinds."""

    container: str
    kind: str
    message: str


Item = Line | Skipped | Notice
StreamKey = tuple[Cluster, str, str, str, LogOptions]


def parse_timestamp(ts: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp, or None if it is not one."""
    match = _TIMESTAMP.fullmatch(ts)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if zone != "Z":
        offset = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        seconds -= offset if zone[0] == "+" else -offset
    return seconds * 1_000_000_000 + int((fraction or "0").ljust(9, "0"))


def since_time_of(ts: str) -> str | None:
    """The `sinceTime` that includes the line stamped `ts`: its second, in UTC (the API takes whole seconds)."""
    nanos = parse_timestamp(ts)
    if nanos is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(nanos // 1_000_000_000))


def _text(data: bytes, cut: bool) -> str:
    if not cut and len(data) <= MAX_LINE:
        return data.decode("utf-8", "replace")
    # Not final: a character split by the cut is left out rather than shown as a replacement character.
    return codecs.getincrementaldecoder("utf-8")("replace").decode(data[:MAX_LINE]) + ELLIPSIS


class LineSplitter:
    """Turns a log body, in chunks as they arrive, into (timestamp, text) pairs."""

    def __init__(self) -> None:
        self._pending = b""
        self._cutting = False  # inside a line longer than the limit: its rest is dropped up to its newline

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """The lines completed by `chunk`; a partial last line waits for its newline."""
        out: list[tuple[str, str]] = []
        if self._cutting:
            end = chunk.find(b"\n")
            if end < 0:
                return out
            out.append(self._line(self._pending, cut=True))
            self._pending, self._cutting, chunk = b"", False, chunk[end + 1 :]
        *lines, rest = (self._pending + chunk).split(b"\n")
        out.extend(self._line(raw) for raw in lines)
        if len(rest) > _RAW_LIMIT:
            rest, self._cutting = rest[:_RAW_LIMIT], True
        self._pending = rest
        return out

    def end(self) -> list[tuple[str, str]]:
        """The last line if the body ended without a newline."""
        if not self._pending and not self._cutting:
            return []
        line = self._line(self._pending, cut=self._cutting)
        self._pending, self._cutting = b"", False
        return [line]

    @staticmethod
    def _line(raw: bytes, cut: bool = False) -> tuple[str, str]:
        stamp, space, text = raw.partition(b" ")
        if not space:
            return "", _text(raw, cut)
        return stamp.decode("ascii", "replace"), _text(text, cut)


class LogSubscription:
    """One viewer's queue of lines and notices from one stream."""

    def __init__(self, stream: LogStream, queue_size: int) -> None:
        self._stream = stream
        self._size = queue_size
        self._items: deque[Item] = deque()
        self._dropped = 0
        self._event = asyncio.Event()
        self._ended = False
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the stream ended for good and everything queued was taken, or the viewer closed it."""
        return self._closed or (self._ended and not self._items and not self._dropped)

    def _line(self, line: Line) -> None:
        if len(self._items) >= self._size:
            self._dropped += 1
            return
        self._mark_skipped()
        self._items.append(line)
        self._event.set()

    def _mark_skipped(self) -> None:
        if self._dropped:
            self._items.append(Skipped(self._stream.container, self._dropped))
            self._dropped = 0

    def _notice(self, notice: Notice) -> None:
        # Notices are rare and must not be lost: they may go past the bound.
        self._mark_skipped()
        self._items.append(notice)
        self._event.set()

    def _end(self) -> None:
        self._ended = True
        self._event.set()

    async def get(self, max_items: int = 5000) -> list[Item]:
        """Wait for at least one item; what is queued, in order, up to `max_items` ([] once closed)."""
        while not self._items and not self._dropped:
            if self._closed or self._ended:
                return []
            self._event.clear()
            await self._event.wait()
        batch: list[Item] = []
        while self._items and len(batch) < max_items:
            batch.append(self._items.popleft())
        if not self._items and self._dropped and len(batch) < max_items:
            # The dropped lines came after everything queued, so the marker goes at the end.
            batch.append(Skipped(self._stream.container, self._dropped))
            self._dropped = 0
        return batch

    def close(self) -> None:
        """Stop receiving; the stream stops a little after its last viewer leaves."""
        if not self._closed:
            self._closed = True
            self._event.set()
            self._stream.unsubscribe(self)


class _Ended(Exception):
    """The stream is over for good; `notice` says why."""

    def __init__(self, notice: Notice) -> None:
        super().__init__(notice.message)
        self.notice = notice


class _Resume(Exception):
    """The follow ended while the container still runs: the connection was cut, read on."""


@dataclass(frozen=True)
class _Instance:
    """One run of a container, as its status names it."""

    container_id: str
    restarts: int


class LogStream(TaskOwner):
    """The upstream follow of one container's log, kept running while anyone subscribes."""

    def __init__(
        self,
        hub: LogHub,
        key: StreamKey,
        after: tuple[str, int] | None = None,
    ) -> None:
        self.hub = hub
        self.key = key
        self.cluster, self.namespace, self.pod, self.container, self.options = key
        self.private = after is not None
        self.ring: deque[Line] = deque()
        self._ring_bytes = 0
        self.produced = 0  # lines read from upstream, all told
        self.subscribers: set[LogSubscription] = set()
        self.requests = 0  # log requests made upstream, for tests and debugging
        self.finished = False
        # The notice describing the state the stream is in (waiting, between instances, failing), for late joiners.
        self._state: Notice | None = None
        self._last_waiting = ""
        self._last_error = ""
        self._instance: _Instance | None = None  # the instance the current request reads, when the status said
        self._idle: asyncio.TimerHandle | None = None
        self._uid = ""
        # The last line passed on: its timestamp and how many lines carried exactly that timestamp.
        self._last_ts: str | None = None
        self._last_nanos: int | None = None
        self._last_count = 0
        # While set, lines are dropped until one comes after (nanos, count): a resumed request repeats some.
        self._resume_from: tuple[int, int] | None = None
        self._params = self._first_params()
        if after is not None:
            ts, count = after
            self._last_ts, self._last_nanos, self._last_count = ts, parse_timestamp(ts), count
            self._params = self._resume_params()

    def _first_params(self) -> dict[str, Any]:
        return {
            "tail_lines": self.options.tail,
            "since_seconds": self.options.since_seconds,
            "since_time": self.options.since_time,
        }

    def _resume_params(self) -> dict[str, Any]:
        if self._last_ts is None or self._last_nanos is None:
            return self._params
        self._resume_from = (self._last_nanos, self._last_count)
        return {"since_time": since_time_of(self._last_ts)}

    # -- viewers -------------------------------------------------------------------------------------------------

    def subscribe(self) -> LogSubscription:
        sub = LogSubscription(self, self.hub.queue_size)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._replay(sub)
        self.subscribers.add(sub)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"log {self.pod}/{self.container}")
        return sub

    def _replay(self, sub: LogSubscription) -> None:
        """Give a viewer joining a running stream the end of what was read, counting what the ring lost."""
        wanted = self.produced if self.options.tail is None else min(self.options.tail, self.produced)
        lines = list(self.ring)[-wanted:] if wanted else []
        keep = lines[-self.hub.queue_size :] if self.hub.queue_size else []
        missing = wanted - len(keep)
        if missing:
            sub._items.append(Skipped(self.container, missing))
        sub._items.extend(keep)
        if self._state is not None:
            sub._items.append(self._state)
        if sub._items:
            sub._event.set()

    def unsubscribe(self, sub: LogSubscription) -> None:
        self.subscribers.discard(sub)
        if self.subscribers or self.finished:
            return
        if self.private:
            # Nobody else can join a resumed stream.
            self.hub._retire(self)
        elif self._idle is None:
            self._idle = asyncio.get_running_loop().call_later(self.hub.linger, self._stop_if_idle)

    def _stop_if_idle(self) -> None:
        self._idle = None
        if not self.subscribers:
            self.hub._retire(self)

    def stop(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        super().stop()

    def _notice(self, kind: str, message: str, *, state: bool = False) -> None:
        notice = Notice(self.container, kind, message)
        self._state = notice if state else None
        for sub in self.subscribers:
            sub._notice(notice)

    def _finish(self, notice: Notice | None) -> None:
        self.finished = True
        self._state = None
        for sub in self.subscribers:
            if notice is not None:
                sub._notice(notice)
            sub._end()
        self.hub._forget(self)

    # -- lines ---------------------------------------------------------------------------------------------------

    def _emit(self, ts: str, text: str) -> None:
        nanos = parse_timestamp(ts)
        if self._resume_from is not None:
            last, count = self._resume_from
            if nanos is not None and nanos < last:
                return
            if nanos == last and count > 0:
                self._resume_from = (last, count - 1)
                return
            self._resume_from = None
        if nanos is not None and nanos == self._last_nanos:
            self._last_count += 1
        else:
            self._last_nanos, self._last_count = nanos, 1
        self._last_ts = ts
        line = Line(self.container, ts, text)
        self.ring.append(line)
        self._ring_bytes += len(text)
        while self.ring and (len(self.ring) > self.hub.backlog or self._ring_bytes > RING_BYTES):
            self._ring_bytes -= len(self.ring.popleft().text)
        self.produced += 1
        for sub in self.subscribers:
            sub._line(line)

    # -- the upstream --------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        pod_watch = self.hub.watch_hub().subscribe(self.cluster, self.namespace)
        delay = BACKOFF_FIRST
        ending: Notice | None = None
        try:
            await self._first_sync(pod_watch)
            while True:
                try:
                    if await self._follow_once(pod_watch):
                        delay = BACKOFF_FIRST
                        await self._after_end(pod_watch)
                except _Ended:
                    raise
                except _Resume:
                    self._params = self._resume_params()
                # Whatever went wrong becomes a notice and a retry, never a silent stream.
                except Exception as exc:
                    if not isinstance(exc, KubeError):
                        log.exception("log stream of %s/%s/%s failed", self.namespace, self.pod, self.container)
                    self._fail(exc if isinstance(exc, KubeError) else KubeError(f"the log stream failed: {exc}"))
                    if resources.not_answering(self.cluster) is not None:
                        # A frozen or unreachable API server: follow again as soon as its health check is answered.
                        await health.monitor().of(self.cluster).answering()
                        delay = BACKOFF_FIRST
                    await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                    delay = min(delay * 2, BACKOFF_MAX)
        except _Ended as end:
            ending = end.notice
        finally:
            pod_watch.close()
            if not self.finished and ending is not None:
                self._finish(ending)

    def _fail(self, exc: KubeError) -> None:
        log.info("log stream of %s/%s/%s: %s", self.namespace, self.pod, self.container, exc.message)
        # Said once per failure, not once per retry; lines flowing again mean it is over.
        if exc.message != self._last_error:
            self._last_error = exc.message
            self._notice("error", exc.message, state=True)
        self._params = self._resume_params()

    async def _first_sync(self, pod_watch: watches.Subscription) -> None:
        """Wait for the namespace's first list (or its failure), so the pod's status is known."""
        deadline = time.monotonic() + FIRST_SYNC
        while True:
            snapshot = pod_watch.snapshot()
            left = deadline - time.monotonic()
            if snapshot.synced or snapshot.error or left <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pod_watch.changes(), left)

    async def _follow_once(self, pod_watch: watches.Subscription) -> bool:
        """One log request read to its end: True if the log was read, False if refused for now (and waited)."""
        pod = self._check_pod(pod_watch)
        status = _container_status(pod, self.container) if pod is not None else None
        followed = _served_instance(status, self.options.previous)
        waiting = ""
        async with resources.connection(self.cluster) as api:
            response = await self._open(api)
            try:
                if response.status != 200:
                    waiting = await self._refused(api, response)
                else:
                    self._started()
                    self._instance = followed
                    await self._read(response)
            except TimeoutError:
                # The client's total timeout ended a long follow, not a failure: read on from where it was.
                raise _Resume from None
            finally:
                response.close()
        if waiting:
            # Outside the connection: no client is held open while the container takes its time.
            await self._wait_to_start(waiting, pod_watch)
            return False
        return True

    async def _open(self, api: aio_client.ApiClient) -> aiohttp.ClientResponse:
        core = aio_client.CoreV1Api(api)
        params = self._params
        self.requests += 1
        if params.get("since_time") is None:
            request = core.read_namespaced_pod_log_without_preload_content(
                self.pod,
                self.namespace,
                container=self.container or None,
                follow=True,
                timestamps=True,
                previous=self.options.previous or None,
                tail_lines=params.get("tail_lines"),
                since_seconds=params.get("since_seconds"),
                _request_timeout=FOLLOW_TIMEOUT,
            )
        else:
            request = self._open_since(api, params["since_time"])
        # Only the answer's headers are bounded here; the body may take as long as the container runs.
        return await asyncio.wait_for(request, OPEN_TIMEOUT)

    async def _open_since(self, api: aio_client.ApiClient, since_time: str) -> aiohttp.ClientResponse:
        # The generated client has no sinceTime parameter (PodLogOptions does), so make the same request by hand.
        query: list[tuple[str, Any]] = [("follow", True), ("timestamps", True), ("sinceTime", since_time)]
        if self.container:
            query.append(("container", self.container))
        if self.options.previous:
            query.append(("previous", True))
        if self._params.get("tail_lines") is not None:
            query.append(("tailLines", self._params["tail_lines"]))
        serialized = await api.param_serialize(
            method="GET",
            resource_path="/api/v1/namespaces/{namespace}/pods/{name}/log",
            path_params={"namespace": self.namespace, "name": self.pod},
            query_params=query,
            header_params={"Accept": "text/plain"},
            auth_settings=["BearerToken"],
        )
        answer = await api.call_api(*serialized, _request_timeout=FOLLOW_TIMEOUT, _preload_content=False)
        # Without preloading, the client hands back aiohttp's response unread.
        response: aiohttp.ClientResponse = answer.response
        return response

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        splitter = LineSplitter()
        try:
            async for chunk in response.content.iter_any():
                for ts, text in splitter.feed(chunk):
                    self._emit(ts, text)
        except BaseException:
            # Stopped mid-stream: drop the connection at once rather than wait on a graceful TLS shutdown
            # with a server still streaming, which would outlive the event loop in tests.
            if response.connection is not None and response.connection.transport is not None:
                response.connection.transport.abort()
            raise
        for ts, text in splitter.end():
            self._emit(ts, text)

    def _started(self) -> None:
        if self._state is not None and self._state.kind == "waiting":
            self._notice("started", f"{self.container} started")
        self._state = None
        self._last_waiting = self._last_error = ""

    async def _refused(self, api: aio_client.ApiClient, response: aiohttp.ClientResponse) -> str:
        """Why a log request was refused: a reason to wait for the pod (returned), or to end (_Ended)."""
        if response.status == 204:
            # The pod has no node yet, so the API has nowhere to read from.
            response.release()
            return f'pod "{self.pod}" is not on a node yet'
        try:
            await resources.read_json(response)
        except NotFound as exc:
            raise _Ended(Notice(self.container, "not-found", exc.message)) from exc
        except Invalid as exc:
            message = exc.message
            if "is waiting to start" in message or "does not have a host assigned" in message:
                return message
            if "is not valid for pod" in message:
                raise _Ended(Notice(self.container, "not-found", await self._no_such_container(api))) from exc
            if message.startswith("previous terminated container"):
                raise _Ended(Notice(self.container, "not-found", message)) from exc
            # Anything else about the options will not get better by asking again.
            raise _Ended(Notice(self.container, "error", message)) from exc
        raise KubeError(f"the API server answered {response.status} without a log")

    async def _no_such_container(self, api: aio_client.ApiClient) -> str:
        try:
            pod = await resources.read_json(
                await aio_client.CoreV1Api(api).read_namespaced_pod_without_preload_content(
                    self.pod, self.namespace, _request_timeout=resources.REQUEST_TIMEOUT
                )
            )
        except KubeError:
            pod = {}
        names = ", ".join(_container_names(pod)) or "none"
        return f'pod "{self.pod}" has no container "{self.container}"; it has: {names}'

    async def _wait_to_start(self, message: str, pod_watch: watches.Subscription) -> None:
        if message != self._last_waiting:
            self._last_waiting = message
            self._notice("waiting", message, state=True)
        await self._pod_change(pod_watch, WAIT_RETRY)

    async def _pod_change(self, pod_watch: watches.Subscription, timeout: float) -> None:
        """Wait until the pod changes (or `timeout`); _Ended if it is gone."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                names = await asyncio.wait_for(pod_watch.changes(), left)
            except TimeoutError:
                return
            self._check_pod(pod_watch)
            if self.pod in names:
                return

    def _check_pod(self, pod_watch: watches.Subscription) -> dict[str, Any] | None:
        """The pod as last seen; _Ended once the watch says it is gone (or replaced by another of its name)."""
        snapshot = pod_watch.snapshot()
        pod = snapshot.pods.get(self.pod)
        uid = ((pod or {}).get("metadata") or {}).get("uid", "")
        if pod is not None and not self._uid:
            self._uid = uid
        # Only a pod seen before can be gone: a new one may simply not have reached the watch yet.
        if self._uid and snapshot.synced and not snapshot.stale and (pod is None or uid != self._uid):
            raise _Ended(Notice(self.container, "deleted", f'pod "{self.pod}" was deleted'))
        return pod

    async def _until(
        self, pod_watch: watches.Subscription, check: Callable[[dict[str, Any]], T | None], timeout: float | None
    ) -> T:
        """Wait for `check(container status)` to return something; _Resume after `timeout`, _Ended if gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            pod = self._check_pod(pod_watch)
            status = _container_status(pod, self.container) if pod is not None else None
            if status is not None:
                found = check(status)
                if found is not None:
                    return found
            if deadline is None:
                await pod_watch.changes()
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Resume
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pod_watch.changes(), left)

    async def _after_end(self, pod_watch: watches.Subscription) -> None:
        """The follow ended: say why, and wait for the container's next instance."""
        if self.options.previous:
            message = f"the log of the previous instance of {self.container} ends here"
            raise _Ended(Notice(self.container, "ended", message))
        followed = self._instance
        ended = await self._until(pod_watch, lambda status: _ended(status, followed), END_GRACE)
        self._notice("terminated", self._exit_message(ended), state=True)
        restarts = await self._until(pod_watch, lambda status: _next_instance(status, ended), None)
        self._notice("restarted", f"{self.container} restarted (restart {restarts})")
        self._state = None
        # The new instance from its first line: no tail, no since, nothing to skip.
        self._params, self._resume_from = {}, None

    def _exit_message(self, ended: dict[str, Any]) -> str:
        if "exitCode" not in ended:
            return f"{self.container} stopped"
        reason = f" ({ended['reason']})" if ended.get("reason") else ""
        return f"{self.container} exited with code {ended['exitCode']}{reason}"


def _container_names(pod: dict[str, Any]) -> list[str]:
    spec = pod.get("spec") or {}
    return [
        c.get("name", "")
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
    ]


def _container_status(pod: dict[str, Any], container: str) -> dict[str, Any] | None:
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        statuses: list[dict[str, Any]] = status.get(key) or []
        for entry in statuses:
            if entry.get("name") == container:
                return entry
    return None


def _served_instance(status: dict[str, Any] | None, previous: bool) -> _Instance | None:
    """The instance a log request reads, chosen as the kubelet chooses it (validateContainerLogStatus)."""
    if status is None or previous:
        return None
    state, last = status.get("state") or {}, (status.get("lastState") or {}).get("terminated")
    restarts = status.get("restartCount") or 0
    if "running" in state:
        return _Instance(status.get("containerID", ""), restarts)
    terminated = state.get("terminated")
    if terminated and terminated.get("containerID"):
        return _Instance(terminated["containerID"], restarts)
    if last and last.get("containerID"):
        return _Instance(last["containerID"], restarts)
    return None


def _ended(status: dict[str, Any], followed: _Instance | None) -> dict[str, Any] | None:
    """The followed instance's terminated state (with its restartCount), or None while it still runs.

    Without a terminated state that names it, only its containerID and restartCount are known.
    """
    state = status.get("state") or {}
    current = status.get("containerID", "")
    if "running" in state and (followed is None or not followed.container_id or current == followed.container_id):
        return None
    restarts = followed.restarts if followed is not None else status.get("restartCount") or 0
    candidates = [state.get("terminated"), (status.get("lastState") or {}).get("terminated")]
    for terminated in candidates:
        if terminated and (followed is None or terminated.get("containerID") in ("", None, followed.container_id)):
            return {**terminated, "restartCount": restarts}
    return {"containerID": followed.container_id if followed is not None else "", "restartCount": restarts}


def _next_instance(status: dict[str, Any], ended: dict[str, Any]) -> int | None:
    """The restart count of an instance started after the one that `ended`, or None while there is none."""
    state = status.get("state") or {}
    if "running" not in state and "terminated" not in state:
        return None  # waiting: a log request now would read the old instance again
    restarts = status.get("restartCount") or 0
    current = status.get("containerID", "") or (state.get("terminated") or {}).get("containerID", "")
    if (current and ended.get("containerID") and current != ended["containerID"]) or restarts > ended["restartCount"]:
        return restarts
    return None


class LogHub:
    """Every log stream of one event loop."""

    def __init__(
        self,
        queue_size: int = 10_000,
        backlog: int = 10_000,
        *,
        linger: float = LINGER,
        watch_hub: watches.WatchHub | None = None,
    ) -> None:
        self.queue_size = queue_size
        self.backlog = backlog
        self.linger = linger
        self._watch_hub = watch_hub
        self.streams: dict[StreamKey, LogStream] = {}
        # Streams of resumed viewers (not shared), and streams stopped but maybe not finished yet.
        self._private: set[LogStream] = set()
        self._stopping: set[LogStream] = set()

    def watch_hub(self) -> watches.WatchHub:
        """The WatchHub the streams learn about pod changes from: the one given, or the event loop's."""
        return self._watch_hub or watches.hub()

    def subscribe(
        self,
        cluster: Cluster,
        namespace: str,
        pod: str,
        container: str,
        options: LogOptions,
        *,
        after: tuple[str, int] | None = None,
    ) -> LogSubscription:
        """Follow a container's log; with `after=(ts, n)`, continue right after the n-th line stamped ts."""
        key = (cluster, namespace, pod, container, options)
        if after is not None:
            private = LogStream(self, key, after=after)
            self._private.add(private)
            return private.subscribe()
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = LogStream(self, key)
        return stream.subscribe()

    def _forget(self, stream: LogStream) -> None:
        if self.streams.get(stream.key) is stream:
            del self.streams[stream.key]
        self._private.discard(stream)

    def _retire(self, stream: LogStream) -> None:
        """Stop a stream nobody follows any more."""
        self._forget(stream)
        stream.stop()
        if stream._task is not None and not stream._task.done():
            self._stopping.add(stream)
            stream._task.add_done_callback(lambda _: self._stopping.discard(stream))

    async def close(self) -> None:
        """Stop every stream (tests, shutdown)."""
        streams = [*self.streams.values(), *self._private, *self._stopping]
        self.streams, self._private, self._stopping = {}, set(), set()
        for stream in streams:
            stream.stop()
        for stream in streams:
            await stream.join()
            if not stream.finished:
                stream._finish(None)


_hubs = PerLoop(LogHub)


def hub() -> LogHub:
    """The hub of the running event loop (daphne has one; each test has its own)."""
    return _hubs.get()
