"""Terminals in containers: one exec websocket to the API server per terminal (`ExecSession`).

A session runs one command with a tty, as `kubectl exec -it POD -c NAME -- COMMAND` does. Its output is read
with `output()`, stdin goes in with `write()`, the terminal size with `resize()`, and `close()` ends the remote
process: the API server closes the pty, and the shell and its foreground job get SIGHUP.

`open_shell()` picks the shell the way a person would: bash, else sh, else busybox sh, and says so plainly when
the container has none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shlex
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from dashboard.kube.clusters import Cluster
from dashboard.kube.resources import KubeError, NotFound, get_pod
from dashboard.kube.streams import Frame, Upstream, open_stream

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
AUTO_SHELLS: tuple[tuple[str, ...], ...] = (("bash",), ("sh",), ("busybox", "sh"))
# How long a freshly started shell is watched for a "not found" failure before it counts as running. A shell
# prints its prompt at once; a missing one fails within one round trip to the node.
PROBE_QUIET = 0.3
PROBE_LIMIT = 5.0
_MISSING = re.compile(r"executable file not found|no such file or directory|not found in \$PATH", re.IGNORECASE)


class NoShell(KubeError):
    """The container has none of the shells tried."""


@dataclass(frozen=True)
class Exit:
    """How a session ended: the exit code when the server said, and its sentence when it failed."""

    code: int | None
    message: str = ""

    @property
    def missing_command(self) -> bool:
        """Whether the command could not be started because the container has no such executable."""
        return self.code in (126, 127) or bool(_MISSING.search(self.message))


def parse_status(payload: bytes) -> Exit:
    """The Exit a v4/v5 status message (a metav1.Status as JSON on channel 3) describes."""
    try:
        status = json.loads(payload)
    except ValueError:
        text = payload.decode("utf-8", "replace").strip()
        return Exit(None, text or "the command failed")
    if not isinstance(status, dict):
        return Exit(None, "the API server sent a status Podscope cannot read")
    if status.get("status") == "Success":
        return Exit(0)
    message = str(status.get("message") or "the command failed")
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(TypeError, ValueError):
                    return Exit(int(cause.get("message")), message)
    return Exit(None, message)


def _container_state(pod: dict[str, Any], container: str) -> tuple[str, dict[str, Any] | None]:
    """Which list declares `container` ("" if none) and its status, if the kubelet reported one."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    for kind, spec_key, status_key in (
        ("container", "containers", "containerStatuses"),
        ("init", "initContainers", "initContainerStatuses"),
        ("ephemeral", "ephemeralContainers", "ephemeralContainerStatuses"),
    ):
        if any(c.get("name") == container for c in spec.get(spec_key) or []):
            found = next((s for s in status.get(status_key) or [] if s.get("name") == container), None)
            return kind, found
    return "", None


def check_runnable(pod: dict[str, Any], container: str) -> None:
    """Raise KubeError with a sentence unless `container` exists in `pod` and is running."""
    name = (pod.get("metadata") or {}).get("name", "")
    kind, status = _container_state(pod, container)
    if not kind:
        spec = pod.get("spec") or {}
        names = [
            c.get("name", "")
            for key in ("containers", "initContainers", "ephemeralContainers")
            for c in spec.get(key) or []
        ]
        raise KubeError(f'pod {name} has no container "{container}" (it has: {", ".join(names)})', status=404)
    phase = (pod.get("status") or {}).get("phase", "")
    if phase in ("Succeeded", "Failed"):
        raise KubeError(f"pod {name} has completed ({phase}); a terminal needs a running container", status=409)
    state = (status or {}).get("state") or {}
    if "running" in state:
        return
    if waiting := state.get("waiting"):
        why = waiting.get("reason") or "waiting"
        raise KubeError(f'container "{container}" is not running ({why}); try again once it runs', status=409)
    if terminated := state.get("terminated"):
        why = terminated.get("reason") or f"exit code {terminated.get('exitCode')}"
        raise KubeError(f'container "{container}" is not running: it has terminated ({why})', status=409)
    raise KubeError(f'container "{container}" has not started yet', status=409)


