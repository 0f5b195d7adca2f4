"""kubectl's STATUS, READY and RESTARTS columns of a pod (printPod in kubectl's table printers)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubetext.durations import parse_time, since

# kubectl's printPod spells these out as constants of the kubelet and node controller.
NODE_LOST = "NodeLost"
SCHEDULING_GATED = "SchedulingGated"


def is_sidecar(container: dict[str, Any] | None) -> bool:
    """Whether an init container's spec makes it a native sidecar (restartPolicy Always)."""
    return container is not None and container.get("restartPolicy") == "Always"


def condition_true(pod_status: dict[str, Any], kind: str) -> bool:
    """Whether the pod's first condition of this type is True."""
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


@dataclass(frozen=True)
class PodColumns:
    """One pod's STATUS text, READY counts and RESTARTS, as `kubectl get pods` shows them."""

    reason: str
    ready: int
    total: int
    restarts: int
    last_restart: datetime | None

    @property
    def ready_text(self) -> str:
        """The READY column, like 2/3."""
        return f"{self.ready}/{self.total}"

    def restarts_text(self, now: datetime, age: Callable[[datetime, datetime], str] = since) -> str:
        """The RESTARTS column, like `3 (5m ago)`; `age(moment, now)` writes how long ago."""
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


def _later(current: datetime | None, finished: Any) -> datetime | None:
    moment = parse_time(finished)
    return moment if moment and (current is None or moment > current) else current


def _last_finished(container_status: dict[str, Any]) -> Any:
    return ((container_status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")


def _terminated_reason(term: dict[str, Any], prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode') or 0}"


def _initializing(count: _Count, spec: dict[str, Any], pod_status: dict[str, Any]) -> bool:
    """Walk the init container statuses; True when one of them still holds the pod back, with count.reason set."""
    init_specs = spec.get("initContainers") or []
    by_name = {c.get("name"): c for c in init_specs}
    for i, cs in enumerate(pod_status.get("initContainerStatuses") or []):
        restarts, finished = cs.get("restartCount") or 0, _last_finished(cs)
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
        count.last = _later(count.last, _last_finished(cs))
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if waiting is not None and waiting.get("reason"):
            count.reason = waiting["reason"]
        elif term is not None:
            count.reason = _terminated_reason(term)
        elif cs.get("ready") and state.get("running") is not None:
            has_running = True
            count.ready += 1
    # A pod whose last container completed while others still run is not "Completed".
    if count.reason == "Completed" and has_running:
        count.reason = "Running" if condition_true(pod_status, "Ready") else "NotReady"


def columns(pod: dict[str, Any]) -> PodColumns:
    """printPod: the STATUS text, READY counts and RESTARTS of one pod."""
    meta, spec, pod_status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    phase = pod_status.get("phase") or ""
    count = _Count(pod_status.get("reason") or phase)
    for condition in pod_status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == SCHEDULING_GATED:
            count.reason = SCHEDULING_GATED

    initializing = _initializing(count, spec, pod_status)
    if not initializing or condition_true(pod_status, "Initialized"):
        _count_containers(count, pod_status)

    if meta.get("deletionTimestamp") and pod_status.get("reason") == NODE_LOST:
        count.reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        count.reason = "Terminating"
    total = len(spec.get("containers") or []) + sum(1 for c in spec.get("initContainers") or [] if is_sidecar(c))
    return PodColumns(count.reason, count.ready, total, count.restarts, count.last)


NONE = "<none>"


def pod_ip(pod: dict[str, Any]) -> str:
    """The IP column: podIP, else the first of podIPs; `<none>` before the pod has one."""
    status = pod.get("status") or {}
    # Conversion from v1 makes podIP authoritative over podIPs[0]; old servers and hand-written pods have only podIP.
    ip = status.get("podIP") or next((entry.get("ip") for entry in status.get("podIPs") or []), "")
    return str(ip) if ip else NONE


def readiness_gates(pod: dict[str, Any]) -> str:
    """The READINESS GATES column: gates whose condition is True over all of them, `<none>` without gates."""
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return NONE
    status = pod.get("status") or {}
    passed = sum(condition_true(status, gate.get("conditionType")) for gate in gates)
    return f"{passed}/{len(gates)}"
