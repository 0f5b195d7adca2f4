"""The pod table and pod page in plain Python: kubectl's columns, label selectors, paging and container cards."""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from dashboard.diagram import volume_source
from dashboard.manifests import to_yaml
from dashboard.quantities import format_cpu, format_memory

NONE = "<none>"
UNKNOWN = "<unknown>"

DONE_REASONS = frozenset({"Completed", "Succeeded"})
WARN_REASONS = frozenset(
    {"Pending", "ContainerCreating", "PodInitializing", "NotReady", "Terminating", "SchedulingGated"}
)
# Substrings, because kubelet and kubectl build many failure reasons from these stems
# (ErrImagePull, CreateContainerConfigError, Init:ExitCode:2, ContainerStatusUnknown, ...).
ERROR_MARKERS = (
    "BackOff",
    "Err",
    "OOMKilled",
    "Failed",
    "ExitCode",
    "Signal",
    "Unknown",
    "Evicted",
    "Invalid",
    "DeadlineExceeded",
)
INIT_PROGRESS = re.compile(r"\d+/\d+")

# kubectl's printPod spells these out as constants of the kubelet and node controller.
NODE_LOST = "NodeLost"
SCHEDULING_GATED = "SchedulingGated"


def _parse_time(value: str | datetime | None) -> datetime | None:
    """An aware datetime from an RFC 3339 string or a datetime; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    # The API always serves UTC; a naive value can only have lost its zone on the way.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """A duration the way kubectl's AGE column prints it (apimachinery's duration.HumanDuration)."""
    total = int(seconds)
    # HumanDuration prints "<invalid>" below -1s; a dashboard would rather show clock skew as "just now".
    if total < 0:
        return "0s"
    if total < 60 * 2:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        s = total % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | datetime | None, now: datetime) -> str:
    """How long ago timestamp was, as kubectl prints it; "<unknown>" without a timestamp."""
    moment = _parse_time(timestamp)
    if moment is None:
        return UNKNOWN
    return human_duration((_aware(now) - moment).total_seconds())


def _utc_text(timestamp: str | datetime | None) -> str:
    moment = _parse_time(timestamp)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


# --- the pod table -------------------------------------------------------------------------------------------


def _is_sidecar(container: dict[str, Any] | None) -> bool:
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(pod_status: dict[str, Any], kind: str) -> bool:
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _has_condition(pod_status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind for c in pod_status.get("conditions") or [])


def _later(current: datetime | None, finished: Any) -> datetime | None:
    moment = _parse_time(finished)
    return moment if moment and (current is None or moment > current) else current


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode') or 0}"


@dataclass(frozen=True)
class _Summary:
    reason: str
    ready: int
    total: int
    restarts: int
    last_restart: datetime | None


def _summarise(pod: dict[str, Any]) -> _Summary:
    """Port of kubectl's printPod: the STATUS text, READY counts and RESTARTS of one pod."""
    meta, spec, pod_status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    # The API server sets phase Pending on create, so a pod without one has not been seen by anything yet.
    phase = pod_status.get("phase") or "Pending"
    reason = pod_status.get("reason") or phase
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == SCHEDULING_GATED:
            reason = SCHEDULING_GATED

    init_specs = spec.get("initContainers") or []
    by_name = {c.get("name"): c for c in init_specs}
    total = len(spec.get("containers") or []) + sum(1 for c in init_specs if _is_sidecar(c))
    ready_count = restart_count = sidecar_restarts = 0
    last: datetime | None = None
    sidecar_last: datetime | None = None

    initializing = False
    for i, cs in enumerate(pod_status.get("initContainerStatuses") or []):
        count = cs.get("restartCount") or 0
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        restart_count += count
        last = _later(last, finished)
        sidecar = _is_sidecar(by_name.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += count
            sidecar_last = _later(sidecar_last, finished)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if sidecar and cs.get("started"):
            ready_count += 1 if cs.get("ready") else 0
            continue
        initializing = True
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        break

    if not initializing or _condition_true(pod_status, "Initialized"):
        # Once initialised, kubectl stops counting the restarts of init containers that have finished.
        restart_count, last = sidecar_restarts, sidecar_last
        has_running = False
        for cs in reversed(pod_status.get("containerStatuses") or []):
            restart_count += cs.get("restartCount") or 0
            last = _later(last, ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            state = cs.get("state") or {}
            term, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready_count += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(pod_status, "Ready") else "NotReady"

    if meta.get("deletionTimestamp") and pod_status.get("reason") == NODE_LOST:
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return _Summary(reason, ready_count, total, restart_count, last)


def reason_class(reason: str, phase: str = "", ready: bool = True) -> str:
    """The colour class (ok, warn, error, done) of a STATUS text or container reason."""
    bare = reason.removeprefix("Init:")
    if reason in DONE_REASONS:
        return "done"
    if reason == "Running":
        return "ok" if ready else "warn"
    if any(marker in bare for marker in ERROR_MARKERS):
        return "error"
    if bare in WARN_REASONS or INIT_PROGRESS.fullmatch(bare):
        return "warn"
    # Pod-level reasons such as Shutdown or OutOfcpu come with phase Failed; the phase says how bad they are.
    return {"Failed": "error", "Succeeded": "done"}.get(phase, "warn")


def _status_of(pod: dict[str, Any], summary: _Summary) -> tuple[str, str]:
    pod_status = pod.get("status") or {}
    if _has_condition(pod_status, "Ready"):
        all_ready = _condition_true(pod_status, "Ready")
    else:
        all_ready = summary.total > 0 and summary.ready == summary.total
    return summary.reason, reason_class(summary.reason, pod_status.get("phase") or "", all_ready)


def status(pod: dict[str, Any], now: datetime | None = None) -> tuple[str, str]:
    """The STATUS column of kubectl get pods and its colour class (ok, warn, error or done)."""
    # now is accepted so that every column function can be called the same way; the status does not age.
    return _status_of(pod, _summarise(pod))


def ready(pod: dict[str, Any]) -> str:
    """The READY column: ready containers (native sidecars included) over all of them, like 2/3."""
    summary = _summarise(pod)
    return f"{summary.ready}/{summary.total}"


def _restarts_of(summary: _Summary, now: datetime) -> str:
    if summary.restarts and summary.last_restart is not None:
        return f"{summary.restarts} ({age(summary.last_restart, now)} ago)"
    return str(summary.restarts)


def restarts(pod: dict[str, Any], now: datetime) -> str:
    """The RESTARTS column: the count, and how long ago the last restart was, like 3 (5m ago)."""
    return _restarts_of(_summarise(pod), now)


@dataclass(frozen=True)
class PodRow:
    name: str
    namespace: str
    ready: str
    status: str
    status_class: str
    restarts: str
    age: str
    ip: str
    node: str
    labels: tuple[tuple[str, str], ...]
    nominated_node: str
    readiness_gates: str


def _readiness_gates(spec: dict[str, Any], pod_status: dict[str, Any]) -> str:
    gates = spec.get("readinessGates") or []
    if not gates:
        return NONE
    conditions = {c.get("type"): c.get("status") for c in pod_status.get("conditions") or []}
    passed = sum(1 for gate in gates if conditions.get(gate.get("conditionType")) == "True")
    return f"{passed}/{len(gates)}"


def row(pod: dict[str, Any], now: datetime) -> PodRow:
    """One row of kubectl get pods -o wide, with the labels and a colour class for the status."""
    meta, spec, pod_status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    summary = _summarise(pod)
    text, cls = _status_of(pod, summary)
    ips = pod_status.get("podIPs") or []
    # podIPs is newer than podIP; older servers and hand-written fixtures only carry the single field.
    ip = (ips[0].get("ip") if ips else None) or pod_status.get("podIP") or NONE
    return PodRow(
        name=meta.get("name", ""),
        namespace=meta.get("namespace") or "default",
        ready=f"{summary.ready}/{summary.total}",
        status=text,
        status_class=cls,
        restarts=_restarts_of(summary, now),
        age=age(meta.get("creationTimestamp"), now),
        ip=ip,
        node=spec.get("nodeName") or NONE,
        labels=tuple(sorted((meta.get("labels") or {}).items())),
        nominated_node=pod_status.get("nominatedNodeName") or NONE,
        readiness_gates=_readiness_gates(spec, pod_status),
    )


# --- label selectors ------------------------------------------------------------------------------------------


class SelectorError(ValueError):
    """A label selector that Kubernetes would reject; the message names the offending part."""


NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
PREFIX_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_CHARS = "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
WHITESPACE = " \t\r\n"
SPECIAL = "=!(),><"
KEYWORDS = frozenset({"in", "notin"})
END = ""  # the token kind of the end of the text
OPERATORS = ("=", "==", "!=", "in", "notin", ">", "<")


def _key_problem(key: str) -> str:
    parts = key.split("/")
    if len(parts) > 2:
        return "a key has at most one '/', between an optional DNS subdomain prefix and the name"
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "the prefix before '/' must not be empty"
        if len(prefix) > 253:
            return "the prefix before '/' must be at most 253 characters"
        if not PREFIX_RE.fullmatch(prefix):
            return "the prefix before '/' must be a lowercase DNS subdomain like example.com"
    name = parts[-1]
    if not name:
        return "the name must not be empty"
    if len(name) > 63:
        return "the name must be at most 63 characters"
    if not NAME_RE.fullmatch(name):
        return f"the name must consist of {NAME_CHARS}"
    return ""


def _value_problem(value: str) -> str:
    if len(value) > 63:
        return "a value must be at most 63 characters"
    if value and not NAME_RE.fullmatch(value):
        return f"a value must be empty or consist of {NAME_CHARS}"
    return ""


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a selector into (kind, literal) tokens the way apimachinery's lexer does."""
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
        if pos == len(text):
            tokens.append((END, ""))
            return tokens
        if text[pos] in SPECIAL:
            op = text[pos : pos + 2] if text[pos : pos + 2] in ("!=", "==") else text[pos]
            tokens.append((op, op))
            pos += len(op)
            continue
        start = pos
        while pos < len(text) and text[pos] not in SPECIAL and text[pos] not in WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((word if word in KEYWORDS else "id", word))


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # one of OPERATORS, "exists" or "!"
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or not re.fullmatch(r"[+-]?[0-9]+", value):
            return False
        (limit,) = self.values
        return int(value) > int(limit) if self.op == ">" else int(value) < int(limit)


class _Parser:
    """Recursive descent over the tokens, following apimachinery's labels.Parse."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        # in and notin are only operators right after a key; anywhere else they are ordinary words.
        return ("id" if values and kind in KEYWORDS else kind), literal

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos += 1
        return token

    @staticmethod
    def shown(kind: str, literal: str) -> str:
        return "the end of the selector" if kind == END else f"'{literal}'"

    def parse(self) -> list[_Requirement]:
        requirements: list[_Requirement] = []
        kind, literal = self.peek()
        if kind == END:
            return requirements
        while True:
            if kind not in ("id", "!"):
                raise SelectorError(f"expected a label key or '!', found {self.shown(kind, literal)}")
            requirements.append(self.requirement())
            kind, literal = self.take()
            if kind == END:
                return requirements
            if kind != ",":
                raise SelectorError(
                    f"expected ',' or the end after '{self.text_of(requirements[-1])}', "
                    f"found {self.shown(kind, literal)}"
                )
            kind, literal = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"expected a label key after ',', found {self.shown(kind, literal)}")

    @staticmethod
    def text_of(req: _Requirement) -> str:
        if req.op in ("exists", "!"):
            return ("!" if req.op == "!" else "") + req.key
        if req.op in ("in", "notin"):
            return f"{req.key} {req.op} ({','.join(sorted(req.values))})"
        return f"{req.key}{req.op}{next(iter(req.values))}"

    def requirement(self) -> _Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
            if kind != "id":
                raise SelectorError(f"expected a label key after '!', found {self.shown(kind, key)}")
        problem = _key_problem(key)
        if problem:
            raise SelectorError(f"invalid label key '{key}': {problem}")
        if negated or self.peek()[0] in (END, ","):
            return _Requirement(key, "!" if negated else "exists", frozenset())
        kind, literal = self.take(values=False)
        if kind not in OPERATORS:
            raise SelectorError(
                f"expected an operator ({', '.join(OPERATORS)}) after '{key}', found {self.shown(kind, literal)}"
            )
        values = self.value_set(key, kind) if kind in ("in", "notin") else self.exact_value(key, kind)
        for value in values:
            problem = _value_problem(value)
            if problem:
                raise SelectorError(f"invalid value '{value}' for label '{key}': {problem}")
        if kind in (">", "<"):
            (value,) = values
            if not re.fullmatch(r"[0-9]+", value) or int(value) >= 2**63:
                raise SelectorError(f"the value of '{key}{kind}' must be an integer, found '{value}'")
        return _Requirement(key, kind, frozenset(values))

    def exact_value(self, key: str, op: str) -> set[str]:
        kind, literal = self.peek()
        if kind in (END, ","):
            return {""}
        self.take()
        if kind != "id":
            raise SelectorError(f"expected a value after '{key}{op}', found {self.shown(kind, literal)}")
        return {literal}

    def value_set(self, key: str, op: str) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"expected '(' after '{key} {op}', found {self.shown(kind, literal)}")
        values: set[str] = set()
        expect_value = True
        # Empty entries are the empty value, as in apimachinery: "(a,)" is {"a", ""} and "()" is {""}.
        while True:
            kind, literal = self.take()
            if kind == ")":
                if expect_value:
                    values.add("")
                return values
            if kind == "," and expect_value:
                values.add("")
            elif kind == "id" and expect_value:
                values.add(literal)
                expect_value = False
                continue
            elif kind != ",":
                raise SelectorError(
                    f"expected a value, ',' or ')' in the values of '{key} {op}', found {self.shown(kind, literal)}"
                )
            expect_value = True


def parse_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over a label dict for a Kubernetes label selector string; raises SelectorError if invalid."""
    requirements = tuple(_Parser(text).parse())

    def matches(labels: dict[str, str] | None) -> bool:
        found = labels or {}
        return all(r.matches(found) for r in requirements)

    return matches


def filter_pods(pods: Iterable[dict[str, Any]], name: str = "", selector: str = "") -> list[dict[str, Any]]:
    """The pods whose name contains name (ignoring case) and whose labels match selector, sorted by name."""
    matches = parse_selector(selector)
    needle = name.strip().casefold()

    def keep(pod: dict[str, Any]) -> bool:
        meta = pod.get("metadata") or {}
        return needle in (meta.get("name") or "").casefold() and matches(meta.get("labels") or {})

    def key(pod: dict[str, Any]) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return meta.get("name") or "", meta.get("namespace") or ""

    return sorted((p for p in pods if keep(p)), key=key)


# --- paging ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: tuple[Any, ...]
    number: int
    pages: int
    total: int
    first: int
    last: int

    @property
    def previous(self) -> int | None:
        """The number of the page before this one, or None on the first page."""
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        """The number of the page after this one, or None on the last page."""
        return self.number + 1 if self.number < self.pages else None


def paginate(items: Sequence[Any], number: int, per_page: int = 100) -> Page:
    """Page number (1-based, clamped into range) of items; first and last are the 1-based positions shown."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    total = len(items)
    pages = max(1, math.ceil(total / per_page))
    number = min(max(number, 1), pages)
    start = (number - 1) * per_page
    chunk = tuple(items[start : start + per_page])
    return Page(chunk, number, pages, total, start + 1 if chunk else 0, start + len(chunk))


# --- container cards ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    volume: str
    path: str
    read_only: bool
    sub_path: str


@dataclass(frozen=True)
class ContainerPort:
    number: int
    protocol: str  # TCP, UDP or SCTP
    text: str  # as the card shows it, e.g. "80/TCP (http)"


@dataclass(frozen=True)
class ContainerCard:
    name: str
    kind: str  # init, sidecar, container, ephemeral
    order: int | None  # 1-based position among init containers and sidecars
    image: str
    command: str
    state: str  # running, waiting, terminated, unknown
    state_text: str
    state_class: str  # ok, warn, error, done, unknown
    ready: bool
    started: bool | None
    restarts: int
    last_state_text: str
    ports: tuple[str, ...]
    mounts: tuple[Mount, ...]
    env_count: int
    env_from: tuple[str, ...]
    resources: tuple[tuple[str, str], ...]
    probes: tuple[tuple[str, str], ...]
    cpu: str  # current usage from the metrics API, "" without metrics
    memory: str
    port_list: tuple[ContainerPort, ...] = ()  # the same ports as data, for links


def port_owner(pod: dict[str, Any], port: int) -> str:
    """The container declaring TCP `port`, "" when none does (any port may be opened all the same)."""
    spec = pod.get("spec") or {}
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        for p in c.get("ports") or []:
            if p.get("containerPort") == port and (p.get("protocol") or "TCP") == "TCP":
                return c.get("name", "")
    return ""


def _command(spec: dict[str, Any]) -> str:
    command = [str(p) for p in spec.get("command") or []]
    args = [str(p) for p in spec.get("args") or []]
    if command:
        return shlex.join(command + args)
    # args alone are appended to the image's own entrypoint.
    return "(image default)" + (" " + shlex.join(args) if args else "")


def _terminated_text(term: dict[str, Any]) -> str:
    text = f"Terminated: exit {term.get('exitCode') or 0}"
    if term.get("signal"):
        text += f", signal {term['signal']}"
    if term.get("reason"):
        text += f" ({term['reason']})"
    if finished := _utc_text(term.get("finishedAt")):
        text += f" at {finished}"
    if message := (term.get("message") or "").strip():
        text += f" — {message}"
    return text


def _state(kind: str, cs: dict[str, Any] | None, now: datetime) -> tuple[str, str, str]:
    """Return (state, state text, colour class) for one container status."""
    if cs is None:
        return "unknown", "No status yet", "unknown"
    state = cs.get("state") or {}
    if (running := state.get("running")) is not None:
        started = running.get("startedAt")
        text = f"Running since {_utc_text(started)} ({age(started, now)})" if _parse_time(started) else "Running"
        # Ephemeral containers never report ready, and a running init container is progress, not health.
        return "running", text, "ok" if kind == "ephemeral" or cs.get("ready") else "warn"
    if (term := state.get("terminated")) is not None:
        return "terminated", _terminated_text(term), "done" if not term.get("exitCode") else "error"
    if (waiting := state.get("waiting")) is not None:
        reason, message = waiting.get("reason") or "", (waiting.get("message") or "").strip()
        text = "Waiting" + (f": {reason}" if reason else "") + (f" — {message}" if message else "")
        return "waiting", text, reason_class(reason or "Pending")
    return "unknown", "Unknown state", "unknown"


def _port_text(port: dict[str, Any]) -> str:
    text = f"{port.get('containerPort')}/{port.get('protocol') or 'TCP'}"
    if port.get("name"):
        text += f" ({port['name']})"
    if port.get("hostPort"):
        text += f" host {port['hostPort']}"
    return text


def _env_from_text(source: dict[str, Any]) -> str:
    prefix = source.get("prefix") or ""
    for kind in ("configMapRef", "secretRef"):
        if kind in source:
            text = f"{kind.removesuffix('Ref')} {(source[kind] or {}).get('name', '')}"
            return text + (f" (prefix {prefix})" if prefix else "")
    return "unknown source"


def _resources(spec: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    res = spec.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    names = sorted(set(requests) | set(limits), key=lambda n: ({"cpu": 0, "memory": 1}.get(n, 2), n))
    pairs = []
    for name in names:
        if name in requests:
            pairs.append((f"{name} request", str(requests[name])))
        if name in limits:
            pairs.append((f"{name} limit", str(limits[name])))
    return tuple(pairs)


def _probe_text(probe: dict[str, Any]) -> str:
    if "httpGet" in probe:
        get = probe["httpGet"] or {}
        scheme = "https://" if (get.get("scheme") or "").upper() == "HTTPS" else ""
        action = f"http-get {scheme}{get.get('host', '')}:{get.get('port', '')}{get.get('path') or '/'}"
    elif "exec" in probe:
        action = "exec " + shlex.join(str(p) for p in (probe["exec"] or {}).get("command") or [])
    elif "tcpSocket" in probe:
        sock = probe["tcpSocket"] or {}
        action = f"tcp-socket {sock.get('host', '')}:{sock.get('port', '')}"
    elif "grpc" in probe:
        grpc = probe["grpc"] or {}
        action = f"grpc :{grpc.get('port', '')}" + (f" service {grpc['service']}" if grpc.get("service") else "")
    else:
        action = "unknown action"
    text = f"{action} delay {probe.get('initialDelaySeconds') or 0}s"
    # Only the settings that differ from the API defaults, so the common case reads short.
    if (probe.get("timeoutSeconds") or 1) != 1:
        text += f" timeout {probe['timeoutSeconds']}s"
    text += f" period {probe.get('periodSeconds') or 10}s"
    if (probe.get("successThreshold") or 1) != 1:
        text += f" success {probe['successThreshold']}"
    if (probe.get("failureThreshold") or 3) != 3:
        text += f" failure {probe['failureThreshold']}"
    return text


def _usage(raw: str, resource: str) -> str:
    """Usage as `kubectl top` prints it; a value that is not a quantity is shown as given."""
    try:
        return (format_cpu if resource == "cpu" else format_memory)(raw) if raw else ""
    except ValueError:
        return raw


PROBES = (("liveness", "livenessProbe"), ("readiness", "readinessProbe"), ("startup", "startupProbe"))


def _card(
    c: dict[str, Any], kind: str, order: int | None, cs: dict[str, Any] | None, now: datetime, usage: dict[str, str]
) -> ContainerCard:
    state, state_text, state_class = _state(kind, cs, now)
    found = cs or {}
    last_term = (found.get("lastState") or {}).get("terminated")
    mounts = tuple(
        Mount(
            m.get("name", ""),
            m.get("mountPath", ""),
            bool(m.get("readOnly")),
            m.get("subPath") or m.get("subPathExpr") or "",
        )
        for m in c.get("volumeMounts") or []
    )
    return ContainerCard(
        name=c.get("name", ""),
        kind=kind,
        order=order,
        image=c.get("image", ""),
        command=_command(c),
        state=state,
        state_text=state_text,
        state_class=state_class,
        ready=bool(found.get("ready")),
        started=found.get("started"),
        restarts=found.get("restartCount") or 0,
        last_state_text=_terminated_text(last_term) if last_term is not None else "",
        ports=tuple(_port_text(p) for p in c.get("ports") or []),
        port_list=tuple(
            ContainerPort(
                n if isinstance(n := p.get("containerPort"), int) else 0, p.get("protocol") or "TCP", _port_text(p)
            )
            for p in c.get("ports") or []
        ),
        mounts=mounts,
        env_count=len(c.get("env") or []),
        env_from=tuple(_env_from_text(s) for s in c.get("envFrom") or []),
        resources=_resources(c),
        probes=tuple((label, _probe_text(c[key])) for label, key in PROBES if c.get(key)),
        cpu=_usage(str(usage.get("cpu") or ""), "cpu"),
        memory=_usage(str(usage.get("memory") or ""), "memory"),
    )


def container_cards(
    pod: dict[str, Any], now: datetime, metrics: dict[str, dict[str, str]] | None = None
) -> list[ContainerCard]:
    """One card per container: init containers and sidecars in spec order, then containers, then ephemeral ones."""
    spec, pod_status = pod.get("spec") or {}, pod.get("status") or {}

    def statuses(key: str) -> dict[str, dict[str, Any]]:
        return {s.get("name"): s for s in pod_status.get(key) or []}

    def usage(c: dict[str, Any]) -> dict[str, str]:
        return (metrics or {}).get(c.get("name", "")) or {}

    inits, mains = statuses("initContainerStatuses"), statuses("containerStatuses")
    ephemerals = statuses("ephemeralContainerStatuses")
    cards = [
        _card(c, "sidecar" if _is_sidecar(c) else "init", i, inits.get(c.get("name")), now, usage(c))
        for i, c in enumerate(spec.get("initContainers") or [], start=1)
    ]
    cards += [
        _card(c, "container", None, mains.get(c.get("name")), now, usage(c)) for c in spec.get("containers") or []
    ]
    cards += [
        _card(c, "ephemeral", None, ephemerals.get(c.get("name")), now, usage(c))
        for c in spec.get("ephemeralContainers") or []
    ]
    return cards


# --- the pod table as a page shows it -------------------------------------------------------------------------

PER_PAGE = 100


@dataclass(frozen=True)
class Query:
    """What the pod list was asked for: a name filter, a label selector and a page number."""

    name: str = ""
    selector: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Query:
        """Read q, selector and page from query parameters, forgiving anything malformed."""
        try:
            page = int(params.get("page") or 1)
        except ValueError:
            page = 1
        return cls(
            name=(params.get("q") or "").strip()[:253],
            selector=(params.get("selector") or "").strip()[:2000],
            page=max(page, 1),
        )

    def urlencode(self, page: int | None = None) -> str:
        """The query string for this query (at another page if given), leaving out what is empty."""
        number = self.page if page is None else page
        pairs = [("q", self.name), ("selector", self.selector), ("page", str(number) if number > 1 else "")]
        return urlencode([(key, value) for key, value in pairs if value])


@dataclass(frozen=True)
class Table:
    """One page of the pod table, ready for the template."""

    page: Page
    total: int  # pods in the namespace, before filtering
    filtered: bool
    error: str
    prev_params: str
    next_params: str


def table(pods: Iterable[dict[str, Any]], query: Query, now: datetime, per_page: int = PER_PAGE) -> Table:
    """Filter, sort and page the namespace's pods; only the shown page is turned into rows."""
    everything = list(pods)
    error = ""
    try:
        kept = filter_pods(everything, query.name, query.selector)
    except SelectorError as exc:
        kept, error = [], str(exc)
    page = paginate(kept, query.page, per_page)
    page = Page(tuple(row(p, now) for p in page.items), page.number, page.pages, page.total, page.first, page.last)
    return Table(
        page=page,
        total=len(everything),
        filtered=bool(query.name or query.selector),
        error=error,
        prev_params=query.urlencode(page.previous or 1),
        next_params=query.urlencode(page.next or page.pages),
    )


# --- volumes as the pod page lists them -----------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeMount:
    container: str
    path: str
    read_only: bool
    sub_path: str


@dataclass(frozen=True)
class VolumeDetail:
    name: str
    type: str
    source: str
    mounts: tuple[VolumeMount, ...]
    spec_yaml: str


def volume_details(pod: dict[str, Any]) -> list[VolumeDetail]:
    """Every volume of the pod with its source and who mounts it where, in spec order."""
    spec = pod.get("spec") or {}
    containers = [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]
    details = []
    for volume in spec.get("volumes") or []:
        name = volume.get("name", "")
        mounts = tuple(
            VolumeMount(c.get("name", ""), m.get("mountPath", ""), bool(m.get("readOnly")), m.get("subPath", ""))
            for c in containers
            for m in c.get("volumeMounts") or []
            if m.get("name") == name
        )
        kind, source = volume_source(volume)
        details.append(VolumeDetail(name, kind, source, mounts, to_yaml(volume)))
    return details


@dataclass(frozen=True)
class ContainerRef:
    name: str
    kind: str  # init, sidecar, container, ephemeral


def containers_of(pod: dict[str, Any]) -> list[ContainerRef]:
    """Every container of the pod in the order it starts: init containers and sidecars, the app's, ephemeral."""
    spec = pod.get("spec") or {}
    found = [
        ContainerRef(c.get("name", ""), "sidecar" if _is_sidecar(c) else "init")
        for c in spec.get("initContainers") or []
    ]
    found += [ContainerRef(c.get("name", ""), "container") for c in spec.get("containers") or []]
    found += [ContainerRef(c.get("name", ""), "ephemeral") for c in spec.get("ephemeralContainers") or []]
    return found
