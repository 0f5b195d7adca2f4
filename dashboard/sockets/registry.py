"""The open websockets of one event loop, with what each person holds: limits per person, revocation, shutdown.

- **Limits per person**: sockets opened per minute, log streams, terminals, sockets in all, and the namespaces
  watched at once (pages count too, for as long as their watch lingers). Over one, the socket is refused with
  TOO_MANY and a sentence.
- **Revocation**: signing out closes that session's sockets at once; every `PODSCOPE_SOCKET_RECHECK` seconds the
  open sockets are checked against the database (session, active account, permission), and sooner after an
  account or group changes, so a lost right ends its sockets well within 30 seconds.
- **Shutdown**: `close_all` ends every socket with GOING_AWAY and lets each clean up (see the `serve` command).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest

from dashboard.loops import PerLoop
from dashboard.sockets.codes import FORBIDDEN, GOING_AWAY, SIGNED_OUT, TOO_MANY, Refusal

if TYPE_CHECKING:
    from dashboard.sockets.base import SocketConsumer

log = logging.getLogger(__name__)

# Pages and their watches linger this long after they were loaded (WatchHub keeps an idle watch a minute).
PAGE_LINGER = 60.0
RATE_WINDOW = 60.0


@dataclass(frozen=True)
class Limits:
    """How much one person may hold at once (settings PODSCOPE_MAX_*)."""

    sockets: int
    logs: int
    terminals: int
    namespaces: int
    opens_per_minute: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            sockets=settings.PODSCOPE_MAX_SOCKETS,
            logs=settings.PODSCOPE_MAX_LOG_SOCKETS,
            terminals=settings.PODSCOPE_EXEC_MAX_SESSIONS,
            namespaces=settings.PODSCOPE_MAX_NAMESPACES,
            opens_per_minute=settings.PODSCOPE_MAX_SOCKET_OPENS,
        )


@dataclass(eq=False)
class Ticket:
    """One admitted socket: whose it is, what it needs, and what it holds."""

    consumer: SocketConsumer
    user_pk: Any
    session_key: str
    permission: str
    kind: str  # "live", "logs" or "exec"
    namespace: tuple[str, str] | None  # (cluster id, namespace) whose watch it uses


@dataclass
class Registry:
    """Every open socket of one event loop, with what each person holds."""

    tickets: dict[Any, set[Ticket]] = field(default_factory=lambda: defaultdict(set))
    opens: dict[Any, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    pages: dict[Any, dict[tuple[str, str], float]] = field(default_factory=lambda: defaultdict(dict))
    closing: bool = False
    _checker: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _ending: set[asyncio.Task[None]] = field(default_factory=set)

    def all(self) -> list[Ticket]:
        return [ticket for held in self.tickets.values() for ticket in held]

    def held(self, user_pk: Any, kind: str | None = None) -> int:
        """How many sockets `user_pk` holds (of `kind`)."""
        return sum(1 for t in self.tickets.get(user_pk, ()) if kind is None or t.kind == kind)

    def namespaces(self, user_pk: Any) -> set[tuple[str, str]]:
        """The namespaces `user_pk` watches now: through open sockets, or pages loaded within PAGE_LINGER."""
        now = time.monotonic()
        recent = self.pages.get(user_pk, {})
        for key in [k for k, seen in recent.items() if now - seen > PAGE_LINGER]:
            del recent[key]
        return {t.namespace for t in self.tickets.get(user_pk, ()) if t.namespace} | set(recent)

    def _over_namespaces(self, user_pk: Any, wanted: tuple[str, str], limit: int) -> Refusal | None:
        watched = self.namespaces(user_pk)
        if wanted in watched or len(watched) < limit:
            return None
        return Refusal(
            TOO_MANY,
            f"You are watching {len(watched)} namespaces at once, the most allowed; close the pages of one "
            "before opening another.",
        )

    def touch(self, user_pk: Any, cluster: str, namespace: str) -> Refusal | None:
        """A page about to watch a namespace for `user_pk`: None if within their limit (and counted), else why not."""
        wanted = (cluster, namespace)
        refusal = self._over_namespaces(user_pk, wanted, Limits.from_settings().namespaces)
        if refusal is None:
            self.pages[user_pk][wanted] = time.monotonic()
        return refusal

    def admit(
        self,
        consumer: SocketConsumer,
        user_pk: Any,
        session_key: str,
        permission: str,
        kind: str,
        namespace: tuple[str, str] | None,
    ) -> Ticket | Refusal:
        """Count a new socket against its person's limits; a Ticket if it may stay, else the Refusal."""
        if self.closing:
            return Refusal(GOING_AWAY, "Podscope is shutting down; reload the page in a moment.")
        limits, now = Limits.from_settings(), time.monotonic()
        opened = self.opens[user_pk]
        while opened and now - opened[0] > RATE_WINDOW:
            opened.popleft()
        opened.append(now)
        if len(opened) > limits.opens_per_minute:
            return Refusal(
                TOO_MANY,
                f"You opened {limits.opens_per_minute} connections in the last minute, the most allowed; wait a "
                "minute, then reload the page.",
            )
        if kind == "exec" and self.held(user_pk, "exec") >= limits.terminals:
            return Refusal(
                TOO_MANY,
                f"You already have {limits.terminals} terminals open, the most allowed; close one to open another.",
            )
        if kind == "logs" and self.held(user_pk, "logs") >= limits.logs:
            return Refusal(
                TOO_MANY,
                f"You already follow {limits.logs} logs, the most allowed; close a log view (or its tab) to open "
                "another.",
            )
        if self.held(user_pk) >= limits.sockets:
            return Refusal(
                TOO_MANY,
                f"You already have {limits.sockets} live connections open, the most allowed; close some tabs.",
            )
        if namespace is not None and (refusal := self._over_namespaces(user_pk, namespace, limits.namespaces)):
            return refusal
        ticket = Ticket(consumer, user_pk, session_key, permission, kind, namespace)
        self.tickets[user_pk].add(ticket)
        self._start_checker()
        return ticket

    def release(self, ticket: Ticket) -> None:
        held = self.tickets.get(ticket.user_pk)
        if held is not None:
            held.discard(ticket)
            if not held:
                del self.tickets[ticket.user_pk]

    # --- revocation ---

    def _start_checker(self) -> None:
        if self._checker is None or self._checker.done():
            self._checker = asyncio.get_running_loop().create_task(self._check_loop(), name="socket rechecks")

    def recheck_soon(self) -> None:
        """Check the open sockets now rather than at the next interval (an account or group changed)."""
        self._wake.set()

    async def _check_loop(self) -> None:
        while self.tickets:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), settings.PODSCOPE_SOCKET_RECHECK)
            self._wake.clear()
            tickets = self.all()
            if not tickets:
                continue
            try:
                revoked = await database_sync_to_async(_recheck)(tickets)
            except Exception:
                log.exception("checking the open sockets' sessions failed; trying again")
                continue
            for ticket, refusal in revoked:
                self._end(ticket.consumer, refusal)

    def session_ended(self, session_key: str) -> None:
        """Close the sockets of a session that just signed out."""
        for ticket in self.all():
            if ticket.session_key == session_key:
                self._end(ticket.consumer, Refusal(SIGNED_OUT, "You signed out, so this connection was closed."))

    def _end(self, consumer: SocketConsumer, refusal: Refusal) -> None:
        task = asyncio.get_running_loop().create_task(consumer.end(refusal.code, refusal.message))
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)

    async def close_all(self, code: int, message: str, timeout: float = 10.0) -> int:
        """End every socket with `code`, refuse new ones, and wait (at most `timeout`) until each has cleaned up."""
        self.closing = True
        tickets = self.all()
        ends = [asyncio.ensure_future(t.consumer.end(code, message)) for t in tickets]
        if ends:
            _, late = await asyncio.wait(ends, timeout=timeout)
            for task in late:
                task.cancel()
        return len(tickets)


