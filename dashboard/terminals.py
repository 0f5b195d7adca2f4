"""What a terminal needs besides the stream itself: the request it was opened with and the containers offered.

The exec socket (dashboard/sockets/terminals.py) stays a translator: it asks this module what the page asked for,
and writes its audit row through dashboard/audit/rows.py.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from dashboard.kube.exec import AUTO_SHELLS
from dashboard.names import InvalidName, check_container
from dashboard.pod_status import containers

MAX_COMMAND = 4096
MAX_CELLS = 1000
AUTO = "auto"
AUTO_LABEL = "automatic: " + ", ".join(" ".join(shell) for shell in AUTO_SHELLS)


class BadRequest(ValueError):
    """Terminal parameters that cannot be used, with a sentence for the user."""


@dataclass(frozen=True)
class TerminalRequest:
    """What the page asked for: a container, a command (None: pick a shell) and the terminal's size."""

    container: str
    command: list[str] | None
    cols: int
    rows: int

    @property
    def command_label(self) -> str:
        return shlex.join(self.command) if self.command else AUTO_LABEL


def _cells(params: dict[str, str], key: str, default: int) -> int:
    raw = params.get(key) or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_CELLS:
        raise BadRequest(f"{key} must be a whole number from 1 to {MAX_CELLS}")
    return int(raw)


def parse_request(params: dict[str, str]) -> TerminalRequest:
    """Read a terminal's query parameters: container, command ("auto" or a command line), cols, rows."""
    try:
        container = check_container(params.get("container") or "")
    except InvalidName as exc:
        raise BadRequest(str(exc)) from None
    text = (params.get("command") or AUTO).strip()
    if len(text) > MAX_COMMAND:
        raise BadRequest(f"the command is longer than {MAX_COMMAND} characters")
    command: list[str] | None = None
    if text != AUTO:
        try:
            command = shlex.split(text)
        except ValueError as exc:
            raise BadRequest(f"the command cannot be read: {exc}") from None
        if not command:
            raise BadRequest("the command is empty")
    return TerminalRequest(container, command, _cells(params, "cols", 80), _cells(params, "rows", 24))


DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


@dataclass(frozen=True)
class Choice:
    """A container offered in the terminal's picker."""

    name: str
    kind: str
    state: str  # "running", or why not ("waiting: CrashLoopBackOff", "terminated: Completed")

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def label(self) -> str:
        kind = {"init": "init container", "sidecar": "native sidecar", "ephemeral": "ephemeral"}.get(self.kind)
        return f"{self.name} ({kind}, {self.state})" if kind else f"{self.name} ({self.state})"


def _state(status: dict[str, Any] | None) -> str:
    state = (status or {}).get("state") or {}
    if "running" in state:
        return "running"
    for key in ("waiting", "terminated"):
        if key in state:
            return f"{key}: {state[key].get('reason') or key}"
    return "not started"


def choices(pod: dict[str, Any], wanted: str = "") -> tuple[list[Choice], str]:
    """Every container of the pod for the picker, and the one to open: `wanted` if the pod has it, else the
    default-container annotation's, else the first running app container, as kubectl picks."""
    found = [Choice(c.name, c.kind, _state(c.status)) for c in containers(pod)]
    names = [c.name for c in found]
    if wanted in names:
        return found, wanted
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION, "")
    if annotated in names:
        return found, annotated
    apps = [c for c in found if c.kind == "container"]
    chosen = next((c for c in apps if c.running), apps[0] if apps else (found[0] if found else None))
    return found, chosen.name if chosen else ""
