"""The catalog of example manifests: the tutorials' pods and one runnable pod per multi-container pattern."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"


@dataclass(frozen=True)
class Example:
    slug: str
    title: str
    pattern: str
    summary: str
    path: str  # relative to the repository root, as the tutorials and docs name it

    @property
    def file(self) -> Path:
        """The manifest's absolute path."""
        return ROOT / self.path


EXAMPLES: tuple[Example, ...] = (
    Example(
        slug="multicontainer-pod",
        title="Producer and consumer",
        pattern="shared volume",
        summary="A producer appends lines to a shared emptyDir that an nginx consumer serves as its web page.",
        path="examples/multicontainer-pod.yaml",
    ),
    Example(
        slug="multi-container-pod",
        title="nginx with a log collector",
        pattern="sidecar",
        summary="A busybox sidecar copies nginx's access log from a shared emptyDir into its own log file.",
        path="examples/multi-container-pod.yaml",
    ),
    Example(
        slug="web-with-proxy",
        title="Web server with a database proxy",
        pattern="ambassador and adapter",
        summary="nginx, an haproxy database proxy configured by a ConfigMap and a node-exporter share one pod IP.",
        path="examples/web-with-proxy.yaml",
    ),
    Example(
        slug="sidecar",
        title="Log-shipping sidecar",
        pattern="sidecar",
        summary="The app writes a log file in a shared emptyDir; a sidecar follows it and ships it to stdout.",
        path="examples/patterns/sidecar.yaml",
    ),
    Example(
        slug="ambassador",
        title="haproxy ambassador in front of Redis",
        pattern="ambassador",
        summary="The app only talks to localhost:6380, where an haproxy ambassador forwards it to Redis.",
        path="examples/patterns/ambassador.yaml",
    ),
    Example(
        slug="adapter",
        title="nginx log to Prometheus metrics adapter",
        pattern="adapter",
        summary="An adapter turns nginx's access log into Prometheus metrics that node-exporter serves on 9100.",
        path="examples/patterns/adapter.yaml",
    ),
    Example(
        slug="init-container",
        title="Init containers prepare a page",
        pattern="init",
        summary="Two init containers write a web page in order into an emptyDir before nginx starts serving it.",
        path="examples/patterns/init-container.yaml",
    ),
    Example(
        slug="native-sidecar",
        title="Native sidecar log tailer",
        pattern="native sidecar",
        summary="An init container with restartPolicy Always starts before the app and tails its log for its life.",
        path="examples/patterns/native-sidecar.yaml",
    ),
)


def get(slug: str) -> Example:
    """The example called `slug`; KeyError when there is none."""
    for example in EXAMPLES:
        if example.slug == slug:
            return example
    raise KeyError(slug)


def documents(example: Example) -> list[dict[str, Any]]:
    """Every object of the example's manifest, in file order."""
    with example.file.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def pod(example: Example) -> dict[str, Any]:
    """The example's Pod object (each example holds exactly one)."""
    pods = [doc for doc in documents(example) if doc.get("kind") == "Pod"]
    if len(pods) != 1:
        raise ValueError(f"{example.path} holds {len(pods)} pods, not one")
    return pods[0]
