"""Reading pasted manifests off the event loop, in a few worker processes with a time and a memory limit.

A manifest is text from any signed-in user, and reading it (parsing, then laying out its pods) is CPU work
that would stall every page and socket of the single-process server; a thread would still hold the GIL. So
it runs in a worker process: a fresh interpreter that imports this module and the pure ones it needs, never
Django or the server's main module (which multiprocessing's spawn and forkserver workers would import again).
Workers start when first needed and are reused; one that overruns its time is killed and replaced, so the
person who pasted the manifest gets a sentence and everyone else never notices.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import multiprocessing
import resource
import signal
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from dashboard import manifests

WORKERS = 2
TIME_LIMIT = 10.0  # seconds for one task, read at each call
MEMORY_LIMIT = 1024**3  # bytes of address space for one worker: a second line behind the manifest limits
STARTUP_LIMIT = 30.0  # seconds for a new worker to import what it needs

ROOT = Path(__file__).resolve().parent.parent  # where `dashboard` is imported from
T = TypeVar("T")


class Overrun(Exception):
    """A task stopped for taking too long or too much memory; the message says which ("took longer than 10 s")."""


class _RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker, shown as the cause of the same exception here."""

    def __str__(self) -> str:
        text: str = self.args[0]
        return text


def serve() -> None:
    """A worker's life: run (function, args) from its socket, answer (ok, result or exception, traceback)."""
    fd, memory = int(sys.argv[1]), int(sys.argv[2])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the server, which stops its workers itself
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    conn = Connection(fd)
    conn.send("ready")
    while True:
        try:
            function, args = conn.recv()
        except EOFError:  # the server closed its end, or exited
            return
        try:
            reply = (True, function(*args), "")
        except Exception as exc:
            reply = (False, exc, traceback.format_exc())
        try:
            conn.send(reply)
        except Exception as exc:  # an answer that cannot be pickled, or not in the memory left
            conn.send((False, exc, traceback.format_exc()))


class _Worker:
    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        with child:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _MAIN, str(child.fileno()), str(MEMORY_LIMIT)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                pass_fds=[child.fileno()],
            )
        # Wait for its imports: a manifest sent before would fill the socket and block the event loop.
        try:
            started = self.conn.poll(STARTUP_LIMIT) and self.conn.recv() == "ready"
        except EOFError:
            started = False
        if not started:
            self.stop()
            raise RuntimeError(f"a manifest worker did not start (exit status {self.process.returncode})")

    async def call(self, function: Callable[..., Any], args: tuple[Any, ...], limit: float) -> tuple[bool, Any, str]:
        self.conn.send((function, args))
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.conn.fileno(), readable)
        try:
            async with asyncio.timeout(limit):
                await ready
        finally:
            loop.remove_reader(self.conn.fileno())
        # The worker pickles its whole answer before writing it, so this only waits for the pipe to drain.
        answer: tuple[bool, Any, str] = self.conn.recv()
        return answer

    def stop(self, wait: float = 0) -> None:
        """Close the socket, an idle worker's cue to exit; kill the worker if it is still there after `wait` s."""
        self.conn.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(wait)
        if self.process.returncode is None:
            self.process.kill()
            self.process.wait()


class Pool:
    """Up to `size` workers, started when first needed and reused; tasks beyond that wait for a free one."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: list[_Worker] = []
        self._workers: set[_Worker] = set()
        self._starting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker; Overrun when it takes more than TIME_LIMIT or MEMORY_LIMIT."""
        worker, limit = await self._acquire(), TIME_LIMIT
        try:
            ok, value, remote = await worker.call(function, args, limit)
        except TimeoutError:
            self._discard(worker)
            raise Overrun(f"took longer than {limit:g} s") from None
        except (EOFError, OSError):
            self._discard(worker)
            raise Overrun("stopped its worker process (it may have run out of memory)") from None
        except BaseException:  # cancelled while the worker runs: its answer would be read by the next task
            self._discard(worker)
            raise
        if not ok and isinstance(value, MemoryError):
            self._discard(worker)  # give its memory back
            raise Overrun(f"needed more than {MEMORY_LIMIT / 1024**3:g} GiB of memory") from None
        self._release(worker)
        if not ok:
            raise value from _RemoteTraceback(remote)
        result: T = value  # what `function` returned, unpickled
        return result

    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        return sorted(worker.process.pid for worker in self._workers)

    def shutdown(self) -> None:
        """Stop every worker: idle ones exit when their pipe closes, busy ones are killed."""
        workers, self._workers, self._idle = list(self._workers), set(), []
        for worker in workers:
            worker.stop(wait=1)

    async def _acquire(self) -> _Worker:
        while not self._idle and len(self._workers) + self._starting >= self.size:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled: pass the turn on
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        if self._idle:
            return self._idle.pop()
        self._starting += 1
        try:
            worker = await asyncio.to_thread(_Worker)  # a new interpreter: not on the loop
        except BaseException:
            self._wake()
            raise
        finally:
            self._starting -= 1
        self._workers.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        self._idle.append(worker)
        self._wake()

    def _discard(self, worker: _Worker) -> None:
        self._workers.discard(worker)
        worker.stop()
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


_MAIN = "from dashboard.workers import serve; serve()"
pool = Pool(WORKERS)
atexit.register(pool.shutdown)


async def preview(text: str, keep_documents: bool = True) -> dict[str, Any]:
    """manifests.preview() in a worker; a manifest that overruns the time or memory limit is refused too."""
    try:
        return await pool.run(manifests.preview, text, keep_documents)
    except Overrun as exc:
        return manifests.refusal(
            f"reading the manifest {exc}; Podscope stopped it. Split the manifest into smaller ones and try again."
        )


async def parse(text: str) -> list[dict[str, Any]]:
    """manifests.parse() in a worker: the objects of a manifest, or ManifestError (Overrun past the limits)."""
    return await pool.run(manifests.parse, text)
