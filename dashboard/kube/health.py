"""Whether each cluster's API server answers at all, from a cheap check every couple of seconds.

A frozen API server (its process stopped or hung, its host swapping, packets dropped on the way) keeps its port
open: the kernel accepts connections and takes requests, and nothing answers. Every call then waits for its
timeout, and a watch simply goes quiet, which looks exactly like a namespace where nothing changes. A check
tells the two apart: while a watch of a cluster runs, or after a call to it failed or was slow, `ClusterHealth`
asks for GET /version every PROBE_INTERVAL seconds. Any user may ask for it on a real cluster (the
system:public-info-viewer role, anonymous users included), the API server answers it from memory, and any HTTP
answer counts, even 401 or 403: the server is there. A check with no answer within PROBE_TIMEOUT makes the
cluster silent: the connections its calls hold are dropped, watches mark their pods stale, and new calls fail at
once (resources.connection) until a check is answered again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import aiohttp
import yaml
from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.config.config_exception import ConfigException as SyncConfigException

from dashboard.kube.clusters import Cluster
from dashboard.loops import PerLoop

log = logging.getLogger(__name__)

# A freeze is noticed within PROBE_INTERVAL + PROBE_TIMEOUT (3.5 s), so open pages show it within 5 s. /version
# costs the API server next to nothing; even a new TLS connection over a slow link (three round trips) fits in
# PROBE_TIMEOUT, and the client keeps its connection between checks.
PROBE_INTERVAL = 1.5
PROBE_TIMEOUT = 2.0
# A call with no answer for this long has the cluster checked, even with no watch running.
SLOW_CALL = 1.0
# With no watch running, a silent cluster is checked for this long after the last call that wanted it.
PROBE_LINGER = 60.0
# What loading a cluster's configuration may raise.
CONFIG_ERRORS = (ConfigException, SyncConfigException, OSError, TypeError, ValueError, yaml.YAMLError)

T = TypeVar("T")


class Silent(Exception):
    """The cluster stopped answering before the awaited work was done."""


class ClusterHealth:
    """Whether one cluster answers: checked while something depends on it; presumed to answer otherwise."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.host = ""
        self.silent_since: datetime | None = None
        self.failure: BaseException | None = None  # why the last check failed; TimeoutError: no answer at all
        self.checks = 0
        self.answered = 0
        self._holders = 0
        self._soon = False
        self._wanted_until = 0.0
        self._answering = asyncio.Event()
        self._answering.set()
        self._silent = asyncio.Event()
        self._wake = asyncio.Event()
        self._clients: set[aio_client.ApiClient] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def silent(self) -> bool:
        return self.silent_since is not None

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Keep checking the cluster while in this block (a running watch)."""
        self._holders += 1
        self._start()
        try:
            yield
        finally:
            self._holders -= 1
            if not self._holders:
                self._wake.set()  # so the checks stop now, unless a failed call still wants them

    def check_soon(self) -> None:
        """Check the cluster at least once more (now, if nothing checks it yet), and while it is silent, a while."""
        self._wanted_until = asyncio.get_running_loop().time() + PROBE_LINGER
        # Checks already running keep their pace: a burst of slow calls must not become a burst of checks.
        self._soon = True
        self._start()

    @contextlib.contextmanager
    def track(self, api: aio_client.ApiClient) -> Iterator[None]:
        """While in this block, `api`'s connections are dropped if the cluster falls silent; a slow block has
        the cluster checked."""
        self._clients.add(api)
        slow = asyncio.get_running_loop().call_later(SLOW_CALL, self.check_soon)
        try:
            yield
        finally:
            slow.cancel()
            self._clients.discard(api)

    async def answering(self) -> None:
        """Return once a check is answered; at once unless the cluster is known to be silent."""
        await self._answering.wait()

    async def unless_silent(self, work: Awaitable[T]) -> T:
        """Await `work`, unless the cluster falls silent first: then cancel it and raise Silent."""
        task = asyncio.ensure_future(work)
        silence = asyncio.ensure_future(self._silent.wait())
        try:
            await asyncio.wait({task, silence}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            silence.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            raise Silent
        return task.result()

    # -- the checks ----------------------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"health of {self.cluster.id}")

    def _wanted(self, now: float) -> bool:
        return self._holders > 0 or self._soon or (self.silent and now < self._wanted_until)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        api: aio_client.ApiClient | None = None
        try:
            while self._wanted(loop.time()):
                started, at = loop.time(), datetime.now(UTC)
                self._soon = False
                self._wake.clear()
                if api is None:
                    api = await self._client()
                # No client: the configuration cannot be used, which every call says for itself.
                if api is not None:
                    if (failure := await self._check(api)) is None:
                        self._answered()
                    else:
                        # A new client for the next check: a new connection, and the configuration read again.
                        await api.close()
                        api = None
                        await self._fall_silent(at, failure)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), PROBE_INTERVAL - (loop.time() - started))
        finally:
            # Nobody checks any more, so nothing is known: calls go to the cluster again. A block holding the
            # cluster from here on starts a new loop.
            self._task = None
            if self.silent:
                self._answered(checked=False)
            if api is not None:
                await api.close()

    async def _client(self) -> aio_client.ApiClient | None:
        try:
            api = await self.cluster.client()
        except CONFIG_ERRORS:
            return None
        except Exception:
            # Checks are a help, never a failure of their own: unknown trouble leaves the cluster presumed answering.
            log.exception("checking cluster %s: no client", self.cluster.id)
            return None
        self.host = api.configuration.host
        return api

    async def _check(self, api: aio_client.ApiClient) -> BaseException | None:
        """None if the API server answered GET /version in time; otherwise what went wrong."""
        self.checks += 1
        request = asyncio.ensure_future(self._version(api))
        try:
            done, _ = await asyncio.wait({request}, timeout=PROBE_TIMEOUT)
        finally:
            if not request.done():
                # Closing the client aborts its connection; a polite TLS goodbye to a server that does not answer
                # would wait half a minute.
                await api.close()
                request.cancel()
                await asyncio.gather(request, return_exceptions=True)
        if not done:
            return TimeoutError()
        try:
            request.result()
        except ApiException:
            return None  # an error status is an answer
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return exc
        except Exception:
            log.exception("checking cluster %s failed oddly; presumed answering", self.cluster.id)
        return None

    @staticmethod
    async def _version(api: aio_client.ApiClient) -> None:
        request = await api.param_serialize(
            "GET", "/version", header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
        )
        # The client's own timeout only backs up _check's, which aborts instead of closing politely.
        response = await api.call_api(*request, _request_timeout=PROBE_TIMEOUT * 2, _preload_content=False)
        await response.read()

    def _answered(self, checked: bool = True) -> None:
        if checked:
            self.answered += 1
        if self.silent and checked:
            log.info("cluster %s answers again", self.cluster.id)
        self.silent_since, self.failure = None, None
        self._silent.clear()
        self._answering.set()

    async def _fall_silent(self, at: datetime, failure: BaseException) -> None:
        self.failure = failure
        if self.silent:
            return
        log.warning("cluster %s does not answer: %s", self.cluster.id, str(failure) or type(failure).__name__)
        self.silent_since = at
        self._answering.clear()
        self._silent.set()
        # Calls waiting on the cluster would each wait for their timeout: drop their connections now.
        await asyncio.gather(*(api.close() for api in list(self._clients)), return_exceptions=True)


class HealthMonitor:
    """The health of every cluster used in one event loop."""

    def __init__(self) -> None:
        self.clusters: dict[Cluster, ClusterHealth] = {}

    def of(self, cluster: Cluster) -> ClusterHealth:
        if cluster not in self.clusters:
            self.clusters[cluster] = ClusterHealth(cluster)
        return self.clusters[cluster]

    async def close(self) -> None:
        """Stop every check (tests, shutdown)."""
        tasks = [health._task for health in self.clusters.values() if health._task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


_monitors = PerLoop(HealthMonitor)


def monitor() -> HealthMonitor:
    """The monitor of the running event loop (daphne has one; each test has its own)."""
    return _monitors.get()
