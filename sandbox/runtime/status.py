"""Pod status as a kubelet computes it from its containers: phase, conditions and container statuses.

Pure functions over `ContainerRecord`s, so the rules (the kubelet's getPhase, the readiness
conditions) are tested without running anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INIT, SIDECAR, MAIN, EPHEMERAL = "init", "sidecar", "main", "ephemeral"
CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


@dataclass
class ContainerRecord:
    """What the kubelet knows about one container of a pod right now."""

    name: str
    kind: str
    image: str
    state: dict[str, Any] = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    container_id: str = ""
    image_id: str = ""
    mounts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> dict[str, Any] | None:
        return self.state.get("terminated")

    @property
    def waiting(self) -> dict[str, Any] | None:
        return self.state.get("waiting")

    def as_status(self) -> dict[str, Any]:
        """The containerStatuses entry, in the field order the API serves."""
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        out["started"] = self.started
        if self.mounts:
            out["volumeMounts"] = self.mounts
        return out


def _initialization(records: list[ContainerRecord]) -> tuple[int, int, int]:
    """(pending, failed, waiting) counts over init containers, following the kubelet's getPhase."""
    pending = failed = waiting = 0
    for r in records:
        if r.kind == SIDECAR:
            if not (r.running and r.started):
                pending += 1
                if r.waiting is not None and not r.last_state:
                    waiting += 1
            continue
        if r.kind != INIT:
            continue
        if r.running:
            pending += 1
        elif r.terminated is not None:
            if r.terminated.get("exitCode", 0) != 0:
                failed += 1
        elif r.last_state.get("terminated", {}).get("exitCode", 0) != 0:
            failed += 1
        else:
            pending += 1
    return pending, failed, waiting


def initialized(records: list[ContainerRecord]) -> bool:
    """All init containers finished successfully and every sidecar has started."""
    for r in records:
        if r.kind == INIT and not (r.terminated is not None and r.terminated.get("exitCode") == 0):
            return False
        if r.kind == SIDECAR and not r.started:
            return False
    return True


def phase(restart_policy: str, records: list[ContainerRecord]) -> str:
    """The pod phase from its containers' states (the kubelet's getPhase)."""
    pending_init, failed_init, waiting = _initialization(records)
    if failed_init and restart_policy == "Never":
        return "Failed"
    main = [r for r in records if r.kind == MAIN]
    running = stopped = succeeded = 0
    for r in main:
        if r.running:
            running += 1
        elif r.terminated is not None:
            stopped += 1
            if r.terminated.get("exitCode") == 0:
                succeeded += 1
        elif r.last_state.get("terminated"):
            stopped += 1
        else:
            waiting += 1
    any_main_started = any(r.running or r.terminated is not None or r.last_state for r in main)
    if (pending_init or failed_init) and not any_main_started:
        return "Pending"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if restart_policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if restart_policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(kind: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
    if not ok and reason:
        out["reason"] = reason
    if not ok and message:
        out["message"] = message
    return out


def conditions(
    records: list[ContainerRecord], sandbox_ready: bool, terminal: str | None, readiness_gates: list[str]
) -> list[dict[str, Any]]:
    """PodReadyToStartContainers, Initialized, Ready and ContainersReady, with the kubelet's reasons."""
    init_ok = initialized(records)
    incomplete = [r.name for r in records if r.kind in (INIT, SIDECAR) and not _init_done(r)]
    unready = [r.name for r in records if r.kind in (MAIN, SIDECAR) and not r.ready]
    out = [
        _condition("PodReadyToStartContainers", sandbox_ready),
        _condition(
            "Initialized",
            init_ok,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
    ]
    if terminal == "Succeeded":
        reason, message = "PodCompleted", ""
    else:
        reason, message = "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"
    containers_ready = not unready and init_ok and terminal is None
    gates_ok = not readiness_gates
    ready_message = message
    if containers_ready and not gates_ok:
        reason = "ReadinessGatesNotReady"
        ready_message = f'corresponding condition of pod readiness gate "{readiness_gates[0]}" does not exist.'
    out.append(_condition("Ready", containers_ready and gates_ok, reason, ready_message))
    out.append(_condition("ContainersReady", containers_ready, reason, message))
    return out


def _init_done(r: ContainerRecord) -> bool:
    if r.kind == SIDECAR:
        return r.started
    return r.terminated is not None and r.terminated.get("exitCode") == 0


def merge_conditions(previous: list[dict[str, Any]], fresh: list[dict[str, Any]], now: str) -> list[dict[str, Any]]:
    """Carry lastTransitionTime over unless a condition's status changed; keep conditions set by others."""
    before = {c["type"]: c for c in previous}
    merged: dict[str, dict[str, Any]] = {c["type"]: c for c in previous}
    for c in fresh:
        old = before.get(c["type"])
        stamp = old["lastTransitionTime"] if old and old.get("status") == c["status"] else now
        merged[c["type"]] = {**c, "lastTransitionTime": stamp}
    ordered = [merged[t] for t in CONDITION_ORDER if t in merged]
    ordered += [c for t, c in merged.items() if t not in CONDITION_ORDER]
    return ordered
