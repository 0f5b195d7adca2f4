"""A frozen API server (its process stopped with SIGSTOP): open pages say so within seconds, pages stay fast with
the last data, and everything recovers by itself once it runs again.

Stopping the process keeps its port open: the kernel still accepts connections and buffers requests, but
nothing answers. That is what an overloaded or hung API server looks like, unlike a closed port.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import AsyncClient
from django.urls import reverse
from kubernetes import client, config

from dashboard import context
from dashboard.kube import clusters, health, resources
from dashboard.kube.clusters import Cluster
from dashboard.kube.watches import Subscription, WatchHub
from tests.clusters import SandboxProcess
from tests.dashboard.integration.helpers import connect, create_pod, receive_until, until

# The banner must be up this soon after the freeze; a page must answer this soon while it lasts.
NOTICED_WITHIN = 5.0
PAGE_WITHIN = 1.0


class Freezer:
    """Stops and continues a sandbox's process; continued for sure when the test ends."""

    def __init__(self, sandbox: SandboxProcess) -> None:
        self.sandbox = sandbox
        self.frozen_at: float | None = None

    def freeze(self) -> None:
        assert self.sandbox.process is not None
        os.kill(self.sandbox.process.pid, signal.SIGSTOP)
        self.frozen_at = time.monotonic()

    def thaw(self) -> None:
        if self.frozen_at is not None and self.sandbox.process is not None:
            os.kill(self.sandbox.process.pid, signal.SIGCONT)
        self.frozen_at = None

    def since(self) -> float:
        assert self.frozen_at is not None
        return time.monotonic() - self.frozen_at


@pytest.fixture
def freezer(private_sandbox: SandboxProcess) -> Iterator[Freezer]:
    """Freezes the private sandbox on demand, and always lets it run again before it is stopped."""
    frozen = Freezer(private_sandbox)
    try:
        yield frozen
    finally:
        frozen.thaw()


@pytest.fixture
def cluster(private_sandbox: SandboxProcess) -> Cluster:
    """The private sandbox as the dashboard sees a kubeconfig context."""
    return Cluster("private", "Private", private_sandbox.kubeconfig)


@pytest.fixture(autouse=True)
async def health_checks() -> AsyncIterator[health.HealthMonitor]:
    """The event loop's health checks, stopped after the test (after its hubs, which hold them)."""
    checks = health.monitor()
    yield checks
    await checks.close()
    # A connection dropped mid-stream finishes closing a few loop turns later.
    await asyncio.sleep(0.2)


@pytest.fixture
async def private_hub() -> AsyncIterator[WatchHub]:
    """A WatchHub of the test's own, with every watch stopped after the test."""
    watches = WatchHub()
    yield watches
    await watches.close()


def record_event(sandbox: SandboxProcess, pod: str) -> None:
    # Pods on the virtual node get no events of their own; the pod page should have one to keep.
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig))
    try:
        body = {
            "metadata": {"name": f"{pod}.tested"},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": "default"},
            "reason": "Tested",
            "message": "an event to keep",
            "type": "Normal",
        }
        client.CoreV1Api(api_client).create_namespaced_event("default", body)
    finally:
        api_client.close()


async def stale_within(sub: Subscription, freezer: Freezer, timeout: float) -> None:
    """Wait for the notification that says the pods are stale; fail if it comes `timeout` s after the freeze."""
    while not sub.snapshot().stale:
        left = timeout - freezer.since()
        snapshot = sub.snapshot()
        assert left > 0, f"not stale {timeout} s after the freeze (synced={snapshot.synced}, error={snapshot.error!r})"
        try:
            await asyncio.wait_for(sub.changes(), left)
        except TimeoutError:
            continue


async def watching(hub: WatchHub, cluster: Cluster, sandbox: SandboxProcess, pod: str) -> Subscription:
    """A subscription to the default namespace once it shows a new pod named `pod`."""
    sub = hub.subscribe(cluster, "default")
    await asyncio.to_thread(create_pod, sandbox, pod)
    await until(lambda: pod in sub.snapshot().pods)
    assert not sub.snapshot().stale
    return sub


async def test_a_freeze_is_announced_to_subscribers_within_five_seconds(
    private_sandbox: SandboxProcess, freezer: Freezer, cluster: Cluster, private_hub: WatchHub
) -> None:
    sub = await watching(private_hub, cluster, private_sandbox, "before")
    try:
        freezer.freeze()
        await stale_within(sub, freezer, NOTICED_WITHIN)
        down = sub.snapshot()
        assert down.error is not None, down
        assert "has not answered since" in down.error
        assert "Retrying" in down.error
        assert "before" in down.pods  # the last data stays, marked stale
    finally:
        sub.close()


