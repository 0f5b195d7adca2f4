"""Lay out one pod's architecture diagram: every box, edge, label and text, ready for the SVG template to place."""

from __future__ import annotations

import math
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
ROW_GAP = 48
VOLUME_ROW_GAP = 48
MAX_CONTAINER_COLS = 6
MAX_VOLUME_COLS = 8
SCREEN_ASPECT = 16 / 9
BOX_TEXT_PAD = 14
CHIP_MAX_CHARS = 44
REASON_LINES = 3
# Mount edges. Under each container a comb: one drop per mount, turning right on its own mount line, which carries
# its label. Then tracks down the gutters, lanes across the channel between the grids and jogs in the gaps above
# lower volume rows. Parallel lines mostly keep 10px or more apart so that a projector keeps them distinct.
DROP_INSET = 22  # clear of the status bar and the rounded corner
DROP_STEP = 12
MIN_DROP_STEP = 8
DROP_SPAN = 160  # more than 14 mounts pack their drops closer rather than take their labels' room
MAX_COLUMN_TURNS = 4  # a bottom container with more mounts turns them down its gutter instead
COMB_TOP = 4
MOUNT_STEP = 28
LABEL_GAP = 8
MIN_PATH_CHARS = 16
TURN_GAP = 12
TRACK_PAD = 14
TRACK_STEP = 12
LANE_STEP = 14
LANE_CLEAR = 24
CHANNEL_PAD = 24
JOG_PAD = 16
JOG_STEP = 10
ARRIVE_PAD = 16
# Lines coming down from containers sit on x = k * LATTICE and lines going down to volumes half a step off, so two
# edges never share a vertical line. Downward lines that share a stretch are placed DOWN_STEP apart, which leaves
# them at least a lattice step apart once snapped.
LATTICE = TRACK_STEP
DOWN = LATTICE / 2
DOWN_STEP = 2 * LATTICE

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


