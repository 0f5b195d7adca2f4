"""A TCP proxy that drops connections left quiet for a while, as load balancers and ingress proxies do."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time


class IdleProxy:
    """Forward 127.0.0.1:`port` to `target`, closing any connection with no bytes either way for `idle` seconds.

    It runs its own event loop in a thread, so sync and async tests can both use it: `with IdleProxy(...) as p`.
    """

    def __init__(self, target_host: str, target_port: int, idle: float) -> None:
        self.target = (target_host, target_port)
        self.idle = idle
        self.port = 0
        self.dropped = 0  # connections closed for being idle
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __enter__(self) -> IdleProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        last = [time.monotonic()]

        async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                last[0] = time.monotonic()
                sink.write(data)
                await sink.drain()

        pumps = [
            asyncio.create_task(pump(reader, upstream_writer)),
            asyncio.create_task(pump(upstream_reader, writer)),
        ]
        try:
            while not any(p.done() for p in pumps):
                await asyncio.sleep(0.1)
                if time.monotonic() - last[0] > self.idle:
                    self.dropped += 1
                    break
        finally:
            for p in pumps:
                p.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, upstream_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
            self._tasks.discard(task)
