"""What every Podscope websocket shares: admission, frames, limits per person, revocation and shutdown.

A consumer derives from `SocketConsumer` and fills in `start` (subscribe, spawn its tasks), `frame` (one
validated frame) and `stop` (let go of everything). The base class does the rest the same way for every socket:

- **Admission**, in one order: signed in, the page's session token, the permission, a valid address, then the
  person's limits. A refusal is a close code and a sentence; nothing else is sent.
- **Frames**: a frame that breaks the socket's rules, or that its handler fails on, ends the socket with a
  sentence (4400, or 1011 for our own failure). Whatever happens, `stop` runs exactly once.
- **Limits per person** (`Registry`): sockets opened per minute, log streams, terminals, sockets in all, and
  the namespaces watched at once (pages count too, for as long as their watch lingers).
- **Revocation**: signing out closes that session's sockets at once; every `PODSCOPE_SOCKET_RECHECK` seconds the
  open sockets are checked against the database (session, active account, permission), and sooner after an
  account or group changes, so a lost right ends its sockets well within 30 seconds.
- **Shutdown**: `close_all` ends every socket with 1001 and lets each clean up (see the `serve` command).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
import weakref
from collections import defaultdict, deque
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user

from dashboard.kube import clusters
from dashboard.names import InvalidName, check_name, check_namespace
from dashboard.origins import socket_token_valid
from dashboard.text import sentence

log = logging.getLogger(__name__)

# Close codes. The 4xxx ones mirror HTTP statuses; the pages explain each one.
NORMAL, GOING_AWAY, INTERNAL_ERROR = 1000, 1001, 1011
BAD_REQUEST, SIGNED_OUT, FORBIDDEN, NOT_FOUND, TOO_MANY = 4400, 4401, 4403, 4404, 4429

# The largest JSON text frame any page sends is a log view's start with a resume point per container.
MAX_TEXT_FRAME = 64 * 1024
# Pages and their watches linger this long after they were loaded (WatchHub keeps an idle watch a minute).
PAGE_LINGER = 60.0
RATE_WINDOW = 60.0


class BadFrame(ValueError):
    """A frame (or socket parameter) a socket refuses, with a sentence for the user."""


@dataclass(frozen=True)
class Refusal:
    """Why a socket is not (or no longer) served: the close code and a sentence for the person."""

    code: int
    message: str
    quiet: bool = False  # closed without a word on the socket (the reason is still logged and audited)


def query_params(scope: dict[str, Any]) -> dict[str, str]:
    """The socket URL's query parameters (the last value of each)."""
    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))


def read_json(text: str | None, *, limit: int = MAX_TEXT_FRAME) -> dict[str, Any]:
    """A text frame as a JSON object, or BadFrame saying what is wrong with it."""
    if text is None:
        raise BadFrame("this socket takes JSON text messages, not binary ones")
    if len(text) > limit:
        raise BadFrame(f"a message of {len(text):,} characters is more than the {limit:,} this socket takes")
    try:
        data = json.loads(text)
    except RecursionError:
        raise BadFrame("the message is nested too deeply") from None
    except ValueError:
        raise BadFrame("the message is not JSON") from None
    if not isinstance(data, dict):
        raise BadFrame("the message must be a JSON object")
    return data


# --- limits and the registry of open sockets -------------------------------------------------------------------


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
    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    user = get_user(SimpleNamespace(session=store))
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


_registries: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Registry] = weakref.WeakKeyDictionary()
# Signal receivers read the registries from other threads.
_registries_lock = threading.Lock()


def registry() -> Registry:
    """The registry of the running event loop (daphne has one; each test has its own)."""
    loop = asyncio.get_running_loop()
    with _registries_lock:
        if loop not in _registries:
            _registries[loop] = Registry()
        return _registries[loop]


def _each_registry(method: str, *args: Any) -> None:
    """Call a Registry method on every event loop's registry, from any thread (signal handlers run in threads)."""
    with _registries_lock:
        found = list(_registries.items())
    for loop, reg in found:
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


# --- the consumer every socket derives from ---------------------------------------------------------------------


