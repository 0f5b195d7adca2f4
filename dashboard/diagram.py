"""Lay out one pod's architecture diagram: every box, edge, label and text, ready for the SVG template to place."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Monospace keeps width estimates honest: every glyph is 0.6em, and 0.62 leaves room for font differences.
FONT_FAMILY = 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace'
CHAR_WIDTH = 0.62
TITLE_SIZE = 22
NAME_SIZE = 18
TEXT_SIZE = 15

MARGIN = 16
PAD = 24
MIN_INNER = 760
CONTAINER_W = 340
CONTAINER_H = 182
VOLUME_W = 280
VOLUME_H = 88
GUTTER = 48
ROW_GAP = 56
VOLUME_ROW_GAP = 48
MAX_CONTAINER_COLS = 4
MAX_VOLUME_COLS = 5
LANE = 28
BOX_TEXT_PAD = 14
LABEL_MAX_CHARS = 64

ERROR_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "OOMKilled",
        "Error",
    }
)
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
class Rect:
    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def contains(self, other: Rect) -> bool:
        """True when other lies wholly inside this rectangle."""
        return self.x <= other.x and other.right <= self.right and self.y <= other.y and other.bottom <= self.bottom

    def overlaps(self, other: Rect) -> bool:
        """True when the two rectangles share any area (touching edges do not count)."""
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    full: str
    size: int
    cls: str = ""

    @property
    def bounds(self) -> Rect:
        """The area the text can cover, using the conservative character width."""
        return Rect(self.x, self.y - self.size, len(self.text) * self.size * CHAR_WIDTH, self.size * 1.25)


@dataclass(frozen=True)
class ContainerBox:
    name: str
    kind: str  # init, sidecar, container, ephemeral
    order: int | None
    status: str  # ok, warn, error, done, unknown
    state: str
    image: str
    command: str
    ready: bool
    restart_count: int
    ports: tuple[str, ...]
    rect: Rect
    texts: tuple[Text, ...]


@dataclass(frozen=True)
class VolumeBox:
    name: str
    type: str
    source: str
    system: bool
    rect: Rect
    texts: tuple[Text, ...]


@dataclass(frozen=True)
class Edge:
    container: str
    volume: str
    mount_path: str
    read_only: bool
    sub_path: str
    system: bool
    points: tuple[tuple[float, float], ...]
    label: Text

    @property
    def polyline(self) -> str:
        """The points in the form the SVG points attribute takes."""
        return " ".join(f"{x:g},{y:g}" for x, y in self.points)


@dataclass(frozen=True)
class PortChip:
    port: int
    protocol: str
    name: str
    container: str
    rect: Rect
    label: Text


@dataclass(frozen=True)
class NetworkBand:
    ip: str
    hostname: str
    rect: Rect
    texts: tuple[Text, ...]
    ports: tuple[PortChip, ...]


@dataclass(frozen=True)
class Badge:
    pattern: str
    containers: tuple[str, ...]
    reason: str
    rect: Rect
    label: Text


@dataclass(frozen=True)
class PodDiagram:
    name: str
    namespace: str
    node: str
    phase: str
    status: str
    width: float
    height: float
    font_family: str
    pod_rect: Rect
    texts: tuple[Text, ...]
    network: NetworkBand
    containers: tuple[ContainerBox, ...]
    volumes: tuple[VolumeBox, ...]
    edges: tuple[Edge, ...]
    badges: tuple[Badge, ...]

    @property
    def view_box(self) -> str:
        """The SVG viewBox covering the whole drawing."""
        return f"0 0 {self.width:g} {self.height:g}"


def fit(text: str, width: float, size: int) -> str:
    """Shorten text with an ellipsis so it fits width pixels at the given font size."""
    limit = max(1, int(width // (size * CHAR_WIDTH)))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, full: str, width: float, size: int, cls: str = "") -> Text:
    return Text(x, y, fit(full, width, size), full, size, cls)


def image_name(image: str) -> str:
    """The bare image name: no registry, repository path, tag or digest."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0].lower()


