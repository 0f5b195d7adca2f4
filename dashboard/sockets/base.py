"""The consumer every Podscope websocket derives from: admission, frames, and a clean-up that runs once.

A consumer derives from `SocketConsumer` and fills in `start` (subscribe, spawn its tasks), `frame` (one
validated frame) and `stop` (let go of everything). The base class does the rest the same way for every socket:

- **Admission**, in one order: signed in, the page's session token, the permission, a valid address, then the
  person's limits (dashboard/sockets/registry.py). A refusal is a close code and a sentence; nothing else is sent.
- **Frames**: a frame that breaks the socket's rules, or that its handler fails on, ends the socket with a
  sentence (BAD_REQUEST, or INTERNAL_ERROR for our own failure). Whatever happens, `stop` runs exactly once.
- **Ends**: the page, a revocation, a shutdown or a failure all come through `end(code, sentence)`; the close
  codes are in dashboard/sockets/codes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable, WebSocketReceiveEvent
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import User

from dashboard.kube import clusters
from dashboard.names import InvalidName, check_name, check_namespace
from dashboard.origins import socket_token_valid
from dashboard.sockets.codes import (
    BAD_REQUEST,
    FORBIDDEN,
    INTERNAL_ERROR,
    NORMAL,
    NOT_FOUND,
    SIGNED_OUT,
    Refusal,
)
from dashboard.sockets.registry import Ticket, registry
from dashboard.text import sentence

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope

log = logging.getLogger(__name__)

# The largest JSON text frame any page sends is a log view's start with a resume point per container.
MAX_TEXT_FRAME = 64 * 1024


class BadFrame(ValueError):
    """A frame (or socket parameter) a socket refuses, with a sentence for the user."""


def query_params(scope: _ChannelScope) -> dict[str, str]:
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


# --- the consumer every socket derives from ---------------------------------------------------------------------


class SocketConsumer(AsyncWebsocketConsumer):
    """A websocket admitted one way, fed validated frames, and always cleaned up once."""

    permission: str = ""
    kind: str = "live"
    forbidden = "You do not have the permission to see this."

    cluster: clusters.Cluster
    namespace: str
    name: str
    user: User
    ticket: Ticket | None = None
    ended = False
    reason = ""  # the sentence the socket was ended with, if any
    _stopped = False

    async def __call__(self, scope: _ChannelScope, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
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
        # Signed in, channels' lazy user is an account of the user model (the lazy object passes isinstance).
        assert isinstance(user, User)
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

    async def websocket_receive(self, message: WebSocketReceiveEvent) -> None:
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
                # Plain daphne (autobahn) sends only NORMAL and APPLICATION codes; dashboard.server sends the rest too.
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
        """Run a task for this socket; if it fails, the socket ends with INTERNAL_ERROR rather than hang silently."""
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
