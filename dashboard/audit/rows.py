"""The audit rows: one SessionRecord per attempt at interactive access to a pod, allowed or refused.

Terminals (dashboard/sockets/terminals.py) and requests to a pod's port (dashboard/proxy.py) write their rows
through `Attempt`, the same way: the row is written when the attempt starts or is refused, written again as it
learns more (the command as it ran, the recording), and ended once, with how it ended.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.db import database_sync_to_async
from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from dashboard.models import SessionRecord

log = logging.getLogger(__name__)

# The widths of SessionRecord's columns; longer values are cut to fit.
NAME_WIDTH = 253
CLIENT_WIDTH = 64


def client_address(scope: Mapping[str, Any]) -> str:
    """The address a socket came from, as daphne saw it (after --proxy-headers when behind a proxy)."""
    client = scope.get("client") or ()
    return str(client[0]) if client else ""


@dataclass
class Attempt:
    """One attempt at interactive access to a pod, and the audit row that records it.

    `best_effort` rows never fail their attempt: a request to a pod's port is served even when its row cannot be
    written (the failure is logged), whereas a terminal does not run without its row.
    """

    kind: str  # a SessionRecord.Kind
    user: AbstractBaseUser | None  # None when nobody is signed in
    cluster: str
    namespace: str
    pod: str
    client: str
    container: str = ""
    command: str = ""
    port: int | None = None
    allowed: bool = True
    outcome: str = ""  # why it was refused or failed, in the words the person saw; "" when it ran
    started: datetime = field(default_factory=timezone.now)
    ended: datetime | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    exit_code: int | None = None
    recording: str = ""
    best_effort: bool = False
    record_id: int | None = None

    @classmethod
    def of_socket(cls, scope: Mapping[str, Any], kind: str, *, container: str, command: str) -> Attempt:
        """The attempt a socket makes: its person (if signed in), the place its address names, as given, and the
        address it came from."""
        user = scope.get("user")
        route = (scope.get("url_route") or {}).get("kwargs") or {}
        return cls(
            kind=kind,
            user=user if user is not None and user.is_authenticated else None,
            cluster=route.get("cluster", ""),
            namespace=route.get("namespace", ""),
            pod=route.get("name", ""),
            client=client_address(scope),
            container=container,
            command=command,
        )

    def write(self) -> None:
        """Write the row as it stands: create it the first time, update it after (blocking: it uses the database)."""
        values = {
            "kind": self.kind,
            "user": self.user,
            "username": self.user.get_username() if self.user is not None else "",
            "cluster": self.cluster[:NAME_WIDTH],
            "namespace": self.namespace[:NAME_WIDTH],
            "pod": self.pod[:NAME_WIDTH],
            "container": self.container[:NAME_WIDTH],
            # The column holds 32-bit numbers; a larger one (only a made-up address has it) is left empty.
            "port": self.port if self.port is not None and 0 < self.port < 2**31 else None,
            "command": self.command,
            "client": self.client[:CLIENT_WIDTH],
            "allowed": self.allowed,
            "outcome": self.outcome,
            "started": self.started,
            "ended": self.ended,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "exit_code": self.exit_code,
            "recording": self.recording,
        }
        if self.record_id is None:
            self.record_id = SessionRecord.objects.create(**values).pk
        else:
            SessionRecord.objects.filter(pk=self.record_id).update(**values)

    async def save(self) -> None:
        """Write the row from async code; a best-effort row's failure is logged rather than raised."""
        try:
            await database_sync_to_async(self.write)()
        except Exception:
            if not self.best_effort:
                raise
            log.exception("could not write the audit row of %s (%s) in pod %s", self.command, self.kind, self.pod)

    async def end(self, outcome: str = "", *, refused: bool = False) -> None:
        """End the row with how the attempt ended ("" when it ran as asked) and write it; only the first call acts."""
        if self.ended is not None:
            return
        self.outcome, self.ended = outcome, timezone.now()
        if refused:
            self.allowed = False
        await self.save()
