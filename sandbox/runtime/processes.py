"""Local processes for exec: a command on pipes, or on a pty that becomes its controlling terminal.

Each runs in its own session, so that ending it ends everything it started. They are the `Process` that
sandbox/runtime/exec_streams.py drives; the kubelet starts them through nsenter, in a container's namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator, Callable

from sandbox.runtime.exec_streams import STDOUT, Process, SpawnError

# How much is read from a pipe or the pty at a time.
_CHUNK = 32 * 1024


async def spawn_local(
    argv: list[str],
    tty: bool,
    *,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    preexec: Callable[[], None] | None = None,
) -> Process:
    """Start `argv` as a local process in its own session: pipes, or a pty that becomes its controlling terminal."""
    if not argv:
        raise SpawnError("failed to exec in container: no command given")
    try:
        if tty:
            return await _PtyProcess.start(argv, env=env, cwd=cwd, preexec=preexec)
        return await _PipeProcess.start(argv, env=env, cwd=cwd, preexec=preexec)
    except FileNotFoundError as exc:
        if "/" in argv[0]:
            raise SpawnError(
                f'failed to exec in container: exec: "{argv[0]}": stat {argv[0]}: no such file or directory'
            ) from exc
        raise SpawnError(f'failed to exec in container: exec: "{argv[0]}": executable file not found in $PATH') from exc
    except PermissionError as exc:
        raise SpawnError(f'failed to exec in container: exec: "{argv[0]}": permission denied') from exc
    except OSError as exc:
        raise SpawnError(f"failed to exec in container: {exc.strerror or exc}") from exc


def _exit_code(returncode: int) -> int:
    # Runtimes report a signalled process as 128 + signal, as a shell would.
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _ExitProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The usual subprocess protocol, plus an event set as soon as the process exits.

    asyncio's own `wait()` also waits for every pipe to close, which a background child can delay forever.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


class _PipeProcess:
    """A local process on three pipes."""

    def __init__(self, process: asyncio.subprocess.Process, protocol: _ExitProtocol) -> None:
        self._process = process
        self._protocol = protocol

    @classmethod
    async def start(
        cls, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, preexec: Callable[[], None] | None
    ) -> _PipeProcess:
        loop = asyncio.get_running_loop()
        pipe = asyncio.subprocess.PIPE
        transport, protocol = await loop.subprocess_exec(
            lambda: _ExitProtocol(loop),
            *argv,
            stdin=pipe,
            stdout=pipe,
            stderr=pipe,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
        return cls(asyncio.subprocess.Process(transport, protocol, loop), protocol)

    async def output(self, channel: int) -> AsyncIterator[bytes]:
        stream = self._process.stdout if channel == STDOUT else self._process.stderr
        if stream is None:
            return
        while chunk := await stream.read(_CHUNK):
            yield chunk

    async def write_stdin(self, data: bytes) -> None:
        assert self._process.stdin is not None
        self._process.stdin.write(data)
        await self._process.stdin.drain()

    async def close_stdin(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()

    def resize(self, width: int, height: int) -> None:
        """Pipes have no window size."""

    async def wait(self) -> int:
        await self._protocol.exited.wait()
        assert self._process.returncode is not None
        return _exit_code(self._process.returncode)

    async def kill(self) -> None:
        _kill_group(self._process.pid)
        await self._protocol.exited.wait()


class _PtyProcess:
    """A local process whose stdin, stdout and stderr are one pseudo-terminal."""

    def __init__(self, process: asyncio.subprocess.Process, master: int) -> None:
        self._process = process
        self._master = master
        self._closed = False
        self._waiters: set[asyncio.Future[None]] = set()

    @classmethod
    async def start(
        cls, argv: list[str], *, env: dict[str, str] | None, cwd: str | None, preexec: Callable[[], None] | None
    ) -> _PtyProcess:
        master, slave = os.openpty()

        def become_terminal_owner() -> None:
            # start_new_session made the child a session leader; now the pty becomes its controlling terminal,
            # so ^C reaches the foreground job and the shell gets job control.
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            if preexec is not None:
                preexec()

        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=become_terminal_owner,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child keeps the slave open, so reading the master ends (EIO) when the child's side closes.
            os.close(slave)
        os.set_blocking(master, False)
        return cls(process, master)

    async def output(self, channel: int) -> AsyncIterator[bytes]:
        if channel != STDOUT:
            return
        try:
            while not self._closed:
                try:
                    chunk = os.read(self._master, _CHUNK)
                except BlockingIOError:
                    await self._ready(writable=False)
                    continue
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise
                if not chunk:
                    return
                yield chunk
        finally:
            self._close()

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._closed:
                raise BrokenPipeError("the terminal is closed")
            try:
                view = view[os.write(self._master, view) :]
            except BlockingIOError:
                await self._ready(writable=True)

    async def close_stdin(self) -> None:
        # A terminal has no end of input, only the EOF character: the shell reading it sees end of file.
        with contextlib.suppress(OSError):
            await self.write_stdin(b"\x04")

    def resize(self, width: int, height: int) -> None:
        if not self._closed:
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        return _exit_code(await self._process.wait())

    async def kill(self) -> None:
        _kill_group(self._process.pid)
        await self._process.wait()

    async def _ready(self, *, writable: bool) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
        add(self._master, wake)
        self._waiters.add(ready)
        try:
            await ready
        finally:
            self._waiters.discard(ready)
            # Once closed the fd number may already belong to someone else: leave its registration alone.
            if not self._closed:
                remove(self._master)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._master)
        loop.remove_writer(self._master)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        os.close(self._master)
