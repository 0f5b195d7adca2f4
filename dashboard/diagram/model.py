"""Read one pod for its diagram: its containers and their state, its volumes, who mounts what where, its patterns.

Works on the pod as a camelCase dict, as the API serves it, with or without status; draws nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dashboard.pod_status import Container, containers, reason_class

PHASE_STATUS = {"Running": "ok", "Succeeded": "done", "Pending": "warn", "Failed": "error"}
# nginx is left out on purpose: in most pods it is the web server itself, not a proxy in front of another one.
PROXY_IMAGES = frozenset(
    {
        "haproxy",
        "envoy",
        "pgbouncer",
        "traefik",
        "twemproxy",
        "proxysql",
        "cloud-sql-proxy",
        "cloudsql-proxy",
        "oauth2-proxy",
        "socat",
        "squid",
    }
)


@dataclass(frozen=True)
class Mount:
    """One volume mount that gets an edge: a container's mount of a volume listed in spec.volumes."""

    container: int  # index of the container in drawing order
    slot: int  # position among that container's drawn mounts
    volume: int  # index in spec.volumes
    name: str  # the volume's name
    path: str
    read_only: bool
    sub_path: str
    system: bool  # the volume is the service-account volume Kubernetes injects


@dataclass(frozen=True)
class Pattern:
    """A multi-container pattern the pod follows, the containers that play it and why, in words."""

    name: str  # init, sidecar, ambassador, adapter
    containers: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Pod:
    """Everything the diagram shows of one pod, read from its spec and status."""

    name: str
    namespace: str
    node: str
    phase: str
    status: str  # ok, warn, error, done or unknown, after the phase
    ip: str
    hostname: str
    host_network: bool
    containers: tuple[Container, ...]
    volumes: tuple[dict[str, Any], ...]
    system_volumes: frozenset[str]
    patterns: tuple[Pattern, ...]
    mounts: tuple[Mount, ...]


def read_pod(pod: dict[str, Any]) -> Pod:
    """Read what the diagram shows from a pod (a camelCase dict as the API serves it, with or without status)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    name = meta.get("name", "")
    found = containers(pod)
    volumes = spec.get("volumes") or []
    system_volumes = frozenset(
        v["name"] for v in volumes if v.get("name", "").startswith("kube-api-access-") and "projected" in v
    )
    # No status at all is a manifest being previewed, not a pod in an unknown state.
    phase = status.get("phase") or ("Unknown" if status else "not created yet")
    return Pod(
        name=name,
        namespace=meta.get("namespace") or "default",
        node=spec.get("nodeName") or "not scheduled",
        phase=phase,
        status=PHASE_STATUS.get(phase, "unknown"),
        ip=status.get("podIP") or "no IP yet",
        hostname=spec.get("hostname") or name,
        host_network=bool(spec.get("hostNetwork")),
        containers=tuple(found),
        volumes=tuple(volumes),
        system_volumes=system_volumes,
        patterns=tuple(patterns(found, set(system_volumes))),
        mounts=tuple(_mounts(found, volumes, system_volumes)),
    )


def _mounts(found: list[Container], volumes: list[dict[str, Any]], system_volumes: frozenset[str]) -> list[Mount]:
    vol_index = {v.get("name"): i for i, v in enumerate(volumes)}
    mounts = []
    for i, c in enumerate(found):
        # A mount of a volume missing from spec.volumes has nothing to point at, so it gets no edge.
        drawn = [m for m in c.spec.get("volumeMounts") or [] if m.get("name") in vol_index]
        mounts += [
            Mount(
                container=i,
                slot=slot,
                volume=vol_index[m["name"]],
                name=m["name"],
                path=m.get("mountPath", ""),
                read_only=bool(m.get("readOnly")),
                sub_path=m.get("subPath", ""),
                system=m["name"] in system_volumes,
            )
            for slot, m in enumerate(drawn)
        ]
    return mounts


# --- what a container's box says ------------------------------------------------------------------------------


def short_command(spec: dict[str, Any]) -> str:
    """Command and args on one line, or a note that the image's own command runs."""
    parts = [*(spec.get("command") or []), *(spec.get("args") or [])]
    return re.sub(r"\s+", " ", " ".join(str(p) for p in parts)).strip() or "(image default command)"


def port_text(port: dict[str, Any]) -> str:
    """A container port as 80/TCP."""
    return f"{port.get('containerPort')}/{port.get('protocol') or 'TCP'}"


def _state(status: dict[str, Any] | None, kind: str) -> tuple[str, str, str]:
    """Return (status class, state text, init progress) for one container status."""
    if not status:
        return "unknown", "no status yet", "waiting"
    state = status.get("state") or {}
    if "running" in state:
        ready = status.get("ready", False) or kind == "init"
        return ("ok" if ready else "warn"), "running", "running"
    if "terminated" in state:
        term = state["terminated"] or {}
        code = term.get("exitCode", 0)
        reason = term.get("reason") or ""
        text = f"terminated: exit {code}" + (f" ({reason})" if reason else "")
        return ("done" if code == 0 else "error"), text, ("done" if code == 0 else "failed")
    if "waiting" in state:
        reason = (state["waiting"] or {}).get("reason") or ""
        # Coloured as the container cards and the pod table colour the same reason.
        return reason_class(reason) if reason else "warn", f"waiting: {reason or 'pending'}", "waiting"
    return "unknown", "no state yet", "waiting"