def _short_command(spec: dict[str, Any]) -> str:
    parts = [*(spec.get("command") or []), *(spec.get("args") or [])]
    return re.sub(r"\s+", " ", " ".join(str(p) for p in parts)).strip() or "(image default command)"


def _port_text(port: dict[str, Any]) -> str:
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
        return ("error" if reason in ERROR_REASONS else "warn"), f"waiting: {reason or 'pending'}", "waiting"
    return "unknown", "no state yet", "waiting"


def _volume_source(volume: dict[str, Any]) -> tuple[str, str]:
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


@dataclass(frozen=True)
class _Entry:
    spec: dict[str, Any]
    kind: str
    order: int | None
    status: dict[str, Any] | None


def _entries(pod: dict[str, Any]) -> list[_Entry]:
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}

    def by_name(key: str) -> dict[str, dict[str, Any]]:
        return {s.get("name"): s for s in status.get(key) or []}

    init_status = by_name("initContainerStatuses")
    main_status = by_name("containerStatuses")
    eph_status = by_name("ephemeralContainerStatuses")
    entries = []
    for i, c in enumerate(spec.get("initContainers") or [], start=1):
        kind = "sidecar" if c.get("restartPolicy") == "Always" else "init"
        entries.append(_Entry(c, kind, i, init_status.get(c.get("name"))))
    entries += [_Entry(c, "container", None, main_status.get(c.get("name"))) for c in spec.get("containers") or []]
    entries += [
        _Entry(c, "ephemeral", None, eph_status.get(c.get("name"))) for c in spec.get("ephemeralContainers") or []
    ]
    return entries


def _badges(entries: list[_Entry], system_volumes: set[str]) -> list[tuple[str, tuple[str, ...], str]]:
    """Recognise the multi-container patterns; see docs/diagram.md for the rules in words."""
    found: list[tuple[str, tuple[str, ...], str]] = []
    inits = [e.spec["name"] for e in entries if e.kind == "init"]
    if inits:
        found.append(("init", tuple(inits), f"{', '.join(inits)} run to completion, in order, before the app starts"))

    regular = [e.spec for e in entries if e.kind == "container"]
    main = next((c for c in regular if c.get("ports")), regular[0] if regular else None)
    ambassadors, adapters = [], []
    for c in regular:
        if c is main or not c.get("ports"):
            continue
        name, ports = image_name(c.get("image", "")), ", ".join(_port_text(p) for p in c["ports"])
        if name in PROXY_IMAGES:
            ambassadors.append((c["name"], f"{c['name']} runs {name}, a proxy, on {ports}"))
        elif name.endswith(("-exporter", "-adapter")) or "prometheus" in name:
            adapters.append((c["name"], f"{c['name']} runs {name}, an exporter, on {ports}"))
    special = {n for n, _ in ambassadors + adapters}

    sidecars = [(e.spec["name"], f"{e.spec['name']} is a native sidecar (restartPolicy Always)") for e in entries]
    sidecars = [s for s, e in zip(sidecars, entries, strict=True) if e.kind == "sidecar"]
    if main is not None:
        main_volumes = {m.get("name") for m in main.get("volumeMounts") or []} - system_volumes
        for c in regular:
            if c is main or c["name"] in special:
                continue
            shared = sorted(main_volumes & {m.get("name") for m in c.get("volumeMounts") or []})
            if shared:
                reason = f"{c['name']} shares volume {', '.join(shared)} with the main container {main['name']}"
                sidecars.append((c["name"], reason))
    for pattern, items in (("sidecar", sidecars), ("ambassador", ambassadors), ("adapter", adapters)):
        if items:
            found.append((pattern, tuple(n for n, _ in items), "; ".join(r for _, r in items)))
    return found


def _grid(count: int, cols: int, box_w: float, left: float, inner_w: float) -> tuple[float, list[float]]:
    """Column x positions for a grid centred in the inner width, each column with half a gutter either side."""
    grid_w = cols * (box_w + GUTTER)
    start = left + (inner_w - grid_w) / 2 + GUTTER / 2
    return grid_w, [start + i * (box_w + GUTTER) for i in range(max(cols, 1))]


