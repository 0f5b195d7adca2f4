"""What the SVG template draws: boxes, texts, edges and chips with every coordinate, and how text is fitted.

Everything here is frozen and computed in Python; `templates/dashboard/_pod_diagram.html` only places it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Monospace keeps width estimates honest: every glyph is 0.6em, and 0.62 leaves room for font differences.
FONT_FAMILY = 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace'
CHAR_WIDTH = 0.62
TITLE_SIZE = 22
NAME_SIZE = 18
TEXT_SIZE = 15
MIN_PATH_CHARS = 16  # a mount path keeps at least this many characters when shortened


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


def wrap(text: str, width: float, size: int, max_lines: int) -> list[str]:
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


def fitted(x: float, y: float, full: str, width: float, size: int, cls: str = "") -> Text:
    """A text at (x, y) showing full, shortened to fit width."""
    return Text(x, y, fit(full, width, size), full, size, cls)


def mount_label(path: str, read_only: bool, sub_path: str, width: float) -> str:
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
