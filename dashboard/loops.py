"""One object per running event loop: the hubs and monitors that the server's sockets and pages share.

Daphne runs one event loop, so there each is a single object; every async test has a loop of its own, and so
objects of its own that never leak tasks or connections into the next test. A loop's object goes with it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """Makes one T for each event loop, the first time that loop asks for it."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        """The running loop's object, made now if it has none yet."""
        loop = asyncio.get_running_loop()
        if loop not in self._made:
            self._made[loop] = self._make()
        return self._made[loop]