def _flow_chips(labels: list[tuple[str, str]], left: float, top: float, width: float) -> list[tuple[Rect, Text]]:
    """Place text chips left to right, wrapping into rows inside width."""
    placed, x, y = [], left, top
    for short, full in labels:
        text = fit(short, width - 20, TEXT_SIZE)
        w = len(text) * TEXT_SIZE * CHAR_WIDTH + 20
        if x > left and x + w > left + width:
            x, y = left, y + 36
        placed.append((Rect(x, y, w, 28), Text(x + 10, y + 20, text, full, TEXT_SIZE, "chip")))
        x += w + 12
    return placed


def layout(pod: dict[str, Any]) -> PodDiagram:
    """Compute the whole diagram of one pod (a camelCase dict as the API serves it, with or without status)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace") or "default"
    node, phase = spec.get("nodeName") or "not scheduled", status.get("phase") or "Unknown"
    entries = _entries(pod)
    volumes = spec.get("volumes") or []
    system_volumes = {
        v["name"] for v in volumes if v.get("name", "").startswith("kube-api-access-") and "projected" in v
    }
    badge_specs = _badges(entries, system_volumes)

    n_c, n_v = len(entries), len(volumes)
    c_cols = max(1, min(n_c, MAX_CONTAINER_COLS))
    v_cols_max = max(1, min(n_v, MAX_VOLUME_COLS))
    inner_w = max(MIN_INNER, c_cols * (CONTAINER_W + GUTTER), v_cols_max * (VOLUME_W + GUTTER))
    v_cols = max(1, min(n_v, int(inner_w // (VOLUME_W + GUTTER))))
    left, top = MARGIN + PAD, MARGIN
    texts: list[Text] = [
        _text(left, top + 36, name, inner_w, TITLE_SIZE, "pod-name"),
        _text(left, top + 62, f"namespace {namespace} · node {node} · {phase}", inner_w, TEXT_SIZE, "meta"),
    ]

    chips = _flow_chips([(f"{p}: {', '.join(cs)}", r) for p, cs, r in badge_specs], left, top + 76, inner_w)
    badges = [Badge(p, cs, r, rect, label) for (p, cs, r), (rect, label) in zip(badge_specs, chips, strict=True)]
    y = (chips[-1][0].bottom if chips else top + 70) + 16

    # Network band: the one IP every container shares.
    ip = status.get("podIP") or "no IP yet"
    hostname = spec.get("hostname") or name
    band_left = left + 16
    band_texts = [
        _text(band_left, y + 28, f"Pod IP {ip} · hostname {hostname}", inner_w - 32, NAME_SIZE - 2, "net-title"),
    ]
    port_specs = [(e.spec["name"], p) for e in entries for p in e.spec.get("ports") or []]
    port_labels = [
        (
            f"{_port_text(p)}{' ' + p['name'] if p.get('name') else ''} → {c}",
            f"port {_port_text(p)}{' (' + p['name'] + ')' if p.get('name') else ''} of container {c}",
        )
        for c, p in port_specs
    ]
    port_chips = _flow_chips(port_labels, band_left, y + 42, inner_w - 32)
    after_ports = port_chips[-1][0].bottom + 26 if port_chips else y + 56
    band_texts.append(
        _text(
            band_left,
            after_ports,
            "All containers share this IP and reach each other on localhost",
            inner_w - 32,
            TEXT_SIZE,
            "net-note",
        )
    )
    band = NetworkBand(
        ip,
        hostname,
        Rect(left, y, inner_w, after_ports + 14 - y),
        tuple(band_texts),
        tuple(
            PortChip(p.get("containerPort", 0), p.get("protocol") or "TCP", p.get("name", ""), c, rect, label)
            for (c, p), (rect, label) in zip(port_specs, port_chips, strict=True)
        ),
    )

    # Containers in a grid, wrapping after MAX_CONTAINER_COLS.
    c_top = band.rect.bottom + 32
    _, c_xs = _grid(n_c, c_cols, CONTAINER_W, left, inner_w)
    containers: list[ContainerBox] = []
    tw = CONTAINER_W - 2 * BOX_TEXT_PAD
    for i, e in enumerate(entries):
        row, col = divmod(i, c_cols)
        rect = Rect(c_xs[col], c_top + row * (CONTAINER_H + ROW_GAP), CONTAINER_W, CONTAINER_H)
        cls, state_text, progress = _state(e.status, e.kind)
        if e.kind == "init":
            cls = {"done": "done", "running": "ok", "failed": "error"}.get(progress, cls)
            kind_text = f"init {e.order} · {progress}"
        elif e.kind == "sidecar":
            kind_text = f"native sidecar · starts as init {e.order}"
        elif e.kind == "ephemeral":
            kind_text = "ephemeral (debug) container"
        else:
            kind_text = "container"
        ready = bool((e.status or {}).get("ready", False))
        restarts = int((e.status or {}).get("restartCount", 0))
        ports = tuple(_port_text(p) for p in e.spec.get("ports") or [])
        image, command = e.spec.get("image", ""), _short_command(e.spec)
        x = rect.x + BOX_TEXT_PAD
        lines = [
            (e.spec["name"], NAME_SIZE, "name"),
            (kind_text, TEXT_SIZE, "kind"),
            (image, TEXT_SIZE, "image"),
            ("$ " + command, TEXT_SIZE, "command"),
            (state_text, TEXT_SIZE, "state"),
            (f"{'ready' if ready else 'not ready'} · restarts {restarts}", TEXT_SIZE, "ready"),
            ("ports " + ", ".join(ports) if ports else "no ports", TEXT_SIZE, "ports"),
        ]
        box_texts = tuple(
            _text(x, rect.y + 30 + j * 23, line, tw, size, tcls) for j, (line, size, tcls) in enumerate(lines)
        )
        containers.append(
            ContainerBox(
                e.spec["name"],
                e.kind,
                e.order,
                cls,
                state_text,
                image,
                command,
                ready,
                restarts,
                ports,
                rect,
                box_texts,
            )
        )
    c_rows = (n_c + c_cols - 1) // c_cols if n_c else 0
    c_bottom = c_top + c_rows * (CONTAINER_H + ROW_GAP) - ROW_GAP if n_c else c_top

    # One lane per mount in the channel between containers and volumes; each label sits on its own lane.
    mounts = [
        (ci, m)
        for ci, e in enumerate(entries)
        for m in e.spec.get("volumeMounts") or []
        if m.get("name") in {v.get("name") for v in volumes}
    ]
    channel_top = c_bottom + 16
    lanes_bottom = channel_top + len(mounts) * LANE + (12 if mounts else 0)
    v_top = lanes_bottom + 20
    _, v_xs = _grid(n_v, v_cols, VOLUME_W, left, inner_w)
    vol_index = {v.get("name"): i for i, v in enumerate(volumes)}
    vol_boxes: list[VolumeBox] = []
    vtw = VOLUME_W - 2 * BOX_TEXT_PAD
    for i, v in enumerate(volumes):
        row, col = divmod(i, v_cols)
        rect = Rect(v_xs[col], v_top + row * (VOLUME_H + VOLUME_ROW_GAP), VOLUME_W, VOLUME_H)
        vtype, source = _volume_source(v)
        x = rect.x + BOX_TEXT_PAD
        vol_texts = (
            _text(x, rect.y + 30, v["name"], vtw, NAME_SIZE, "name"),
            _text(x, rect.y + 54, vtype + (" · system" if v["name"] in system_volumes else ""), vtw, TEXT_SIZE, "type"),
            _text(x, rect.y + 77, source or "—", vtw, TEXT_SIZE, "source"),
        )
        vol_boxes.append(VolumeBox(v["name"], vtype, source, v["name"] in system_volumes, rect, vol_texts))
    v_rows = (n_v + v_cols - 1) // v_cols if n_v else 0
    v_bottom = v_top + v_rows * (VOLUME_H + VOLUME_ROW_GAP) - VOLUME_ROW_GAP if n_v else lanes_bottom

    per_container = {ci: [m for cj, m in mounts if cj == ci] for ci in range(n_c)}
    per_volume: dict[int, list[int]] = {}
    for k, (_, m) in enumerate(mounts):
        per_volume.setdefault(vol_index[m["name"]], []).append(k)
    gutter_use: dict[tuple[str, int], int] = {}

    def gutter_x(side: str, x_edge: float) -> float:
        # Spread parallel runs across the gutter so they stay distinguishable.
        key = (side, round(x_edge))
        n = gutter_use.get(key, 0)
        gutter_use[key] = n + 1
        return x_edge + ((n % 7) - 3) * 5

    edges: list[Edge] = []
    for k, (ci, m) in enumerate(mounts):
        box, vi = containers[ci].rect, vol_index[m["name"]]
        vbox = vol_boxes[vi].rect
        j, siblings = per_container[ci].index(m), len(per_container[ci])
        lane_y = channel_top + 24 + k * LANE
        sx = box.x + box.w * (j + 1) / (siblings + 1)
        points: list[tuple[float, float]] = [(sx, box.bottom)]
        if ci // c_cols < c_rows - 1:
            jog = box.bottom + 10 + (j % 9) * 4
            gx = gutter_x("c", box.right + GUTTER / 2)
            points += [(sx, jog), (gx, jog), (gx, lane_y)]
        else:
            points.append((sx, lane_y))
        incoming = per_volume[vi]
        tx = vbox.x + vbox.w * (incoming.index(k) + 1) / (len(incoming) + 1)
        if vi // v_cols > 0:
            gx = gutter_x("v", vbox.x - GUTTER / 2)
            jog = vbox.y - 10 - (incoming.index(k) % 7) * 4
            points += [(gx, lane_y), (gx, jog), (tx, jog), (tx, vbox.y)]
        else:
            points += [(tx, lane_y), (tx, vbox.y)]
        path, ro, sub = m.get("mountPath", ""), bool(m.get("readOnly")), m.get("subPath", "")
        short = path + (" (ro)" if ro else "") + (f" subPath {sub}" if sub else "")
        full = f"{containers[ci].name} mounts {m['name']} at {path}" + (" read-only" if ro else "")
        full += f" (subPath {sub})" if sub else ""
        label_text = fit(short, min(inner_w, LABEL_MAX_CHARS * TEXT_SIZE * CHAR_WIDTH), TEXT_SIZE)
        label_w = len(label_text) * TEXT_SIZE * CHAR_WIDTH
        start_x = next(x for x, y in points if y == lane_y)
        lx = min(max(start_x + 8, left), left + inner_w - label_w)
        system = m["name"] in system_volumes
        label = Text(lx, lane_y - 7, label_text, full, TEXT_SIZE, "mount system" if system else "mount")
        edges.append(Edge(containers[ci].name, m["name"], path, ro, sub, system, tuple(points), label))

    # Pattern reasons in words under the volumes, for the back of the room.
    content_bottom = v_bottom
    for pattern, _, reason in badge_specs:
        content_bottom += 26
        texts.append(_text(left, content_bottom, f"{pattern}: {reason}", inner_w, TEXT_SIZE, "reason"))
    pod_rect = Rect(MARGIN, MARGIN, inner_w + 2 * PAD, content_bottom + PAD - MARGIN)
    return PodDiagram(
        name=name,
        namespace=namespace,
        node=node,
        phase=phase,
        status=PHASE_STATUS.get(phase, "unknown"),
        width=pod_rect.right + MARGIN,
        height=pod_rect.bottom + MARGIN,
        font_family=FONT_FAMILY,
        pod_rect=pod_rect,
        texts=tuple(texts),
        network=band,
        containers=tuple(containers),
        volumes=tuple(vol_boxes),
        edges=tuple(edges),
        badges=tuple(badges),
    )