class ExecSession:
    """One command running in a container with a terminal, over one exec websocket."""

    def __init__(self, upstream: Upstream, command: Sequence[str]) -> None:
        self.upstream = upstream
        self.command = list(command)
        self.bytes_in = 0
        self.bytes_out = 0
        self.exit: Exit | None = None
        self._held: list[bytes] = []  # output read while probing, given out first

    @classmethod
    async def open(
        cls,
        cluster: Cluster,
        namespace: str,
        pod: str,
        container: str,
        command: Sequence[str],
        *,
        size: tuple[int, int] | None = None,
        heartbeat: float | None = None,
    ) -> ExecSession:
        """Start `command` in the container with a tty; KubeError if the API server refuses."""
        query = [("container", container), *(("command", part) for part in command)]
        query += [("stdin", "true"), ("stdout", "true"), ("tty", "true")]
        upstream = await open_stream(
            cluster,
            f"/api/v1/namespaces/{namespace}/pods/{pod}/exec",
            query,
            PROTOCOLS,
            what="open a terminal",
            heartbeat=heartbeat,
        )
        session = cls(upstream, command)
        if size:
            try:
                await session.resize(*size)
            except BaseException:
                await upstream.close()  # cancelled or failed before the caller got the session: close it here
                raise
        return session

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)

    async def write(self, data: bytes) -> None:
        """Send keystrokes (or pasted text) to the command's stdin."""
        if self.exit is not None or not data:
            return
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
            await self.upstream.socket.send_bytes(bytes([STDIN]) + data)
            self.bytes_in += len(data)

    async def resize(self, cols: int, rows: int) -> None:
        """Tell the tty its new size in character cells."""
        if self.exit is not None:
            return
        payload = json.dumps({"Width": cols, "Height": rows}).encode()
        with contextlib.suppress(ConnectionResetError, aiohttp.ClientConnectionResetError):
            await self.upstream.socket.send_bytes(bytes([RESIZE]) + payload)

    async def _next(self) -> bytes | None:
        """The next piece of output, or None once the session has ended (and `exit` is set)."""
        while self.exit is None:
            got = await self.upstream.receive()
            if isinstance(got, Frame):
                if got.channel in (STDOUT, STDERR):
                    if got.payload:
                        self.bytes_out += len(got.payload)
                        return got.payload
                elif got.channel == STATUS:
                    # The status comes last; the server then closes the socket.
                    self.exit = parse_status(got.payload)
                # v5's CLOSE and anything unknown carry nothing for a person.
            elif got.type != aiohttp.WSMsgType.TEXT:
                # Closed without a status: v5 servers send one for every ending, so this is a lost connection.
                self.exit = Exit(None, "the connection to the API server ended without an exit status")
        return None

    async def output(self) -> AsyncIterator[bytes]:
        """The command's output as it comes, until it ends; then `exit` says how."""
        while self._held:
            yield self._held.pop(0)
        while (chunk := await self._next()) is not None:
            yield chunk

    async def close(self) -> None:
        """End the session and, with it, the remote process."""
        await self.upstream.close()

    async def _probe(self) -> None:
        """Read until the command has clearly started (or ended), keeping the output for `output()`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_LIMIT
        while self.exit is None:
            wait = deadline - loop.time()
            if self._held:
                wait = min(wait, PROBE_QUIET)
            if wait <= 0:
                return
            try:
                chunk = await asyncio.wait_for(self._next(), wait)
            except TimeoutError:
                return
            if chunk is not None:
                self._held.append(chunk)


async def open_shell(
    cluster: Cluster,
    namespace: str,
    pod: str,
    container: str,
    command: Sequence[str] | None = None,
    *,
    size: tuple[int, int] | None = None,
    heartbeat: float | None = None,
) -> ExecSession:
    """Start `command`, or the first of bash, sh and busybox sh the container has, after checking it can run.

    Raises KubeError for a missing pod or container, one that is not running, or a refusal, and NoShell when
    no shell was found.
    """
    try:
        found = await get_pod(cluster, namespace, pod)
    except NotFound:
        raise NotFound(f'there is no pod "{pod}" in namespace {namespace}', status=404) from None
    check_runnable(found, container)
    candidates = [tuple(command)] if command else list(AUTO_SHELLS)
    for candidate in candidates:
        session = await ExecSession.open(cluster, namespace, pod, container, candidate, size=size, heartbeat=heartbeat)
        if command:
            return session
        try:
            await session._probe()
        except BaseException:
            await session.close()  # cancelled while probing: the caller never gets this session to close
            raise
        if session.exit is None or not session.exit.missing_command:
            return session
        await session.close()
    tried = ", ".join(" ".join(c) for c in AUTO_SHELLS[:-1]) + " and " + " ".join(AUTO_SHELLS[-1])
    raise NoShell(
        f'container "{container}" has no shell: none of {tried} is in it. Its image may have none at all '
        "(distroless images do not); run a command that exists in it instead.",
        status=404,
    )