def _wrap(text: str, width: float, size: int, max_lines: int) -> list[str]:
    """Break text at spaces into lines that fit width; the last allowed line ends in an ellipsis if text remains."""
    limit = max(2, int(width // (size * CHAR_WIDTH)))
    lines: list[str] = []
    rest = text
    while rest and len(lines) < max_lines:
        if len(rest) <= limit:
            lines.append(rest)
            return lines
        cut = rest.rfind(" ", 0, limit + 1)
        cut = cut if cut > 0 else limit
        lines.append(rest[:cut])
        rest = rest[cut:].lstrip()
    if rest:
        lines[-1] = fit(lines[-1] + " " + rest, width, size)
    return lines


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


@dataclass(frozen=True)
class _Mount:
    entry: int  # index of the container in drawing order
    slot: int  # position among that container's drawn mounts
    volume: int  # index in spec.volumes
    spec: dict[str, Any]


@dataclass(frozen=True)
class _Pod:
    name: str
    namespace: str
    node: str
    phase: str
    ip: str
    hostname: str
    host_network: bool
    entries: list[_Entry]
    volumes: list[dict[str, Any]]
    system_volumes: frozenset[str]
    badges: list[tuple[str, tuple[str, ...], str]]
    mounts: list[_Mount]


def _parse(pod: dict[str, Any]) -> _Pod:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    name = meta.get("name", "")
    entries = _entries(pod)
    volumes = spec.get("volumes") or []
    system_volumes = frozenset(
        v["name"] for v in volumes if v.get("name", "").startswith("kube-api-access-") and "projected" in v
    )
    vol_index = {v.get("name"): i for i, v in enumerate(volumes)}
    mounts = []
    for i, e in enumerate(entries):
        # A mount of a volume missing from spec.volumes has nothing to point at, so it gets no edge.
        drawn = [m for m in e.spec.get("volumeMounts") or [] if m.get("name") in vol_index]
        mounts += [_Mount(i, slot, vol_index[m["name"]], m) for slot, m in enumerate(drawn)]
    return _Pod(
        name=name,
        namespace=meta.get("namespace") or "default",
        node=spec.get("nodeName") or "not scheduled",
        # No status at all is a manifest being previewed, not a pod in an unknown state.
        phase=status.get("phase") or ("Unknown" if status else "not created yet"),
        ip=status.get("podIP") or "no IP yet",
        hostname=spec.get("hostname") or name,
        host_network=bool(spec.get("hostNetwork")),
        entries=entries,
        volumes=volumes,
        system_volumes=system_volumes,
        badges=_badges(entries, set(system_volumes)),
        mounts=mounts,
    )


def _flow_chips(
    labels: list[tuple[str, str]], left: float, top: float, width: float, max_chars: int | None = None
) -> list[tuple[Rect, Text]]:
    """Place text chips left to right, wrapping into rows inside width; max_chars caps each chip's text."""
    placed, x, y = [], left, top
    cap = width - 20 if max_chars is None else min(width - 20, max_chars * TEXT_SIZE * CHAR_WIDTH)
    for short, full in labels:
        text = fit(short, cap, TEXT_SIZE)
        w = len(text) * TEXT_SIZE * CHAR_WIDTH + 20
        if x > left and x + w > left + width:
            x, y = left, y + 36
        placed.append((Rect(x, y, w, 28), Text(x + 10, y + 20, text, full, TEXT_SIZE, "chip")))
        x += w + 12
    return placed


def _gutter(tracks: int, minimum: float, step: float = TRACK_STEP) -> float:
    """Width of a gutter that carries this many vertical tracks step apart, never narrower than minimum."""
    return max(minimum, 2 * TRACK_PAD + (tracks - 1) * step) if tracks else minimum


def _snap(x: float, offset: float = 0, up: bool = False) -> float:
    """The nearest point offset + k * LATTICE to x, or the first one at or after x when up."""
    k = (x - offset) / LATTICE
    return offset + (math.ceil(k) if up else round(k)) * LATTICE


def _track_block(gutter_left: float, gutter_w: float, tracks: int) -> float:
    """The x of the leftmost of some tracks centred in a gutter, moved onto the lattice."""
    return _snap(gutter_left + (gutter_w - (tracks - 1) * TRACK_STEP) / 2)


def _columns(gutters: list[float], widths: list[float], left: float, inner_w: float) -> list[float]:
    """Box x positions for columns centred in the inner width; gutters[c] lies left of column c, the last one right."""
    x = left + (inner_w - sum(gutters) - sum(widths)) / 2 + gutters[0]
    xs = []
    for w, g in zip(widths, gutters[1:], strict=True):
        xs.append(x)
        x += w + g
    return xs


def _mount_label(path: str, read_only: bool, sub_path: str, width: float) -> str:
    """The mount path with its read-only and subPath marks, shortened in the middle of the path to fit width."""
    marks = (" (ro)" if read_only else "") + (f" subPath {sub_path}" if sub_path else "")
    limit = max(1, int(width // (TEXT_SIZE * CHAR_WIDTH)))
    if len(path) + len(marks) <= limit:
        return path + marks
    if limit < MIN_PATH_CHARS:
        return fit(path + marks, width, TEXT_SIZE)
    # The start of a path says where it lives and its end names the directory, so both stay; the marks get the
    # rest, read-only first.
    keep = min(len(path), max(limit - len(marks), MIN_PATH_CHARS))
    if keep < len(path):
        head = (keep - 1) // 2
        path = path[:head] + "…" + path[len(path) - (keep - 1 - head) :]
    rest = limit - len(path)
    if len(marks) > rest:
        marks = marks[: rest - 1] + "…" if rest > 1 else ""
    return path + marks


def _downward(sources: list[float], lo: float, hi: float) -> list[float]:
    """Where lines going down sit between lo and hi, in the given order: under their sources where room allows."""
    spread = _spread([min(max(x, lo), hi) for x in sources], lo, hi, DOWN_STEP)
    # A line under its own source goes straight on; the others move onto the lattice of downward lines, which
    # leaves neighbours at least a lattice step apart.
    return [x if x == src else _snap(x, DOWN) for x, src in zip(spread, sources, strict=True)]


def _spread(targets: list[float], lo: float, hi: float, step: float) -> list[float]:
    """Increasing positions at least step apart within [lo, hi], each as near its target as the others allow."""
    # Shifting position i left by i steps turns the gaps into plain order; pooling neighbours that break the order
    # at their median is the least total move.
    blocks: list[list[float]] = []
    for v in (t - i * step for i, t in enumerate(targets)):
        blocks.append([v])
        while len(blocks) > 1 and _median(blocks[-2]) > _median(blocks[-1]):
            last = blocks.pop()
            blocks[-1] += last
    top = hi - (len(targets) - 1) * step
    shifted = [min(max(_median(block), lo), top) for block in blocks for _ in block]
    return [v + i * step for i, v in enumerate(shifted)]


def _median(values: list[float]) -> float:
    return sorted(values)[(len(values) - 1) // 2]


def _lanes(runs: list[tuple[float, float]]) -> list[int]:
    """Give each horizontal run (from x, to x) through the channel a lane, top first, crossing as few runs as it can."""
    spans = [(min(a, b), max(a, b)) for a, b in runs]
    # A run that comes down into another run's span must lie above it, else its drop from the top crosses that run;
    # so must one that comes down half a lattice step beside the span, else it runs that close to the other's drop.
    above: list[set[int]] = [set() for _ in runs]
    below: list[set[int]] = [set() for _ in runs]
    for i, (lo, hi) in enumerate(spans):
        for j, (a, _) in enumerate(runs):
            if j != i and lo - DOWN <= a <= hi + DOWN:
                above[i].add(j)
                below[j].add(i)
    # Place runs in that order; where the wishes form a cycle a crossing is unavoidable, so break it at the run with
    # the fewest unplaced runs still wanted above it. Runs share a lane only when they are well apart.
    unmet = [len(js) for js in above]
    lanes: list[int | None] = [None] * len(runs)
    taken: dict[int, list[tuple[float, float]]] = {}
    for _ in runs:
        i = min((i for i, lane in enumerate(lanes) if lane is None), key=lambda i: (unmet[i], i))
        lane = max((lane + 1 for j in above[i] if (lane := lanes[j]) is not None), default=0)
        lo, hi = spans[i]
        while any(lo < b + LANE_CLEAR and a < hi + LANE_CLEAR for a, b in taken.get(lane, [])):
            lane += 1
        lanes[i] = lane
        taken.setdefault(lane, []).append(spans[i])
        for j in below[i]:
            unmet[j] -= 1
    return [lane or 0 for lane in lanes]


def _orthogonal(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Drop repeated points and points in the middle of a straight run, so the polyline has only real corners."""
    kept: list[tuple[float, float]] = []
    for p in points:
        if kept and p == kept[-1]:
            continue
        if len(kept) >= 2 and (kept[-2][0] == kept[-1][0] == p[0] or kept[-2][1] == kept[-1][1] == p[1]):
            kept[-1] = p
        else:
            kept.append(p)
    return tuple(kept)


def _header(p: _Pod, left: float, inner_w: float) -> tuple[list[Text], list[Badge], NetworkBand]:
    """The pod's name and meta line, the pattern badges and the network band, top to bottom."""
    top = MARGIN
    texts = [
        _text(left, top + 36, p.name, inner_w, TITLE_SIZE, "pod-name"),
        _text(left, top + 62, f"namespace {p.namespace} · node {p.node} · {p.phase}", inner_w, TEXT_SIZE, "meta"),
    ]
    chips = _flow_chips([(f"{pat}: {', '.join(cs)}", r) for pat, cs, r in p.badges], left, top + 76, inner_w)
    badges = [Badge(pat, cs, r, rect, label) for (pat, cs, r), (rect, label) in zip(p.badges, chips, strict=True)]
    y = (chips[-1][0].bottom if chips else top + 70) + 16

    # The network band: the one IP every container shares.
    band_left = left + 16
    band_texts = [
        _text(band_left, y + 28, f"Pod IP {p.ip} · hostname {p.hostname}", inner_w - 32, NAME_SIZE - 2, "net-title"),
    ]
    port_specs = [(e.spec["name"], port) for e in p.entries for port in e.spec.get("ports") or []]
    port_labels = [
        (
            f"{_port_text(port)}{' ' + port['name'] if port.get('name') else ''} → {c}",
            f"port {_port_text(port)}{' (' + port['name'] + ')' if port.get('name') else ''} of container {c}",
        )
        for c, port in port_specs
    ]
    # Capped so that several ports share a row; the container's own box and the hover title give the full name.
    port_chips = _flow_chips(port_labels, band_left, y + 42, inner_w - 32, CHIP_MAX_CHARS)
    after_ports = port_chips[-1][0].bottom + 26 if port_chips else y + 56
    note = "All containers share this IP and reach each other on localhost"
    if p.host_network:
        # The pod has no network of its own: its IP and ports are the node's.
        note = "hostNetwork: the containers use the node's own IP and network"
    band_texts.append(_text(band_left, after_ports, note, inner_w - 32, TEXT_SIZE, "net-note"))
    band = NetworkBand(
        p.ip,
        p.hostname,
        Rect(left, y, inner_w, after_ports + 14 - y),
        tuple(band_texts),
        tuple(
            PortChip(port.get("containerPort", 0), port.get("protocol") or "TCP", port.get("name", ""), c, rect, label)
            for (c, port), (rect, label) in zip(port_specs, port_chips, strict=True)
        ),
    )
    return texts, badges, band


def _container_box(e: _Entry, rect: Rect) -> ContainerBox:
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
    lines = [
        (e.spec["name"], NAME_SIZE, "name"),
        (kind_text, TEXT_SIZE, "kind"),
        (image, TEXT_SIZE, "image"),
        ("$ " + command, TEXT_SIZE, "command"),
        (state_text, TEXT_SIZE, "state"),
        (f"{'ready' if ready else 'not ready'} · restarts {restarts}", TEXT_SIZE, "ready"),
        ("ports " + ", ".join(ports) if ports else "no ports", TEXT_SIZE, "ports"),
    ]
    x, tw = rect.x + BOX_TEXT_PAD, rect.w - 2 * BOX_TEXT_PAD
    texts = tuple(_text(x, rect.y + 30 + j * 23, line, tw, size, tcls) for j, (line, size, tcls) in enumerate(lines))
    return ContainerBox(
        e.spec["name"], e.kind, e.order, cls, state_text, image, command, ready, restarts, ports, rect, texts
    )


def _volume_box(v: dict[str, Any], rect: Rect, system: bool) -> VolumeBox:
    vtype, source = volume_source(v)
    x, tw = rect.x + BOX_TEXT_PAD, rect.w - 2 * BOX_TEXT_PAD
    texts = (
        _text(x, rect.y + 30, v["name"], tw, NAME_SIZE, "name"),
        _text(x, rect.y + 54, vtype + (" · system" if system else ""), tw, TEXT_SIZE, "type"),
        _text(x, rect.y + 77, source or "—", tw, TEXT_SIZE, "source"),
    )
    return VolumeBox(v["name"], vtype, source, system, rect, texts)


def _arrange(p: _Pod, c_cols: int, v_cols: int) -> PodDiagram:
    """Lay the pod out in c_cols container and v_cols volume columns; see docs/diagram.md for the rules in words."""
    left = MARGIN + PAD
    n_c, n_v, mounts = len(p.entries), len(p.volumes), p.mounts

    # Under each container its mounts leave as a comb: the drops stand left of the labels, each label sits on its own
    # mount line, and each line turns down on a track right of every label below it, so nothing crosses a label.
    # A container with another below it sends its tracks down the gutter to its right instead; tracks of upper rows
    # lie further out, so a lower row's mount line turns down before meeting them.
    per_entry = [[k for k, m in enumerate(mounts) if m.entry == i] for i in range(n_c)]
    via_gutter = [i + c_cols < n_c or len(ks) > MAX_COLUMN_TURNS for i, ks in enumerate(per_entry)]
    c_tracks = [
        [k for k, m in enumerate(mounts) if m.entry % c_cols == col and via_gutter[m.entry]] for col in range(c_cols)
    ]
    c_gutters = [GUTTER / 2] + [
        _gutter(len(t), GUTTER if col < c_cols - 1 else GUTTER / 2) for col, t in enumerate(c_tracks)
    ]
    # Many mounts pack their drops closer; a column widens only when even then its labels would lack room.
    steps = [min(DROP_STEP, max(MIN_DROP_STEP, DROP_SPAN / max(1, len(ks) - 1))) for ks in per_entry]
    needs = [
        DROP_INSET
        + (len(ks) - 1) * steps[i]
        + LABEL_GAP
        + MIN_PATH_CHARS * TEXT_SIZE * CHAR_WIDTH
        + (0 if via_gutter[i] else TURN_GAP + len(ks) * TRACK_STEP)
        for i, ks in enumerate(per_entry)
    ]
    c_widths = [max([CONTAINER_W, *needs[col::c_cols]]) for col in range(c_cols)]
    c_grid_w = sum(c_gutters) + sum(c_widths)
    drop_off = [0.0] * len(mounts)
    label_off = [0.0] * len(mounts)
    label_text = [""] * len(mounts)
    track_off = [0.0] * len(mounts)  # all from the column's left edge
    for i, ks in enumerate(per_entry):
        step, width = steps[i], c_widths[i % c_cols]
        room = width - DROP_INSET - (len(ks) - 1) * step - LABEL_GAP
        if not via_gutter[i]:
            # The turns take room from the labels, given back in part by the gutter when no track runs there.
            # Snapping each turn onto the lattice may move it one step right.
            room -= TURN_GAP + len(ks) * TRACK_STEP - (0 if c_tracks[i % c_cols] else GUTTER / 2 - 8)
        for k in ks:
            m = mounts[k].spec
            drop_off[k] = DROP_INSET + (len(ks) - 1 - mounts[k].slot) * step
            label_off[k] = DROP_INSET + (len(ks) - 1) * step + LABEL_GAP
            label_text[k] = _mount_label(m.get("mountPath", ""), bool(m.get("readOnly")), m.get("subPath", ""), room)
        widest = 0.0
        for k in reversed(ks):
            widest = max(widest, len(label_text[k]) * TEXT_SIZE * CHAR_WIDTH)
            track_off[k] = label_off[k] + widest + TURN_GAP + (len(ks) - 1 - mounts[k].slot) * TRACK_STEP
    for col, tracks in enumerate(c_tracks):
        for pos, k in enumerate(tracks):
            track_off[k] = c_widths[col] + (c_gutters[col + 1] + (len(tracks) - 1 - 2 * pos) * TRACK_STEP) / 2

    v_row = [i // v_cols for i in range(n_v)]
    v_col = [i % v_cols for i in range(n_v)]
    # A column of volumes widens when one of them takes more edges than fit its top a double lattice step apart.
    v_widths = [float(VOLUME_W)] * v_cols
    for vi in range(n_v):
        arriving = sum(m.volume == vi for m in mounts)
        v_widths[v_col[vi]] = max(v_widths[v_col[vi]], (arriving + 1) * DOWN_STEP)

    # A volume below the first row is reached down the gutter on the side its edge comes from. Deciding the side
    # needs rough positions; the final ones move both grids only sideways, so each side stays sensible.
    rough_w = max(MIN_INNER, c_grid_w, sum(v_widths) + v_cols * GUTTER)
    rough_c = _columns(c_gutters, c_widths, left, rough_w)
    rough_v = _columns([GUTTER / 2] + [GUTTER] * (v_cols - 1) + [GUTTER / 2], v_widths, left, rough_w)
    rough_a = [rough_c[m.entry % c_cols] + track_off[k] for k, m in enumerate(mounts)]
    groups: dict[tuple[int, str], list[int]] = {}
    for k, m in enumerate(mounts):
        if v_row[m.volume] > 0:
            side = "left" if rough_a[k] < rough_v[v_col[m.volume]] + v_widths[v_col[m.volume]] / 2 else "right"
            groups.setdefault((m.volume, side), []).append(k)
    # Within a group the edge from the outermost source takes the outermost track, the lowest jog and the arrival
    # nearest its side, so the group's edges nest without crossing.
    rank: dict[int, int] = {}
    for (_, side), ks in groups.items():
        ks.sort(key=lambda k: rough_a[k] if side == "left" else -rough_a[k])
        rank.update({k: r for r, k in enumerate(ks)})

    def outer(k: int) -> tuple[int, int]:
        return (-v_row[mounts[k].volume], rank[k])

    v_tracks: list[list[int]] = [[] for _ in range(v_cols + 1)]
    for g in range(v_cols + 1):
        # Left of the gutter's middle run the tracks jogging left, right of it those jogging right; the deepest
        # and outermost lie in the middle so that no track crosses a shallower jog.
        jog_left = [k for (vi, side), ks in groups.items() if side == "right" and v_col[vi] == g - 1 for k in ks]
        jog_right = [k for (vi, side), ks in groups.items() if side == "left" and v_col[vi] == g for k in ks]
        v_tracks[g] = sorted(jog_left, key=outer, reverse=True) + sorted(jog_right, key=outer)
    v_gutters = [_gutter(len(t), GUTTER / 2 if g in (0, v_cols) else GUTTER, DOWN_STEP) for g, t in enumerate(v_tracks)]
    v_grid_w = sum(v_gutters) + sum(v_widths)

    inner_w = max(MIN_INNER, c_grid_w, v_grid_w)
    c_xs = _columns(c_gutters, c_widths, left, inner_w)
    v_xs = _columns(v_gutters, v_widths, left, inner_w)
    texts, badges, band = _header(p, left, inner_w)

    # Container rows, each followed by the combs of its mounts.
    containers: list[ContainerBox] = []
    y = band.rect.bottom + 32
    c_bottom = y
    for row in range(-(-n_c // c_cols)):
        members = range(row * c_cols, min(n_c, (row + 1) * c_cols))
        for i in members:
            rect = Rect(c_xs[i % c_cols], y, c_widths[i % c_cols], CONTAINER_H)
            containers.append(_container_box(p.entries[i], rect))
        combs = max(len(per_entry[i]) for i in members)
        c_bottom = y + CONTAINER_H + (COMB_TOP + combs * MOUNT_STEP if combs else 0)
        y = c_bottom + ROW_GAP

    # The channel: one horizontal run per mount from its container track to its volume side.
    # Lines coming down from containers run on x = k * LATTICE, lines going down to volumes half a step off, so no
    # two edges ever share a vertical line.
    a = [_snap(c_xs[m.entry % c_cols] + track_off[k], up=True) for k, m in enumerate(mounts)]
    for col, tracks in enumerate(c_tracks):
        first = _track_block(c_xs[col] + c_widths[col], c_gutters[col + 1], len(tracks))
        for pos, k in enumerate(tracks):
            a[k] = first + (len(tracks) - 1 - pos) * TRACK_STEP
    b = [0.0] * len(mounts)
    for g, tracks in enumerate(v_tracks):
        gutter_left = v_xs[g - 1] + v_widths[g - 1] if g else v_xs[0] - v_gutters[0]
        lo, hi = gutter_left + TRACK_PAD, gutter_left + v_gutters[g] - TRACK_PAD
        for k, x in zip(tracks, _downward([a[k] for k in tracks], lo, hi), strict=True):
            b[k] = x
    arrivals: dict[int, list[int]] = {}
    for vi in range(n_v):
        if v_row[vi] == 0:
            arrivals[vi] = sorted((k for k, m in enumerate(mounts) if m.volume == vi), key=lambda k: a[k])
        else:
            arrivals[vi] = groups.get((vi, "left"), []) + groups.get((vi, "right"), [])[::-1]
    tx = [0.0] * len(mounts)
    for vi, ks in arrivals.items():
        box_x, box_w = v_xs[v_col[vi]], v_widths[v_col[vi]]
        if v_row[vi] == 0:
            # An edge into the first row goes straight down into the volume when its track already lies over it.
            xs = _downward([a[k] for k in ks], box_x + ARRIVE_PAD, box_x + box_w - ARRIVE_PAD)
            for k, x in zip(ks, xs, strict=True):
                tx[k] = b[k] = x
        else:
            for pos, k in enumerate(ks):
                tx[k] = _snap(box_x + box_w * (pos + 1) / (len(ks) + 1), DOWN)
    lanes = _lanes(list(zip(a, b, strict=True)))
    channel_top = c_bottom + CHANNEL_PAD
    v_top = channel_top + max(lanes, default=0) * LANE_STEP + CHANNEL_PAD if mounts else c_bottom + ROW_GAP

    # Volume rows; the gap above a lower row holds one jog per edge of its largest group.
    v_tops = [v_top]
    for row in range(1, -(-n_v // v_cols)):
        jogs = max((len(ks) for (vi, _), ks in groups.items() if v_row[vi] == row), default=0)
        gap = max(VOLUME_ROW_GAP, 2 * JOG_PAD + (jogs - 1) * JOG_STEP)
        v_tops.append(v_tops[-1] + VOLUME_H + gap)
    vol_boxes = [
        _volume_box(
            v, Rect(v_xs[v_col[i]], v_tops[v_row[i]], v_widths[v_col[i]], VOLUME_H), v["name"] in p.system_volumes
        )
        for i, v in enumerate(p.volumes)
    ]

    edges: list[Edge] = []
    for k, m in enumerate(mounts):
        box, vbox = containers[m.entry].rect, vol_boxes[m.volume].rect
        # The comb: the first mount drops furthest right and turns on the highest line, so drops never cut labels.
        drop_x = box.x + drop_off[k]
        line_y = box.bottom + COMB_TOP + (m.slot + 1) * MOUNT_STEP
        lane_y = channel_top + lanes[k] * LANE_STEP
        points = [(drop_x, box.bottom), (drop_x, line_y), (a[k], line_y), (a[k], lane_y), (b[k], lane_y)]
        if v_row[m.volume] > 0:
            jog_y = vbox.y - JOG_PAD - rank[k] * JOG_STEP
            points += [(b[k], jog_y), (tx[k], jog_y)]
        points.append((tx[k], vbox.y))

        path, ro, sub = m.spec.get("mountPath", ""), bool(m.spec.get("readOnly")), m.spec.get("subPath", "")
        full = f"{containers[m.entry].name} mounts {m.spec['name']} at {path}" + (" read-only" if ro else "")
        full += f" (subPath {sub})" if sub else ""
        system = m.spec["name"] in p.system_volumes
        cls = "mount system" if system else "mount"
        label = Text(box.x + label_off[k], line_y - 7, label_text[k], full, TEXT_SIZE, cls)
        edges.append(Edge(containers[m.entry].name, m.spec["name"], path, ro, sub, system, _orthogonal(points), label))

    # Pattern reasons in words under the volumes, for the back of the room.
    content_bottom = (vol_boxes[-1].rect.bottom if vol_boxes else c_bottom) + 8
    for pattern, _, reason in p.badges:
        for line in _wrap(f"{pattern}: {reason}", inner_w, TEXT_SIZE, REASON_LINES):
            content_bottom += 22
            texts.append(Text(left, content_bottom, line, f"{pattern}: {reason}", TEXT_SIZE, "reason"))
        content_bottom += 4
    pod_rect = Rect(MARGIN, MARGIN, inner_w + 2 * PAD, content_bottom + PAD - MARGIN)
    return PodDiagram(
        name=p.name,
        namespace=p.namespace,
        node=p.node,
        phase=p.phase,
        status=PHASE_STATUS.get(p.phase, "unknown"),
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


def layout(pod: dict[str, Any]) -> PodDiagram:
    """Compute the whole diagram of one pod (a camelCase dict as the API serves it, with or without status)."""
    p = _parse(pod)
    # Try the column counts that make sense and keep the drawing a 16:9 screen shows largest, the more compact one
    # on a tie. Volume rows stay even: the fewest rows of at most MAX_VOLUME_COLS, or one more.
    n_v = len(p.volumes)
    fewest = -(-n_v // MAX_VOLUME_COLS)
    v_options = sorted({max(1, -(-n_v // rows)) for rows in (fewest, fewest + 1) if rows}) or [1]
    drawings = [
        _arrange(p, c_cols, v_cols)
        for c_cols in range(1, max(1, min(len(p.entries), MAX_CONTAINER_COLS)) + 1)
        for v_cols in v_options
    ]
    return min(drawings, key=lambda d: (max(d.width, d.height * SCREEN_ASPECT), d.width * d.height))
