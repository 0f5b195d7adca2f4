"""Plane geometry for the diagram: columns centred in a width, gutters and their tracks, the lattice vertical lines
sit on, spreading lines apart, lanes through the channel and orthogonal polylines. Knows nothing of pods."""

from __future__ import annotations

import math

TRACK_PAD = 14
TRACK_STEP = 12
LANE_CLEAR = 24
# Lines coming down from containers sit on x = k * LATTICE and lines going down to volumes half a step off, so two
# edges never share a vertical line. Downward lines that share a stretch are placed DOWN_STEP apart, which leaves
# them at least a lattice step apart once snapped.
LATTICE = TRACK_STEP
DOWN = LATTICE / 2
DOWN_STEP = 2 * LATTICE


def gutter(tracks: int, minimum: float, step: float = TRACK_STEP) -> float:
    """Width of a gutter that carries this many vertical tracks step apart, never narrower than minimum."""
    return max(minimum, 2 * TRACK_PAD + (tracks - 1) * step) if tracks else minimum


def snap(x: float, offset: float = 0, up: bool = False) -> float:
    """The nearest point offset + k * LATTICE to x, or the first one at or after x when up."""
    k = (x - offset) / LATTICE
    return offset + (math.ceil(k) if up else round(k)) * LATTICE


def track_block(gutter_left: float, gutter_w: float, tracks: int) -> float:
    """The x of the leftmost of some tracks centred in a gutter, moved onto the lattice."""
    return snap(gutter_left + (gutter_w - (tracks - 1) * TRACK_STEP) / 2)


def columns(gutters: list[float], widths: list[float], left: float, inner_w: float) -> list[float]:
    """Box x positions for columns centred in the inner width; gutters[c] lies left of column c, the last one right."""
    x = left + (inner_w - sum(gutters) - sum(widths)) / 2 + gutters[0]
    xs = []
    for w, g in zip(widths, gutters[1:], strict=True):
        xs.append(x)
        x += w + g
    return xs


def downward(sources: list[float], lo: float, hi: float) -> list[float]:
    """Where lines going down sit between lo and hi, in the given order: under their sources where room allows."""
    spread = _spread([min(max(x, lo), hi) for x in sources], lo, hi, DOWN_STEP)
    # A line under its own source goes straight on; the others move onto the lattice of downward lines, which
    # leaves neighbours at least a lattice step apart.
    return [x if x == src else snap(x, DOWN) for x, src in zip(spread, sources, strict=True)]


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


def lanes(runs: list[tuple[float, float]]) -> list[int]:
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
    assigned: list[int | None] = [None] * len(runs)
    taken: dict[int, list[tuple[float, float]]] = {}
    for _ in runs:
        i = min((i for i, lane in enumerate(assigned) if lane is None), key=lambda i: (unmet[i], i))
        lane = max((lane + 1 for j in above[i] if (lane := assigned[j]) is not None), default=0)
        lo, hi = spans[i]
        while any(lo < b + LANE_CLEAR and a < hi + LANE_CLEAR for a, b in taken.get(lane, [])):
            lane += 1
        assigned[i] = lane
        taken.setdefault(lane, []).append(spans[i])
        for j in below[i]:
            unmet[j] -= 1
    return [lane or 0 for lane in assigned]


def orthogonal(points: list[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
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
