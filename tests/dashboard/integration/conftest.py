"""Fixtures for the dashboard against the real sandbox: personas, the cluster as the dashboard sees it, pods."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from kubernetes import client

from dashboard.kube import clusters, logs
from dashboard.kube.watches import WatchHub, hub
from tests.clusters import SandboxProcess
from tests.dashboard.harness import Podscope, start_dashboard
from tests.pods import wait_for


@pytest.fixture
def sandbox_cluster(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> clusters.Cluster:
    """The dashboard configured with the session's sandbox as its only cluster, as the demo runs it."""
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(sandbox.kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return clusters.get(clusters.SANDBOX)


@pytest.fixture
async def settle() -> AsyncIterator[None]:
    """For tests that close TLS streams themselves: let the closing finish before the test's event loop closes."""
    yield
    await asyncio.sleep(0.2)


@pytest.fixture
def viewer_cluster(
    sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, sandbox_cluster: clusters.Cluster
) -> clusters.Cluster:
    """The sandbox through its read-only `viewer` context: it may read pods, not exec in them or forward ports."""
    monkeypatch.setenv("KUBECONFIG", str(sandbox.kubeconfig))
    return clusters.get("viewer")


@pytest.fixture
def dead_cluster(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> clusters.Cluster:
    """A kubeconfig context whose API server is gone (a port nothing listens on), next to the sandbox."""
    import socket

    import yaml

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    config["contexts"][0]["name"] = config["current-context"] = "gone"
    path = tmp_path / "dead-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(sandbox.kubeconfig))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return clusters.get("gone")


@pytest.fixture
def private_sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """A sandbox only this test uses, so it may stop or freeze it."""
    cluster = SandboxProcess(tmp_path / "sandbox")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def log_hub() -> AsyncIterator[logs.LogHub]:
    """The event loop's LogHub, stopped after the test."""
    current = logs.hub()
    yield current
    await current.close()
    await asyncio.sleep(0.2)


@pytest.fixture
async def watch_hub() -> AsyncIterator[WatchHub]:
    """The event loop's WatchHub, with every watch stopped after the test."""
    current = hub()
    yield current
    await current.close()
    # A TLS connection dropped mid-stream finishes closing a few loop turns later; let it, before the test's
    # event loop is closed under it.
    await asyncio.sleep(0.2)


def persona(django_user_model: type[User], username: str, *groups: str) -> User:
    user = django_user_model.objects.create_user(username=username, password="x" * 20)
    user.groups.add(*Group.objects.filter(name__in=groups))
    return user


@pytest.fixture
def alice(transactional_db: None, django_user_model: type[User]) -> User:
    """An operator: may view, read logs, exec and write."""
    return persona(django_user_model, "alice", "Operators")


@pytest.fixture
def bob(transactional_db: None, django_user_model: type[User]) -> User:
    """A viewer: may look at pods and logs, not change anything."""
    return persona(django_user_model, "bob", "Viewers")


@pytest.fixture
def carol(transactional_db: None, django_user_model: type[User]) -> User:
    """Signed in but granted nothing."""
    return persona(django_user_model, "carol")


@pytest.fixture
def make_pod(core: client.CoreV1Api, namespace: str) -> Callable[..., dict[str, Any]]:
    """Create a pod in the test's namespace and wait until it runs; returns the manifest."""

    def make(name: str, command: str = "sleep 3600", ready: bool = True, **spec: Any) -> dict[str, Any]:
        manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", command]}],
                **spec,
            },
        }
        core.create_namespaced_pod(namespace, manifest)
        if ready:
            wait_for(core, namespace, name, lambda p: p.status.phase == "Running", timeout=30)
        return manifest

    return make


@pytest.fixture(scope="module")
def served(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podscope]:
    """The dashboard as a real server process on a free loopback port, shared by one test module."""
    server = start_dashboard(sandbox, tmp_path_factory.mktemp("served") / "podscope")
    try:
        yield server
    finally:
        server.stop()
