"""Arrange one pod's diagram in a given number of container and volume columns.

Boxes go in two grids, containers above volumes; each mount's edge is routed in phases over one `Route` record per
mount: its comb under the container, its track down a gutter, its lane through the channel between the grids, its
way down to the volume and its arrival there. docs/diagram.md gives the rules in words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.diagram.boxes import container_box, header, reasons, volume_box
from dashboard.diagram.geometry import (
    DOWN,
    DOWN_STEP,
    TRACK_PAD,
    TRACK_STEP,
    columns,
    downward,
    gutter,
    lanes,
    orthogonal,
    snap,
    track_block,
)
from dashboard.diagram.model import Mount, Pod
from dashboard.diagram.shapes import (
    CHAR_WIDTH,
    FONT_FAMILY,
    MIN_PATH_CHARS,
    TEXT_SIZE,
    ContainerBox,
    Edge,
    PodDiagram,
    Rect,
    Text,
    VolumeBox,
    mount_label,
)

MARGIN = 16
PAD = 24
LEFT = MARGIN + PAD
MIN_INNER = 760
CONTAINER_W = 340
CONTAINER_H = 182
VOLUME_W = 280
VOLUME_H = 88
GUTTER = 48
ROW_GAP = 48
VOLUME_ROW_GAP = 48
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
TURN_GAP = 12
LANE_STEP = 14
CHANNEL_PAD = 24
JOG_PAD = 16
JOG_STEP = 10
ARRIVE_PAD = 16


@dataclass
class Route:
    """One mount's edge from its container down to its volume, filled in phase by phase.

    drop, label_x and track count from the left edge of the container's column; rough, up, down and arrive are x
    positions in the drawing.
    """

    mount: Mount
    via_gutter: bool = False  # its container sends its mounts down the gutter right of its column
    drop: float = 0.0  # where it drops from the container's bottom
    label_x: float = 0.0  # where its label starts on its mount line
    label: str = ""  # the mount path with its marks, shortened to the room there is
    track: float = 0.0  # where it turns down from its mount line
    rough: float = 0.0  # where it turns down, with the columns placed in a rough width
    side: str = ""  # into a lower volume row: "left" or "right", the side of the volume it comes down on
    rank: int = 0  # among the edges coming down that side of that volume, 0 for the outermost source
    up: float = 0.0  # the line coming down from its mount line to its lane
    down: float = 0.0  # the line going down from its lane towards the volume
    arrive: float = 0.0  # where it reaches the top of the volume
    lane: int = 0  # its lane through the channel, 0 at the top


@dataclass
class _Grid:
    """One grid of boxes: its column widths, the gutters around the columns and the tracks each gutter carries."""

    widths: list[float]
    gutters: list[float]  # gutters[g] lies left of column g; the last one lies right of the last column
    tracks: list[list[Route]]  # tracks[g] run down gutter g
    xs: list[float] = field(default_factory=list)  # each column's left edge, once placed

    @property
    def width(self) -> float:
        """The width of the columns with their gutters."""
        return sum(self.gutters) + sum(self.widths)

    def place(self, inner_w: float) -> None:
        """Centre the columns in the pod's inner width."""
        self.xs = columns(self.gutters, self.widths, LEFT, inner_w)


def arrange(p: Pod, c_cols: int, v_cols: int) -> PodDiagram:
    """Lay the pod out in c_cols container and v_cols volume columns; see docs/diagram.md for the rules in words."""
    routes = [Route(m) for m in p.mounts]
    by_container = [[r for r in routes if r.mount.container == i] for i in range(len(p.containers))]
    c_grid = _container_grid(routes, by_container, c_cols)
    _combs(by_container, c_grid, c_cols)
    v_grid, groups = _volume_grid(p, routes, c_grid, c_cols, v_cols)

    inner_w = max(MIN_INNER, c_grid.width, v_grid.width)
    c_grid.place(inner_w)
    v_grid.place(inner_w)
    texts, badges, band = header(p, MARGIN, LEFT, inner_w)
    containers, c_bottom = _place_containers(p, by_container, c_grid, c_cols, band.rect.bottom + 32)

    # The channel: one horizontal run per mount from its up line to its down line. Lines coming down from containers
    # run on x = k * LATTICE, lines going down to volumes half a step off, so no two edges ever share a vertical line.
    _up_lines(routes, c_grid, c_cols)
    _down_the_gutters(v_grid)
    _arrivals(p, routes, v_grid, groups, v_cols)
    for r, lane in zip(routes, lanes([(r.up, r.down) for r in routes]), strict=True):
        r.lane = lane
    channel_top = c_bottom + CHANNEL_PAD
    deepest = max((r.lane for r in routes), default=0)
    v_top = channel_top + deepest * LANE_STEP + CHANNEL_PAD if routes else c_bottom + ROW_GAP
    volumes = _place_volumes(p, v_grid, groups, v_cols, v_top)
    edges = [_edge(r, containers, volumes, channel_top) for r in routes]

    # Pattern reasons in words under the volumes, for the back of the room.
    below = (volumes[-1].rect.bottom if volumes else c_bottom) + 8
    reason_texts, content_bottom = reasons(p.patterns, LEFT, below, inner_w)
    pod_rect = Rect(MARGIN, MARGIN, inner_w + 2 * PAD, content_bottom + PAD - MARGIN)
    return PodDiagram(
        name=p.name,
        namespace=p.namespace,
        node=p.node,
        phase=p.phase,
        status=p.status,
        width=pod_rect.right + MARGIN,
        height=pod_rect.bottom + MARGIN,
        font_family=FONT_FAMILY,
        pod_rect=pod_rect,
        texts=tuple(texts + reason_texts),
        network=band,
        containers=tuple(containers),
        volumes=tuple(volumes),
        edges=tuple(edges),
        badges=tuple(badges),
    )


