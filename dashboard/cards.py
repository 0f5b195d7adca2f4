"""The pod page's cards: one per container (state, command, ports, mounts, env, resources, probes, usage) and
one per volume (its source and who mounts it where)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dashboard.diagram.model import volume_source
from dashboard.durations import age, utc_text
from dashboard.kube.quantities import format_cpu, format_memory
from dashboard.manifests import to_yaml
from dashboard.pod_status import Container, containers, reason_class
from kubetext.durations import parse_time

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
                return str(c.get("name", ""))
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
    if finished := utc_text(term.get("finishedAt")):
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
        text = f"Running since {utc_text(started)} ({age(started, now)})" if parse_time(started) else "Running"
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


def _card(container: Container, now: datetime, usage: dict[str, str]) -> ContainerCard:
    c, found = container.spec, container.status or {}
    state, state_text, state_class = _state(container.kind, container.status, now)
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
        name=container.name,
        kind=container.kind,
        order=container.order,
        image=c.get("image", ""),
        command=_command(c),
        state=state,
        state_text=state_text,
        state_class=state_class,
        ready=container.ready,
        started=found.get("started"),
        restarts=container.restarts,
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
    return [_card(c, now, (metrics or {}).get(c.name) or {}) for c in containers(pod)]


# --- volume cards ---------------------------------------------------------------------------------------------


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
