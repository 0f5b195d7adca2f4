"""Terminals: a command in a container through an ExecSession, audited from the attempt to the end."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from dashboard.asciicast import Recorder
from dashboard.audit.rows import Attempt
from dashboard.kube.exec import ExecSession, Exit, open_shell
from dashboard.kube.resources import Forbidden, KubeError
from dashboard.models import SessionRecord
from dashboard.permissions import EXEC_PODS
from dashboard.sockets.base import BadFrame, SocketConsumer, cancel, query_params, read_json
from dashboard.sockets.codes import BAD_REQUEST, FORBIDDEN, NORMAL, NOT_FOUND, Refusal
from dashboard.terminals import MAX_CELLS, BadRequest, TerminalRequest, parse_request

# Keystrokes typed while the shell is still starting are kept for it, up to this much.
EARLY_INPUT = 64 * 1024
# Resize and ping are the only text messages a terminal page sends; they are small.
MAX_CONTROL_FRAME = 4096
ENDED_EARLY = "The terminal was closed before the command ended."
CONTROL_FIELDS = {"ping": {"type"}, "resize": {"type", "cols", "rows"}}


def _cells(value: object) -> int | None:
    """A resize frame's cols or rows: a whole number of cells from 1 to MAX_CELLS, or None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_CELLS:
        return value
    return None


