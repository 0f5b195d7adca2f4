"""What a terminal needs besides the stream itself: the request it was opened with and its audit row.

The exec consumer stays a translator: it asks this module whether a terminal may open and writes what happened
through it, so the rules (limits, what an audit row holds) live in one place.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from dashboard.kube.exec import AUTO_SHELLS
from dashboard.models import SessionRecord
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


def client_address(scope: dict[str, Any]) -> str:
    """The address the socket came from, as daphne saw it (after --proxy-headers when behind a proxy)."""
    client = scope.get("client") or ()
    return str(client[0]) if client else ""


def open_record(scope: dict[str, Any], *, kind: str, **fields: Any) -> SessionRecord:
    """Write the audit row of an attempt (allowed or refused) from a socket's scope."""
    user = scope.get("user")
    signed_in = user is not None and user.is_authenticated
    route = (scope.get("url_route") or {}).get("kwargs") or {}
    values = {
        "kind": kind,
        "user": user if signed_in else None,
        "username": user.get_username() if signed_in else "",
        "cluster": route.get("cluster", ""),
        "namespace": route.get("namespace", ""),
        "pod": route.get("name", ""),
        "client": client_address(scope),
    } | fields
    for key in ("cluster", "namespace", "pod", "container"):
        values[key] = str(values.get(key, ""))[:253]
    if not values.get("allowed", True):
        values.setdefault("ended", timezone.now())
    return SessionRecord.objects.create(**values)


def close_record(record: SessionRecord, **fields: Any) -> None:
    """Finish an audit row: its end time and whatever else is known now (bytes, exit code, outcome)."""
    fields.setdefault("ended", timezone.now())
    for key, value in fields.items():
        setattr(record, key, value)
    record.save(update_fields=list(fields))


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