def _session_user(session_key: str) -> Any | None:
    """The active user a session belongs to now, or None (signed out, expired, disabled, password changed)."""
    # get_user reads nothing of a request but its session.
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = get_user(request)
    return user if user.is_authenticated else None


def _recheck(tickets: Iterable[Ticket]) -> list[tuple[Ticket, Refusal]]:
    """The tickets whose person may no longer hold them, each with the reason (runs in a thread: it reads the DB)."""
    users: dict[str, Any] = {}
    revoked = []
    for ticket in tickets:
        if ticket.session_key not in users:
            users[ticket.session_key] = _session_user(ticket.session_key)
        user = users[ticket.session_key]
        if user is None or str(user.pk) != str(ticket.user_pk):
            message = "Your session ended (signed out, expired or disabled), so this connection was closed."
            revoked.append((ticket, Refusal(SIGNED_OUT, message)))
        elif not user.has_perm(ticket.permission):
            message = "You no longer have the permission this connection needs, so it was closed."
            revoked.append((ticket, Refusal(FORBIDDEN, message)))
    return revoked


_registries = PerLoop(Registry)


def registry() -> Registry:
    """The registry of the running event loop (daphne has one; each test has its own)."""
    return _registries.get()


def _each_registry(method: str, *args: Any) -> None:
    """Call a Registry method on every event loop's registry, from any thread (signal handlers run in threads)."""
    for loop, reg in _registries.items():
        if loop.is_closed():
            continue
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            # A fresh context: the caller's (a sync view's thread) would make asgiref take the sockets' clean-up
            # for work inside that thread and refuse it.
            loop.call_soon_threadsafe(getattr(reg, method), *args, context=contextvars.Context())


def signed_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """`user_logged_out` receiver: that session's sockets close now, not at the next recheck."""
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _each_registry("session_ended", session_key)


def rights_changed(sender: Any, **kwargs: Any) -> None:
    """Receiver for changes to accounts, groups and permissions: recheck every open socket soon."""
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # every sign-in saves this; it changes nobody's rights
    _each_registry("recheck_soon")