# --- containers and their combs -------------------------------------------------------------------------------


def _drop_step(mounts: int) -> float:
    """How far apart a container's drops stand: many mounts pack them closer."""
    return min(DROP_STEP, max(MIN_DROP_STEP, DROP_SPAN / max(1, mounts - 1)))


def _container_grid(routes: list[Route], by_container: list[list[Route]], c_cols: int) -> _Grid:
    """Decide which containers turn their mounts down the gutter, and size the container columns and gutters."""
    # A container with another below it sends its tracks down the gutter to its right, as does one with many mounts.
    n_c = len(by_container)
    via_gutter = [i + c_cols < n_c or len(rs) > MAX_COLUMN_TURNS for i, rs in enumerate(by_container)]
    for rs, via in zip(by_container, via_gutter, strict=True):
        for r in rs:
            r.via_gutter = via
    c_tracks = [[r for r in routes if r.mount.container % c_cols == col and r.via_gutter] for col in range(c_cols)]
    gutters = [GUTTER / 2] + [
        gutter(len(t), GUTTER if col < c_cols - 1 else GUTTER / 2) for col, t in enumerate(c_tracks)
    ]
    # Many mounts pack their drops closer; a column widens only when even then its labels would lack room.
    needs = [
        DROP_INSET
        + (len(rs) - 1) * _drop_step(len(rs))
        + LABEL_GAP
        + MIN_PATH_CHARS * TEXT_SIZE * CHAR_WIDTH
        + (0 if via_gutter[i] else TURN_GAP + len(rs) * TRACK_STEP)
        for i, rs in enumerate(by_container)
    ]
    widths = [max([CONTAINER_W, *needs[col::c_cols]]) for col in range(c_cols)]
    return _Grid(widths, gutters, [[], *c_tracks])


def _combs(by_container: list[list[Route]], grid: _Grid, c_cols: int) -> None:
    """Place each mount's drop, label and turn under its container.

    The drops stand left of the labels, each label sits on its own mount line, and each line turns down on a track
    right of every label below it, so nothing crosses a label. Tracks in a gutter lie further out for upper rows, so
    a lower row's mount line turns down before meeting them.
    """
    for i, rs in enumerate(by_container):
        if not rs:
            continue
        n, step, width = len(rs), _drop_step(len(rs)), grid.widths[i % c_cols]
        room = width - DROP_INSET - (n - 1) * step - LABEL_GAP
        if not rs[0].via_gutter:
            # The turns take room from the labels, given back in part by the gutter when no track runs there.
            # Snapping each turn onto the lattice may move it one step right.
            room -= TURN_GAP + n * TRACK_STEP - (0 if grid.tracks[i % c_cols + 1] else GUTTER / 2 - 8)
        for r in rs:
            r.drop = DROP_INSET + (n - 1 - r.mount.slot) * step
            r.label_x = DROP_INSET + (n - 1) * step + LABEL_GAP
            r.label = mount_label(r.mount.path, r.mount.read_only, r.mount.sub_path, room)
        widest = 0.0
        for r in reversed(rs):
            widest = max(widest, len(r.label) * TEXT_SIZE * CHAR_WIDTH)
            r.track = r.label_x + widest + TURN_GAP + (n - 1 - r.mount.slot) * TRACK_STEP
    for g, tracks in enumerate(grid.tracks[1:], start=1):
        for pos, r in enumerate(tracks):
            r.track = grid.widths[g - 1] + (grid.gutters[g] + (len(tracks) - 1 - 2 * pos) * TRACK_STEP) / 2