def describe(c: Container) -> tuple[str, str, str]:
    """Return (status class, state text, kind text) of one container as its box shows them."""
    cls, state_text, progress = _state(c.status, c.kind)
    if c.kind == "init":
        # An init container's colour tells its progress: done, running or failed.
        cls = {"done": "done", "running": "ok", "failed": "error"}.get(progress, cls)
        return cls, state_text, f"init {c.order} · {progress}"
    if c.kind == "sidecar":
        return cls, state_text, f"native sidecar · starts as init {c.order}"
    if c.kind == "ephemeral":
        return cls, state_text, "ephemeral (debug) container"
    return cls, state_text, "container"


# --- volumes --------------------------------------------------------------------------------------------------


def volume_source(volume: dict[str, Any]) -> tuple[str, str]:
    """Return (type, source text) for one spec.volumes entry."""
    kind = next((k for k in volume if k != "name"), "emptyDir")
    src = volume.get(kind) or {}
    if kind == "emptyDir":
        text = "in memory (tmpfs)" if src.get("medium") == "Memory" else "on the node's disk"
        return kind, text + (f", limit {src['sizeLimit']}" if src.get("sizeLimit") else "")
    if kind == "configMap":
        return kind, src.get("name", "")
    if kind == "secret":
        return kind, src.get("secretName", "")
    if kind == "persistentVolumeClaim":
        return "PVC", "claim " + src.get("claimName", "") + (" (read-only)" if src.get("readOnly") else "")
    if kind == "hostPath":
        return kind, src.get("path", "") + (f" ({src['type']})" if src.get("type") else "")
    if kind == "projected":
        parts = []
        for source in src.get("sources") or []:
            for key, value in source.items():
                ref = (value or {}).get("name") if key in ("configMap", "secret") else None
                parts.append(f"{key} {ref}" if ref else key)
        return kind, ", ".join(parts)
    if kind == "downwardAPI":
        paths = [item.get("path", "") for item in src.get("items") or []]
        return kind, ", ".join(paths) or "pod fields"
    if kind == "csi":
        return kind, "driver " + src.get("driver", "")
    if kind == "ephemeral":
        claim = (src.get("volumeClaimTemplate") or {}).get("spec") or {}
        size = ((claim.get("resources") or {}).get("requests") or {}).get("storage", "")
        cls = claim.get("storageClassName", "")
        return kind, " ".join(p for p in ("claim per pod", cls, size) if p)
    if kind == "nfs":
        return kind, f"{src.get('server', '')}:{src.get('path', '')}"
    return kind, ""


# --- multi-container patterns ---------------------------------------------------------------------------------


def image_name(image: str) -> str:
    """The bare image name: no registry, repository path, tag or digest."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _main_container(regular: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first regular container that exposes a port, or the first regular container if none does."""
    return next((c for c in regular if c.get("ports")), regular[0] if regular else None)


def _helpers(
    regular: list[dict[str, Any]], main: dict[str, Any] | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (name, reason) of each ambassador and each adapter: other containers serving ports for known images."""
    ambassadors, adapters = [], []
    for c in regular:
        if c is main or not c.get("ports"):
            continue
        name, ports = image_name(c.get("image", "")), ", ".join(port_text(p) for p in c["ports"])
        if name in PROXY_IMAGES:
            ambassadors.append((c["name"], f"{c['name']} runs {name}, a proxy, on {ports}"))
        elif name.endswith(("-exporter", "-adapter")) or "prometheus" in name:
            adapters.append((c["name"], f"{c['name']} runs {name}, an exporter, on {ports}"))
    return ambassadors, adapters


def _sharing(
    regular: list[dict[str, Any]], main: dict[str, Any], special: set[str], system_volumes: set[str]
) -> list[tuple[str, str]]:
    """The (name, reason) of each other container that mounts a volume the main container mounts too."""
    found = []
    main_volumes = {m.get("name") for m in main.get("volumeMounts") or []} - system_volumes
    for c in regular:
        if c is main or c["name"] in special:
            continue
        shared = sorted(main_volumes & {m.get("name") for m in c.get("volumeMounts") or []})
        if shared:
            reason = f"{c['name']} shares volume {', '.join(shared)} with the main container {main['name']}"
            found.append((c["name"], reason))
    return found


def patterns(found: list[Container], system_volumes: set[str]) -> list[Pattern]:
    """Recognise the multi-container patterns; see docs/diagram.md for the rules in words."""
    recognised: list[Pattern] = []
    inits = [c.spec["name"] for c in found if c.kind == "init"]
    if inits:
        reason = f"{', '.join(inits)} run to completion, in order, before the app starts"
        recognised.append(Pattern("init", tuple(inits), reason))

    regular = [c.spec for c in found if c.kind == "container"]
    main = _main_container(regular)
    ambassadors, adapters = _helpers(regular, main)
    special = {n for n, _ in ambassadors + adapters}
    sidecars = [(c.spec["name"], f"{c.spec['name']} is a native sidecar (restartPolicy Always)") for c in found]
    sidecars = [s for s, c in zip(sidecars, found, strict=True) if c.kind == "sidecar"]
    if main is not None:
        sidecars += _sharing(regular, main, special, system_volumes)
    for pattern, items in (("sidecar", sidecars), ("ambassador", ambassadors), ("adapter", adapters)):
        if items:
            recognised.append(Pattern(pattern, tuple(n for n, _ in items), "; ".join(r for _, r in items)))
    return recognised