class ExecConsumer(SocketConsumer):
    """One terminal: a command in a container through an ExecSession, audited from the attempt to the end.

    The page opens the socket with the container, command and size in its query string. Binary frames carry
    keystrokes one way and output the other; text frames carry JSON: `resize` and `ping` from the page,
    `started`, `notice`, `error`, `exit` and `pong` to it.
    """

    permission = EXEC_PODS
    kind = "exec"
    forbidden = "You do not have the permission to open terminals (exec) in pods."
    audit: Attempt | None = None
    session: ExecSession | None = None
    recorder: Recorder | None = None
    runner: asyncio.Task[None] | None = None
    request: TerminalRequest | None = None  # None when the query string could not be parsed

    def parse(self) -> None:
        try:
            self.request = parse_request(query_params(self.scope))
        except BadRequest as exc:
            raise BadFrame(str(exc)) from None

    async def refused(self, refusal: Refusal) -> None:
        await self._attempt().end(refusal.message, refused=True)

    async def start(self) -> None:
        self.early: list[bytes] = []
        audit = self._attempt()
        await audit.save()
        self.audit = audit
        self.runner = self.spawn(self._run(audit))

    def _attempt(self) -> Attempt:
        """The audit row of this terminal: what it asked for, as parsed, or as it came when it could not be."""
        if self.request is not None:
            container, command = self.request.container, self.request.command_label
        else:
            params = query_params(self.scope)
            container, command = params.get("container", ""), params.get("command", "")
        return Attempt.of_socket(self.scope, SessionRecord.Kind.EXEC, container=container, command=command)

    async def _send_json(self, **message: Any) -> None:
        await self.send(text_data=json.dumps(message))

    async def _run(self, audit: Attempt) -> None:
        request = self.request
        assert request is not None  # parsed at admission, which start follows
        try:
            self.session = await open_shell(
                self.cluster,
                self.namespace,
                self.name,
                request.container,
                request.command,
                size=(request.cols, request.rows),
                heartbeat=settings.PODSCOPE_EXEC_KEEPALIVE,
            )
        except KubeError as exc:
            message = exc.message[:1].upper() + exc.message[1:]
            # The cluster's own refusal is a denied attempt, as Podscope's is.
            refused = isinstance(exc, Forbidden)
            await self._finish(message, refused=refused)
            await self.end(FORBIDDEN if refused else NOT_FOUND if exc.status == 404 else BAD_REQUEST, message)
            return
        session = self.session
        latest = self.request  # replaced by a resize while the shell was starting
        assert latest is not None
        if (latest.cols, latest.rows) != (request.cols, request.rows):
            await session.resize(latest.cols, latest.rows)
        if settings.PODSCOPE_RECORD_SESSIONS:
            self.recorder = await database_sync_to_async(self._start_recording)(audit)
        audit.command = session.command_line
        await audit.save()
        await self._send_json(
            type="started",
            command=session.command_line,
            container=request.container,
            maxInput=settings.PODSCOPE_EXEC_MAX_INPUT,
            keepalive=settings.PODSCOPE_EXEC_KEEPALIVE,
        )
        for data in self.early:
            await session.write(data)
        self.early = []
        async for chunk in session.output():
            if self.recorder:
                self.recorder.output(chunk)
            await self.send(bytes_data=chunk)
        end = session.exit or Exit(None)
        await self._finish("" if end.code == 0 else end.message, exit_code=end.code)
        await self._send_json(type="exit", code=end.code, message=end.message)
        await self.end(NORMAL)

    def _start_recording(self, audit: Attempt) -> Recorder:
        request, user = self.request, self.user
        assert request is not None  # parsed at admission, which start follows
        title = f"{user.get_username()} in {self.cluster.id}/{self.namespace}/{self.name} -c {request.container}"
        recorder = Recorder.start(
            settings.PODSCOPE_RECORDINGS_DIR,
            width=request.cols,
            height=request.rows,
            title=title,
            command=self.session.command_line if self.session else request.command_label,
        )
        audit.recording = recorder.name
        audit.write()
        return recorder

    async def frame(self, text: str | None, data: bytes | None) -> None:
        if self.audit is None or self.audit.ended is not None:
            return  # over: frames that crossed the end are ignored
        if data is not None:
            await self._input(data)
            return
        message = read_json(text, limit=MAX_CONTROL_FRAME)
        kind = message.get("type")
        if not isinstance(kind, str) or kind not in CONTROL_FIELDS or set(message) - CONTROL_FIELDS[kind]:
            raise BadFrame('a terminal takes keystrokes, and {"type": "resize", "cols", "rows"} or {"type": "ping"}')
        if kind == "ping":
            await self._send_json(type="pong")
        elif kind == "resize":
            cols, rows = _cells(message.get("cols")), _cells(message.get("rows"))
            if cols is None or rows is None:
                raise BadFrame(f"a resize needs cols and rows, whole numbers from 1 to {MAX_CELLS}")
            if self.session:
                await self.session.resize(cols, rows)
            else:
                assert self.request is not None  # parsed at admission, which frames follow
                self.request = replace(self.request, cols=cols, rows=rows)
            if self.recorder:
                self.recorder.resize(cols, rows)

    async def _input(self, data: bytes) -> None:
        limit = settings.PODSCOPE_EXEC_MAX_INPUT
        if len(data) > limit:
            await self._send_json(
                type="notice",
                message=f"Input of {len(data):,} bytes was refused: at most {limit:,} bytes may be sent at once.",
            )
            return
        if self.session is not None:
            await self.session.write(data)
        elif sum(map(len, self.early)) + len(data) <= EARLY_INPUT:
            self.early.append(data)
        else:
            await self._send_json(
                type="notice",
                message=f"Input of {len(data):,} bytes was refused: the command has not started yet, and at most "
                f"{EARLY_INPUT:,} bytes are kept until it does.",
            )

    async def _finish(self, outcome: str, *, refused: bool = False, exit_code: int | None = None) -> None:
        """End the audit row once, with the bytes each way and how it ended."""
        audit = self.audit
        if audit is None or audit.ended is not None:
            return
        if self.recorder:
            self.recorder.close()
        if self.session:
            audit.bytes_in, audit.bytes_out = self.session.bytes_in, self.session.bytes_out
        audit.exit_code = exit_code
        await audit.end(outcome, refused=refused)

    async def stop(self) -> None:
        await cancel([self.runner])
        try:
            if self.session is not None:
                await self.session.close()
        finally:
            # Whatever ended the socket (the page, a revocation, a shutdown, a failure) ends the audit row too.
            await self._finish(self.reason or ENDED_EARLY)