def _place_containers(
    p: Pod, by_container: list[list[Route]], grid: _Grid, c_cols: int, top: float
) -> tuple[list[ContainerBox], float]:
    """Container rows from top, each followed by the combs of its mounts; and the bottom of the last comb."""
    boxes: list[ContainerBox] = []
    n_c = len(p.containers)
    y = top
    c_bottom = y
    for row in range(-(-n_c // c_cols)):
        members = range(row * c_cols, min(n_c, (row + 1) * c_cols))
        for i in members:
            rect = Rect(grid.xs[i % c_cols], y, grid.widths[i % c_cols], CONTAINER_H)
            boxes.append(container_box(p.containers[i], rect))
        combs = max(len(by_container[i]) for i in members)
        c_bottom = y + CONTAINER_H + (COMB_TOP + combs * MOUNT_STEP if combs else 0)
        y = c_bottom + ROW_GAP
    return boxes, c_bottom


# --- volumes and the ways down to them ------------------------------------------------------------------------


def _volume_grid(
    p: Pod, routes: list[Route], c_grid: _Grid, c_cols: int, v_cols: int
) -> tuple[_Grid, dict[tuple[int, str], list[Route]]]:
    """Size the volume columns and the gutters between them; and group the edges into lower rows by volume and side."""
    # A column of volumes widens when one of them takes more edges than fit its top a double lattice step apart.
    widths = [float(VOLUME_W)] * v_cols
    for vi in range(len(p.volumes)):
        arriving = sum(r.mount.volume == vi for r in routes)
        widths[vi % v_cols] = max(widths[vi % v_cols], (arriving + 1) * DOWN_STEP)
    groups = _sides(routes, c_grid, widths, c_cols, v_cols)

    def outer(r: Route) -> tuple[int, int]:
        return (-(r.mount.volume // v_cols), r.rank)

    tracks: list[list[Route]] = [[] for _ in range(v_cols + 1)]
    for g in range(v_cols + 1):
        # Left of the gutter's middle run the tracks jogging left, right of it those jogging right; the deepest
        # and outermost lie in the middle so that no track crosses a shallower jog.
        jog_left = [r for (vi, side), rs in groups.items() if side == "right" and vi % v_cols == g - 1 for r in rs]
        jog_right = [r for (vi, side), rs in groups.items() if side == "left" and vi % v_cols == g for r in rs]
        tracks[g] = sorted(jog_left, key=outer, reverse=True) + sorted(jog_right, key=outer)
    gutters = [gutter(len(t), GUTTER / 2 if g in (0, v_cols) else GUTTER, DOWN_STEP) for g, t in enumerate(tracks)]
    return _Grid(widths, gutters, tracks), groups


def _sides(
    routes: list[Route], c_grid: _Grid, v_widths: list[float], c_cols: int, v_cols: int
) -> dict[tuple[int, str], list[Route]]:
    """Choose the side each edge into a lower volume row comes down on, and rank the edges of each side."""
    # Deciding the side needs rough positions; the final ones move both grids only sideways, so each side stays
    # sensible.
    rough_w = max(MIN_INNER, c_grid.width, sum(v_widths) + v_cols * GUTTER)
    rough_c = columns(c_grid.gutters, c_grid.widths, LEFT, rough_w)
    rough_v = columns([GUTTER / 2] + [GUTTER] * (v_cols - 1) + [GUTTER / 2], v_widths, LEFT, rough_w)
    groups: dict[tuple[int, str], list[Route]] = {}
    for r in routes:
        r.rough = rough_c[r.mount.container % c_cols] + r.track
        vi = r.mount.volume
        if vi // v_cols > 0:
            col = vi % v_cols
            r.side = "left" if r.rough < rough_v[col] + v_widths[col] / 2 else "right"
            groups.setdefault((vi, r.side), []).append(r)
    # Within a group the edge from the outermost source takes the outermost track, the lowest jog and the arrival
    # nearest its side, so the group's edges nest without crossing.
    for (_, side), rs in groups.items():
        rs.sort(key=lambda r: r.rough if side == "left" else -r.rough)
        for rank, r in enumerate(rs):
            r.rank = rank
    return groups


def _up_lines(routes: list[Route], c_grid: _Grid, c_cols: int) -> None:
    """Where each edge comes down from its mount line to the channel: its turn or its gutter track, on the lattice."""
    for r in routes:
        r.up = snap(c_grid.xs[r.mount.container % c_cols] + r.track, up=True)
    for g, tracks in enumerate(c_grid.tracks[1:], start=1):
        first = track_block(c_grid.xs[g - 1] + c_grid.widths[g - 1], c_grid.gutters[g], len(tracks))
        for pos, r in enumerate(tracks):
            r.up = first + (len(tracks) - 1 - pos) * TRACK_STEP


def _down_the_gutters(v_grid: _Grid) -> None:
    """Where each edge into a lower volume row goes down its gutter, as near under its up line as room allows."""
    for g, tracks in enumerate(v_grid.tracks):
        gutter_left = v_grid.xs[g - 1] + v_grid.widths[g - 1] if g else v_grid.xs[0] - v_grid.gutters[0]
        lo, hi = gutter_left + TRACK_PAD, gutter_left + v_grid.gutters[g] - TRACK_PAD
        for r, x in zip(tracks, downward([r.up for r in tracks], lo, hi), strict=True):
            r.down = x


def _arrivals(
    p: Pod, routes: list[Route], v_grid: _Grid, groups: dict[tuple[int, str], list[Route]], v_cols: int
) -> None:
    """Where each edge reaches the top of its volume, and for the first row where it goes down from the channel."""
    for vi in range(len(p.volumes)):
        box_x, box_w = v_grid.xs[vi % v_cols], v_grid.widths[vi % v_cols]
        if vi // v_cols == 0:
            # An edge into the first row goes straight down into the volume when its up line already lies over it.
            rs = sorted((r for r in routes if r.mount.volume == vi), key=lambda r: r.up)
            xs = downward([r.up for r in rs], box_x + ARRIVE_PAD, box_x + box_w - ARRIVE_PAD)
            for r, x in zip(rs, xs, strict=True):
                r.arrive = r.down = x
        else:
            rs = groups.get((vi, "left"), []) + groups.get((vi, "right"), [])[::-1]
            for pos, r in enumerate(rs):
                r.arrive = snap(box_x + box_w * (pos + 1) / (len(rs) + 1), DOWN)


def _place_volumes(
    p: Pod, grid: _Grid, groups: dict[tuple[int, str], list[Route]], v_cols: int, top: float
) -> list[VolumeBox]:
    """Volume rows from top; the gap above a lower row holds one jog per edge of its largest group."""
    v_tops = [top]
    for row in range(1, -(-len(p.volumes) // v_cols)):
        jogs = max((len(rs) for (vi, _), rs in groups.items() if vi // v_cols == row), default=0)
        gap = max(VOLUME_ROW_GAP, 2 * JOG_PAD + (jogs - 1) * JOG_STEP)
        v_tops.append(v_tops[-1] + VOLUME_H + gap)
    return [
        volume_box(
            v,
            Rect(grid.xs[i % v_cols], v_tops[i // v_cols], grid.widths[i % v_cols], VOLUME_H),
            v["name"] in p.system_volumes,
        )
        for i, v in enumerate(p.volumes)
    ]


def _edge(r: Route, containers: list[ContainerBox], volumes: list[VolumeBox], channel_top: float) -> Edge:
    """The edge's polyline through the points its phases chose, and its label on its mount line."""
    m = r.mount
    box, vbox = containers[m.container].rect, volumes[m.volume].rect
    # The comb: the first mount drops furthest right and turns on the highest line, so drops never cut labels.
    drop_x = box.x + r.drop
    line_y = box.bottom + COMB_TOP + (m.slot + 1) * MOUNT_STEP
    lane_y = channel_top + r.lane * LANE_STEP
    points = [(drop_x, box.bottom), (drop_x, line_y), (r.up, line_y), (r.up, lane_y), (r.down, lane_y)]
    if r.side:
        # Into a lower row: down the gutter, then along the gap above the row to the arrival.
        jog_y = vbox.y - JOG_PAD - r.rank * JOG_STEP
        points += [(r.down, jog_y), (r.arrive, jog_y)]
    points.append((r.arrive, vbox.y))

    container = containers[m.container].name
    full = f"{container} mounts {m.name} at {m.path}" + (" read-only" if m.read_only else "")
    full += f" (subPath {m.sub_path})" if m.sub_path else ""
    label = Text(box.x + r.label_x, line_y - 7, r.label, full, TEXT_SIZE, "mount system" if m.system else "mount")
    return Edge(container, m.name, m.path, m.read_only, m.sub_path, m.system, orthogonal(points), label)
