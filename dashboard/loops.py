"""One object per running event loop: the hubs, monitors and socket registry that the server's sockets and pages share.

Daphne runs one event loop, so there each is a single object; every async test has a loop of its own, and so
objects of its own that never leak tasks or connections into the next test. A loop's object goes with it.

Also here: TaskOwner, the stop and join of an object (a watch, a log stream) that runs one task.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """Makes one T for each event loop, the first time that loop asks for it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()
        # Signal receivers, in other threads, list the objects while loops make theirs.
        self._lock = threading.Lock()

    def get(self) -> T:
        """The running loop's object, made now if it has none yet."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if loop not in self._made:
                self._made[loop] = self._make()
            return self._made[loop]

    def items(self) -> list[tuple[asyncio.AbstractEventLoop, T]]:
        """Each loop with its object, as they are now; safe from any thread."""
        with self._lock:
            return list(self._made.items())


class TaskOwner:
    """An object running one task at a time, kept in `_task`: `stop()` cancels it, `join()` waits until it ended.

    A hub stops all its objects first and then joins them, so that they all wind down at once.
    """

    _task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def join(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