class SocketConsumer(AsyncWebsocketConsumer):
    """A websocket admitted one way, fed validated frames, and always cleaned up once."""

    permission: str = ""
    kind: str = "live"
    forbidden = "You do not have the permission to see this."

    cluster: clusters.Cluster
    namespace: str
    name: str
    user: Any = None
    ticket: Ticket | None = None
    ended = False
    reason = ""  # the sentence the socket was ended with, if any
    _stopped = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the server cancels the socket, or a handler raised past us: nothing is left held.
            await self._teardown()

    # --- hooks for subclasses ---

    def parse(self) -> None:
        """Read the socket's own parameters (query string); raise BadFrame for bad ones."""

    async def start(self) -> None:
        """The socket is admitted: subscribe and start its tasks."""

    async def frame(self, text: str | None, data: bytes | None) -> None:
        """Handle one frame; raise BadFrame for one that breaks the socket's rules."""
        raise BadFrame("this socket takes no messages")

    async def stop(self) -> None:
        """Let go of everything the socket holds; runs once, however it ended."""

    async def refused(self, refusal: Refusal) -> None:
        """The socket was refused at admission (terminals audit this)."""

    async def tell(self, message: str) -> None:
        """Show the person a sentence before the socket closes."""
        await self.send(text_data=json.dumps({"type": "error", "message": message}))

    # --- the shared life cycle ---

    async def connect(self) -> None:
        await self.accept()
        refusal = await self._admit()
        if refusal is not None:
            await self.refused(refusal)
            await self.end(refusal.code, "" if refusal.quiet else refusal.message)
            return
        try:
            await self.start()
        except Exception:
            log.exception("starting the socket %s failed", self.scope.get("path"))
            await self.end(INTERNAL_ERROR, "Podscope failed while opening this connection; reload the page.")

    async def _admit(self) -> Refusal | None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None) or ""
        if user is None or not user.is_authenticated:
            return Refusal(SIGNED_OUT, "You are signed out; sign in again.")
        if not socket_token_valid(session_key, query_params(self.scope).get("token", "")):
            # The session changed since the page was rendered (signed in again), or the page is not ours: the
            # socket closes before anything is sent on it (`quiet`).
            return Refusal(SIGNED_OUT, "The page's socket token is missing or not this session's.", quiet=True)
        if not await database_sync_to_async(user.has_perm)(self.permission):
            return Refusal(FORBIDDEN, self.forbidden)
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.cluster = clusters.get(kwargs["cluster"])
            self.namespace = check_namespace(kwargs["namespace"])
            self.name = check_name(kwargs["name"]) if "name" in kwargs else ""
            self.parse()
        except (clusters.ClusterError, InvalidName) as exc:
            return Refusal(NOT_FOUND, sentence(str(exc)))
        except BadFrame as exc:
            return Refusal(BAD_REQUEST, sentence(str(exc)))
        watched = (self.cluster.id, self.namespace) if self.kind != "exec" else None
        ticket = registry().admit(self, user.pk, session_key, self.permission, self.kind, watched)
        if isinstance(ticket, Refusal):
            return ticket
        self.user, self.ticket = user, ticket
        return None

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.ended or self.ticket is None:
            return  # refused, or over: frames that crossed the close are ignored
        try:
            await self.frame(message.get("text"), message.get("bytes"))
        except BadFrame as exc:
            await self.end(BAD_REQUEST, sentence(str(exc)))
        except Exception:
            log.exception("a message on %s failed", self.scope.get("path"))
            await self.end(INTERNAL_ERROR, "Podscope failed on a message from this page; reload the page.")

    async def disconnect(self, code: int) -> None:
        self.ended = True
        await self._teardown()

    async def end(self, code: int, message: str = "") -> None:
        """Say why (when there is something to say), close with `code` and clean up; only the first call acts."""
        if self.ended:
            return
        self.ended, self.reason = True, message
        if message:
            with contextlib.suppress(Exception):
                await self.tell(message)
        # Clean up first, so that by the time the page sees the close nothing is held for it any more.
        try:
            await self._teardown()
        finally:
            try:
                await self.close(code)
            except Exception:
                # Plain daphne (autobahn) sends only 1000 and 3000-4999; dashboard.server sends RFC 6455's codes too.
                with contextlib.suppress(Exception):
                    await self.close(NORMAL)

    async def _teardown(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.ended = True
        try:
            await self.stop()
        except Exception:
            log.exception("cleaning up the socket %s failed", self.scope.get("path"))
        finally:
            if self.ticket is not None:
                with contextlib.suppress(RuntimeError):
                    registry().release(self.ticket)
                self.ticket = None

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str = "") -> asyncio.Task[None]:
        """Run a task for this socket; if it fails, the socket ends with 1011 rather than hang silently."""
        task = asyncio.get_running_loop().create_task(coroutine, name=name or None)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is None or self.ended:
            return
        log.error("a task of the socket %s failed", self.scope.get("path"), exc_info=task.exception())
        message = "Podscope failed while serving this connection; reload the page."
        ending = asyncio.get_running_loop().create_task(self.end(INTERNAL_ERROR, message))
        _ending.add(ending)
        ending.add_done_callback(_ending.discard)


# Tasks that end sockets, kept referenced until they finish.
_ending: set[asyncio.Task[None]] = set()


async def cancel(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel tasks and wait for them to end, skipping the one running this (it returns by itself)."""
    current = asyncio.current_task()
    waiting = [task for task in tasks if task is not None and task is not current and not task.done()]
    for task in waiting:
        task.cancel()
    for task in waiting:
        try:
            await task
        except asyncio.CancelledError:
            if current is not None and current.cancelling():
                raise  # this task is being cancelled too: let it
        except Exception:
            log.exception("a socket's task failed while it was being cancelled")