async def test_pages_answer_at_once_with_the_last_data_during_a_freeze(
    private_sandbox: SandboxProcess, freezer: Freezer, cluster: Cluster, private_hub: WatchHub
) -> None:
    sub = await watching(private_hub, cluster, private_sandbox, "before")
    try:
        await asyncio.to_thread(record_event, private_sandbox, "before")
        snapshot = sub.snapshot()
        pod = snapshot.pods["before"]
        fresh = await context.pod_context(cluster, "default", "before", pod, snapshot)
        namespaces = await resources.list_namespaces_or(cluster, "default")
        assert fresh["events"], "the pod should have events to keep"
        assert "kube-system" in namespaces

        freezer.freeze()
        await stale_within(sub, freezer, NOTICED_WITHIN)
        snapshot = sub.snapshot()

        started = time.monotonic()
        frozen = await context.pod_context(cluster, "default", "before", snapshot.pods["before"], snapshot)
        assert time.monotonic() - started < PAGE_WITHIN
        assert frozen["fetched"] == fresh["fetched"]  # the events last seen, not "cannot be read"
        assert frozen["exec_cluster"] == fresh["exec_cluster"]

        started = time.monotonic()
        assert await resources.list_namespaces_or(cluster, "default") == namespaces
        assert time.monotonic() - started < PAGE_WITHIN

        # A namespace nobody watched yet: the page learns at once that the cluster does not answer.
        started = time.monotonic()
        other = await private_hub.snapshot(cluster, "kube-system")
        assert time.monotonic() - started < PAGE_WITHIN
        assert other.error is not None
        assert "has not answered" in other.error

        started = time.monotonic()
        with pytest.raises(resources.KubeError) as caught:
            await resources.get_pod(cluster, "default", "before")
        assert time.monotonic() - started < PAGE_WITHIN
        assert caught.value.unreachable
        assert "has not answered since" in caught.value.message
    finally:
        sub.close()


async def test_after_a_freeze_the_watch_recovers_by_itself(
    private_sandbox: SandboxProcess, freezer: Freezer, cluster: Cluster, private_hub: WatchHub
) -> None:
    sub = await watching(private_hub, cluster, private_sandbox, "before")
    try:
        freezer.freeze()
        await stale_within(sub, freezer, NOTICED_WITHIN)
        await asyncio.sleep(3)  # frozen a while longer: probes keep going unanswered
        assert sub.snapshot().stale

        freezer.thaw()
        await asyncio.to_thread(create_pod, private_sandbox, "after")
        await until(lambda: "after" in sub.snapshot().pods, timeout=15)
        up = sub.snapshot()
        assert up.synced
        assert up.error is None
        assert not up.stale
        assert {"before", "after"} <= up.pods.keys()
        # Calls go to the cluster again.
        assert (await resources.get_pod(cluster, "default", "after"))["metadata"]["name"] == "after"
    finally:
        sub.close()


async def test_a_quiet_cluster_is_never_taken_for_a_frozen_one(
    private_sandbox: SandboxProcess, cluster: Cluster, private_hub: WatchHub
) -> None:
    sub = await watching(private_hub, cluster, private_sandbox, "still")
    checks = health.monitor().of(cluster)
    answered = checks.answered
    try:
        quiet = 4 * health.PROBE_INTERVAL + health.PROBE_TIMEOUT
        deadline = time.monotonic() + quiet
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.wait_for(sub.changes(), left)
            except TimeoutError:
                break
            assert not sub.snapshot().stale, sub.snapshot()
        assert not sub.snapshot().stale
        assert sub.snapshot().error is None
        assert checks.answered - answered >= 3  # the cluster was checked all along, and answered
    finally:
        sub.close()


@pytest.mark.django_db(transaction=True)
async def test_open_pod_page_shows_the_banner_and_new_pages_stay_fast(
    private_sandbox: SandboxProcess,
    freezer: Freezer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    async_client: AsyncClient,
    bob: User,
    watch_hub: WatchHub,
) -> None:
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(private_sandbox.kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    await asyncio.to_thread(create_pod, private_sandbox, "web")
    path = reverse("pod-detail", args=[clusters.SANDBOX, "default", "web"])
    communicator = await connect(async_client, bob, f"/ws{path}")
    try:
        await receive_until(communicator, r'id="pod-diagram"')

        freezer.freeze()
        frame = await receive_until(communicator, r"Cannot reach Sandbox\.", timeout=NOTICED_WITHIN)
        assert freezer.since() < NOTICED_WITHIN
        assert "has not answered since" in frame
        assert "Showing what was last seen" in frame

        started = time.monotonic()
        response = await async_client.get(path)
        assert time.monotonic() - started < PAGE_WITHIN
        assert response.status_code == 200
        page = response.content.decode()
        assert "Cannot reach Sandbox." in page
        assert 'id="pod-diagram"' in page

        freezer.thaw()
        await receive_until(communicator, r'<div id="cluster-status" aria-live="polite"></div>', timeout=15)
    finally:
        await communicator.disconnect()
