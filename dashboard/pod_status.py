"""How a pod and its containers are doing, read from the pod's status as kubectl reads it.

Two things every view of a pod needs: the pod's containers in the order they start, each with its kind and the
status the kubelet reported for it; and kubectl's STATUS, READY and RESTARTS columns with a colour class.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.durations import age, parse_time

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

STATUS_KEYS = {
    "init": "initContainerStatuses",
    "container": "containerStatuses",
    "ephemeral": "ephemeralContainerStatuses",
}


# --- the containers of a pod ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """One container of a pod: its spec, its kind, and the status the kubelet reported for it (None until then)."""

    spec: dict[str, Any]
    kind: str  # init, sidecar, container, ephemeral
    order: int | None  # 1-based position among init containers and native sidecars
    status: dict[str, Any] | None

    @property
    def name(self) -> str:
        """The container's name, "" when the spec lacks one."""
        return self.spec.get("name", "")

    @property
    def ready(self) -> bool:
        """Whether the kubelet reports the container ready."""
        return bool((self.status or {}).get("ready"))

    @property
    def restarts(self) -> int:
        """How often the kubelet has restarted the container."""
        return int((self.status or {}).get("restartCount") or 0)


def is_sidecar(container: dict[str, Any] | None) -> bool:
    """Whether an init container's spec makes it a native sidecar (restartPolicy Always)."""
    return container is not None and container.get("restartPolicy") == "Always"


def containers(pod: dict[str, Any]) -> list[Container]:
    """Every container of the pod in the order it starts: init containers and sidecars, the app's, ephemeral."""
    spec, pod_status = pod.get("spec") or {}, pod.get("status") or {}

    def reported(kind: str) -> dict[str, dict[str, Any]]:
        return {s.get("name"): s for s in pod_status.get(STATUS_KEYS[kind]) or []}

    inits, mains, ephemerals = reported("init"), reported("container"), reported("ephemeral")
    found = [
        Container(c, "sidecar" if is_sidecar(c) else "init", i, inits.get(c.get("name")))
        for i, c in enumerate(spec.get("initContainers") or [], start=1)
    ]
    found += [Container(c, "container", None, mains.get(c.get("name"))) for c in spec.get("containers") or []]
    found += [
        Container(c, "ephemeral", None, ephemerals.get(c.get("name"))) for c in spec.get("ephemeralContainers") or []
    ]
    return found


# --- kubectl's STATUS, READY and RESTARTS columns -------------------------------------------------------------


def _condition_true(pod_status: dict[str, Any], kind: str) -> bool:
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition.get("status") == "True"
    return False


def _has_condition(pod_status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind for c in pod_status.get("conditions") or [])


def _later(current: datetime | None, finished: Any) -> datetime | None:
    moment = parse_time(finished)
    return moment if moment and (current is None or moment > current) else current


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode') or 0}"


@dataclass(frozen=True)
class Summary:
    """One pod's STATUS text and colour, READY counts and RESTARTS, as kubectl get pods shows them."""

    reason: str
    status_class: str  # ok, warn, error or done
    ready: int
    total: int
    restarts: int
    last_restart: datetime | None

    @property
    def ready_text(self) -> str:
        """The READY column, like 2/3."""
        return f"{self.ready}/{self.total}"

    def restarts_text(self, now: datetime) -> str:
        """The RESTARTS column, like 3 (5m ago)."""
        if self.restarts and self.last_restart is not None:
            return f"{self.restarts} ({age(self.last_restart, now)} ago)"
        return str(self.restarts)


@dataclass
class _Count:
    """What printPod adds up while it walks the container statuses."""

    reason: str
    ready: int = 0
    restarts: int = 0
    last: datetime | None = None
    sidecar_restarts: int = 0
    sidecar_last: datetime | None = None


def _initializing(count: _Count, spec: dict[str, Any], pod_status: dict[str, Any]) -> bool:
    """Walk the init container statuses; True when one of them still holds the pod back, with count.reason set."""
    init_specs = spec.get("initContainers") or []
    by_name = {c.get("name"): c for c in init_specs}
    for i, cs in enumerate(pod_status.get("initContainerStatuses") or []):
        restarts = cs.get("restartCount") or 0
        finished = ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        count.restarts += restarts
        count.last = _later(count.last, finished)
        sidecar = is_sidecar(by_name.get(cs.get("name")))
        if sidecar:
            count.sidecar_restarts += restarts
            count.sidecar_last = _later(count.sidecar_last, finished)
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and not term.get("exitCode"):
            continue
        if sidecar and cs.get("started"):
            count.ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            count.reason = _terminated_reason(term, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            count.reason = "Init:" + waiting["reason"]
        else:
            count.reason = f"Init:{i}/{len(init_specs)}"
        return True
    return False


def _count_containers(count: _Count, pod_status: dict[str, Any]) -> None:
    """Walk the app containers' statuses of an initialised pod; the last one with something to say sets the reason."""
    # Once initialised, kubectl stops counting the restarts of init containers that have finished.
    count.restarts, count.last = count.sidecar_restarts, count.sidecar_last
    has_running = False
    for cs in reversed(pod_status.get("containerStatuses") or []):
        count.restarts += cs.get("restartCount") or 0
        count.last = _later(count.last, ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if waiting is not None and waiting.get("reason"):
            count.reason = waiting["reason"]
        elif term is not None:
            count.reason = _terminated_reason(term)
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            count.ready += 1
    if count.reason == "Completed" and has_running:
        count.reason = "Running" if _condition_true(pod_status, "Ready") else "NotReady"


def summarise(pod: dict[str, Any]) -> Summary:
    """Port of kubectl's printPod: the STATUS text, READY counts and RESTARTS of one pod."""
    meta, spec, pod_status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    # The API server sets phase Pending on create, so a pod without one has not been seen by anything yet.
    phase = pod_status.get("phase") or "Pending"
    count = _Count(pod_status.get("reason") or phase)
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == SCHEDULING_GATED:
            count.reason = SCHEDULING_GATED

    initializing = _initializing(count, spec, pod_status)
    if not initializing or _condition_true(pod_status, "Initialized"):
        _count_containers(count, pod_status)

    if meta.get("deletionTimestamp") and pod_status.get("reason") == NODE_LOST:
        count.reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        count.reason = "Terminating"
    total = len(spec.get("containers") or []) + sum(1 for c in spec.get("initContainers") or [] if is_sidecar(c))
    if _has_condition(pod_status, "Ready"):
        all_ready = _condition_true(pod_status, "Ready")
    else:
        all_ready = total > 0 and count.ready == total
    cls = reason_class(count.reason, pod_status.get("phase") or "", all_ready)
    return Summary(count.reason, cls, count.ready, total, count.restarts, count.last)


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


def status(pod: dict[str, Any], now: datetime | None = None) -> tuple[str, str]:
    """The STATUS column of kubectl get pods and its colour class (ok, warn, error or done)."""
    # now is accepted so that every column function can be called the same way; the status does not age.
    summary = summarise(pod)
    return summary.reason, summary.status_class


def ready(pod: dict[str, Any]) -> str:
    """The READY column: ready containers (native sidecars included) over all of them, like 2/3."""
    return summarise(pod).ready_text


def restarts(pod: dict[str, Any], now: datetime) -> str:
    """The RESTARTS column: the count, and how long ago the last restart was, like 3 (5m ago)."""
    return summarise(pod).restarts_text(now)
