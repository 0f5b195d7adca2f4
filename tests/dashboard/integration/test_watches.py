"""WatchHub against a sandbox of its own that the test stops and starts again."""

from __future__ import annotations

import asyncio

from dashboard.kube.clusters import Cluster
from dashboard.kube.watches import Subscription, WatchHub
from tests.clusters import SandboxProcess
from tests.dashboard.integration.helpers import create_pod, until


async def test_outage_keeps_stale_pods_then_recovers_by_itself(private_sandbox: SandboxProcess) -> None:
    hub = WatchHub()
    cluster = Cluster("private", "Private", private_sandbox.kubeconfig)
    sub: Subscription = hub.subscribe(cluster, "default")
    try:
        create_pod(private_sandbox, "before")
        await until(lambda: "before" in sub.snapshot().pods)
        assert sub.snapshot().error is None

        await asyncio.to_thread(private_sandbox.stop)
        await until(lambda: sub.snapshot().error)
        down = sub.snapshot()
        assert down.error.startswith("Cannot reach the cluster at https://127.0.0.1:")
        assert "Retrying" in down.error  # in N s, or as soon as the health checks get an answer
        assert down.stale
        assert "before" in down.pods  # the last data stays, marked stale

        await asyncio.to_thread(private_sandbox.start)
        create_pod(private_sandbox, "after")
        await until(lambda: "after" in sub.snapshot().pods, timeout=30)
        up = sub.snapshot()
        assert up.error is None
        assert not up.stale
        assert {"before", "after"} <= up.pods.keys()
        assert hub.watch(cluster, "default").lists >= 2
    finally:
        sub.close()
        await hub.close()
        await asyncio.sleep(0.2)


async def test_last_viewer_leaving_stops_the_watch_after_a_while(private_sandbox: SandboxProcess) -> None:
    hub = WatchHub(linger=0.2)
    cluster = Cluster("private", "Private", private_sandbox.kubeconfig)
    first, second = hub.subscribe(cluster, "default"), hub.subscribe(cluster, "default")
    try:
        await until(lambda: first.snapshot().synced)
        first.close()
        await asyncio.sleep(0.4)
        assert hub.watches  # one viewer is still there
        second.close()
        await until(lambda: not hub.watches, timeout=2)
    finally:
        await hub.close()
        await asyncio.sleep(0.2)
