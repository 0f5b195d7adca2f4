"""How a pod and its containers are doing, read from the pod's status as kubectl reads it.

Two things every view of a pod needs: the pod's containers in the order they start, each with its kind and the
status the kubelet reported for it; and kubectl's STATUS, READY and RESTARTS columns with a colour class.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.durations import age
from kubetext import pods
from kubetext.pods import PodColumns, is_sidecar

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
        return str(self.spec.get("name", ""))

    @property
    def ready(self) -> bool:
        """Whether the kubelet reports the container ready."""
        return bool((self.status or {}).get("ready"))

    @property
    def restarts(self) -> int:
        """How often the kubelet has restarted the container."""
        return int((self.status or {}).get("restartCount") or 0)


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


@dataclass(frozen=True)
class Summary(PodColumns):
    """kubectl's columns of one pod (kubetext.pods), with the colour class of its STATUS."""

    status_class: str = "warn"  # ok, warn, error or done

    def restarts_text(self, now: datetime, age: Callable[[datetime, datetime], str] = age) -> str:
        """The RESTARTS column, like 3 (5m ago), with clock skew read as just now."""
        return super().restarts_text(now, age)


def summarise(pod: dict[str, Any]) -> Summary:
    """kubectl's STATUS, READY and RESTARTS of one pod, and how its STATUS is coloured."""
    pod_status = pod.get("status") or {}
    if not pod_status.get("phase"):
        # The API server sets phase Pending on create, so only a pod nobody has created yet (a preview) lacks one.
        pod = {**pod, "status": {**pod_status, "phase": "Pending"}}
    printed = pods.columns(pod)
    if any(c.get("type") == "Ready" for c in pod_status.get("conditions") or []):
        all_ready = pods.condition_true(pod_status, "Ready")
    else:
        all_ready = printed.total > 0 and printed.ready == printed.total
    cls = reason_class(printed.reason, pod_status.get("phase") or "", all_ready)
    return Summary(**vars(printed), status_class=cls)


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
