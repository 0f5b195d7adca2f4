"""Cluster discovery from kubeconfigs and the environment, and real asyncio clients to the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes.aio import client as aio_client

from dashboard.kube import clusters
from tests.clusters import SandboxProcess


def write_kubeconfig(path: Path, contexts: list[tuple[str, str]]) -> Path:
    """A kubeconfig with one context per (name, namespace), all pointing at an unroutable test server."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u", "namespace": ns}} for n, ns in contexts],
        "current-context": contexts[0][0] if contexts else "",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A clean environment: no sandbox, no in-cluster variables, KUBECONFIG pointing at nothing yet."""
    monkeypatch.delenv("PODSCOPE_SANDBOX_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    return tmp_path


def test_every_context_of_every_kubeconfig_is_a_cluster(environment: Path, monkeypatch: pytest.MonkeyPatch):
    first = write_kubeconfig(environment / "a", [("prod", "shop"), ("staging", "")])
    second = write_kubeconfig(environment / "b", [("staging", "other"), ("lab", "class")])
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    found = clusters.discover()
    assert [(c.id, c.namespace, c.kubeconfig) for c in found] == [
        ("prod", "shop", first),
        ("staging", "default", first),
        ("lab", "class", second),
    ]


def test_the_sandbox_comes_first(environment: Path, monkeypatch: pytest.MonkeyPatch):
    sandbox = write_kubeconfig(environment / "sandbox", [("podscope-sandbox", "default")])
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(sandbox))
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(environment / "k", [("prod", "")])))
    assert [c.id for c in clusters.discover()] == ["sandbox", "prod"]


@pytest.mark.parametrize(
    "content", ["", "not: [valid", "apiVersion: v1\nkind: Config\n"], ids=["empty", "broken", "bare"]
)
def test_unreadable_kubeconfigs_are_skipped(environment: Path, monkeypatch: pytest.MonkeyPatch, content: str):
    bad = environment / "bad"
    bad.write_text(content)
    monkeypatch.setenv("KUBECONFIG", str(bad))
    assert clusters.discover() == []


def test_unknown_cluster_names_the_available_ones(environment: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("KUBECONFIG", str(write_kubeconfig(environment / "k", [("prod", ""), ("lab", "")])))
    with pytest.raises(clusters.ClusterError) as caught:
        clusters.get("nope")
    assert str(caught.value) == 'no cluster "nope" is configured (available: prod, lab)'


async def test_a_sandbox_client_lists_real_namespaces(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(sandbox.kubeconfig))
    cluster = clusters.get("sandbox")
    api_client = await cluster.client()
    try:
        names = [ns.metadata.name for ns in (await aio_client.CoreV1Api(api_client).list_namespace()).items]
    finally:
        await api_client.close()
    assert {"default", "kube-system", "kube-public"} <= set(names)


async def test_each_client_is_a_new_one(sandbox: SandboxProcess, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PODSCOPE_SANDBOX_KUBECONFIG", str(sandbox.kubeconfig))
    cluster = clusters.get("sandbox")
    first, second = await cluster.client(), await cluster.client()
    try:
        assert first is not second
    finally:
        await first.close()
        await second.close()
