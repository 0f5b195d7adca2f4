"""One pod's architecture diagram: every box, edge, label and text, ready for the SVG template to place.

`layout(pod)` is the whole interface. Inside: model.py reads the pod, arrange.py lays it out (boxes.py fills the
boxes, geometry.py routes in the plane) and shapes.py holds what the template draws.
"""

from __future__ import annotations

from typing import Any

from dashboard.diagram.arrange import arrange
from dashboard.diagram.model import read_pod
from dashboard.diagram.shapes import PodDiagram

MAX_CONTAINER_COLS = 6
MAX_VOLUME_COLS = 8
SCREEN_ASPECT = 16 / 9


def layout(pod: dict[str, Any]) -> PodDiagram:
    """Compute the whole diagram of one pod (a camelCase dict as the API serves it, with or without status)."""
    p = read_pod(pod)
    # Try the column counts that make sense and keep the drawing a 16:9 screen shows largest, the more compact one
    # on a tie. Volume rows stay even: the fewest rows of at most MAX_VOLUME_COLS, or one more.
    n_v = len(p.volumes)
    fewest = -(-n_v // MAX_VOLUME_COLS)
    v_options = sorted({max(1, -(-n_v // rows)) for rows in (fewest, fewest + 1) if rows}) or [1]
    drawings = [
        arrange(p, c_cols, v_cols)
        for c_cols in range(1, max(1, min(len(p.containers), MAX_CONTAINER_COLS)) + 1)
        for v_cols in v_options
    ]
    return min(drawings, key=lambda d: (max(d.width, d.height * SCREEN_ASPECT), d.width * d.height))
