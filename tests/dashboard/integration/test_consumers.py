"""Live updates over real websockets: the pod page and pod list follow the sandbox as it changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient
from kubernetes import client

from dashboard.asgi import application
from dashboard.kube import clusters
from dashboard.kube.watches import WatchHub
from tests.dashboard.integration.helpers import connect, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

# Exits with code 3 when told to (by a file), so the test can make the container restart on demand.
RESTARTABLE = "while [ ! -f /tmp/stop ]; do sleep 0.1; done; rm /tmp/stop; exit 3"


async def test_pod_page_socket_shows_a_restart_within_a_second(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    watch_hub: WatchHub,
) -> None:
    make_pod("flaky", command=RESTARTABLE)
    communicator = await connect(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/flaky/")
    try:
        first = await receive_until(communicator, r'id="pod-diagram"')
        assert 'id="pod-summary"' in first
        assert 'id="containers"' in first
        assert 'id="cluster-status"' in first
        assert "restarts 0" in first
        proc = await asyncio.create_subprocess_exec(
            *_kubectl(sandbox_cluster), "exec", "-n", namespace, "flaky", "--", "touch", "/tmp/stop"
        )
        assert await proc.wait() == 0
        started = time.monotonic()
        # The exit shows at once; the restart follows the kubelet's back-off (10 s for a first failure).
        frame = await receive_until(communicator, r"waiting: CrashLoopBackOff")
        assert 'id="pod-diagram"' in frame
        assert time.monotonic() - started < 5
        await receive_until(communicator, r"restarts 1\b", timeout=30)
    finally:
        await communicator.disconnect()


def _kubectl(cluster: clusters.Cluster) -> list[str]:
    from tests.clusters import CURRENT_KUBECTL, kubectl_binary

    return [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(cluster.kubeconfig)]


async def test_one_watch_serves_every_viewer(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster, namespace: str, watch_hub: WatchHub
) -> None:
    sockets = [await connect(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/") for _ in range(5)]
    try:
        for communicator in sockets:
            await receive_until(communicator, r"No pods in")
        assert len(watch_hub.watches) == 1
        (watch,) = watch_hub.watches.values()
        assert watch.lists == 1
        assert len(watch.subscribers) == 5
    finally:
        for communicator in sockets:
            await communicator.disconnect()
    assert not watch.subscribers


async def test_pod_list_socket_adds_new_pods_and_follows_the_filter(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    core: client.CoreV1Api,
    watch_hub: WatchHub,
) -> None:
    communicator = await connect(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/?q=alpha")
    try:
        await receive_until(communicator, r"No pods in")
        for name in ("alpha", "beta"):
            body = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            core.create_namespaced_pod(namespace, body)
        frame = await receive_until(communicator, r'data-pod="alpha"')
        assert 'data-pod="beta"' not in frame
        await communicator.send_json_to({"q": "", "selector": "", "page": "1"})
        await receive_until(communicator, r'data-pod="alpha".*data-pod="beta"')
    finally:
        await communicator.disconnect()


async def test_deleted_pod_is_announced_on_its_page(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    make_pod: Callable,
    core: client.CoreV1Api,
    watch_hub: WatchHub,
) -> None:
    make_pod("brief", ready=False)
    communicator = await connect(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/brief/")
    try:
        await receive_until(communicator, r'id="pod-diagram"')
        core.delete_namespaced_pod("brief", namespace, grace_period_seconds=0)
        await receive_until(communicator, r"This pod no longer exists", timeout=20)
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize(
    ("who", "path", "code"),
    [
        (None, "/ws/c/sandbox/ns/default/pods/", 4401),
        ("carol", "/ws/c/sandbox/ns/default/pods/", 4403),
        ("carol", "/ws/c/sandbox/ns/default/pods/x/", 4403),
        ("bob", "/ws/c/elsewhere/ns/default/pods/", 4404),
        ("bob", "/ws/c/sandbox/ns/Not_Valid/pods/", 4404),
    ],
)
async def test_sockets_refuse_with_a_code_the_page_explains(
    async_client: AsyncClient,
    bob: User,
    carol: User,
    sandbox_cluster: clusters.Cluster,
    who: str | None,
    path: str,
    code: int,
) -> None:
    user = {"bob": bob, "carol": carol}.get(who or "")
    communicator = await connect(async_client, user, path)
    await communicator.send_json_to({"q": "sneaky"})  # ignored: the socket is being refused
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": code}
    await communicator.disconnect()


async def test_socket_from_another_origin_is_refused(
    async_client: AsyncClient, bob: User, sandbox_cluster: clusters.Cluster
) -> None:
    await async_client.aforce_login(bob)
    headers = [
        (b"origin", b"http://evil.example"),
        (b"cookie", f"sessionid={async_client.cookies['sessionid'].value}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/c/sandbox/ns/default/pods/", headers=headers)
    connected, _ = await communicator.connect()
    assert not connected
    await communicator.disconnect()


async def test_dead_cluster_socket_reports_the_outage(
    async_client: AsyncClient, bob: User, dead_cluster: clusters.Cluster, watch_hub: WatchHub
) -> None:
    communicator = await connect(async_client, bob, f"/ws/c/{dead_cluster.id}/ns/default/pods/")
    try:
        frame = await receive_until(communicator, r"Cannot reach gone")
        assert "connection refused" in frame.lower() or "cannot reach" in frame.lower()
    finally:
        await communicator.disconnect()


async def test_socket_closes_when_its_user_logs_out(
    async_client: AsyncClient,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    watch_hub: WatchHub,
) -> None:
    communicator = await connect(async_client, bob, f"/ws/c/sandbox/ns/{namespace}/pods/")
    try:
        await receive_until(communicator, r'id="pod-table"')
        await async_client.alogout()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            output = await communicator.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                assert output["code"] == 4401
                break
        else:
            raise AssertionError("the socket stayed open after logout")
    finally:
        await communicator.disconnect()
