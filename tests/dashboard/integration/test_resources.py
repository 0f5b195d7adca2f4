"""Reads and writes through dashboard.kube.resources against the real sandbox cluster, and the quantity helpers."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from dashboard.kube import quantities, resources
from dashboard.kube.clusters import Cluster
from tests.clusters import SandboxProcess

T = TypeVar("T")


@pytest.fixture
def cluster(sandbox: SandboxProcess) -> Cluster:
    """The session's sandbox as the dashboard sees a cluster."""
    return Cluster("sandbox", "Sandbox", sandbox.kubeconfig)


def busybox(name: str, **labels: str) -> dict[str, Any]:
    """A pod that prints a line and stays up."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi; sleep 3600"]}],
        },
    }


def kubeconfig_copy(source: Path, target: Path, *, server: str | None = None, token: str | None = None) -> Path:
    """The sandbox's kubeconfig with its server or token replaced."""
    config = yaml.safe_load(source.read_text())
    if server:
        config["clusters"][0]["cluster"]["server"] = server
    if token:
        config["users"][0]["user"]["token"] = token
    target.write_text(yaml.safe_dump(config))
    return target


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """The first truthy answer of `probe`, polled until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s; last answer: {answer!r}")
        await asyncio.sleep(0.2)


async def test_list_namespaces(cluster: Cluster, namespace: str):
    names = await resources.list_namespaces(cluster)
    assert {"default", "kube-system", namespace} <= set(names)
    assert names == sorted(names)


async def test_an_applied_pod_can_be_read_and_listed(cluster: Cluster, namespace: str):
    served = await resources.apply(cluster, busybox("hello", app="hello"), namespace=namespace)
    await resources.apply(cluster, busybox("other", app="other"), namespace=namespace)
    assert served["metadata"]["namespace"] == namespace
    assert served["metadata"]["managedFields"][0]["manager"] == "podscope"

    pod = await resources.get_pod(cluster, namespace, "hello")
    assert pod["metadata"]["uid"] == served["metadata"]["uid"]
    assert pod["spec"]["containers"][0]["command"] == ["sh", "-c", "echo hi; sleep 3600"]

    items, token, version = await resources.list_pods(cluster, namespace, label_selector="app=hello")
    assert [p["metadata"]["name"] for p in items] == ["hello"]
    assert token is None
    assert version


async def test_list_pods_pages_with_a_continue_token(cluster: Cluster, namespace: str):
    for name in ("a", "b", "c"):
        await resources.apply(cluster, busybox(name), namespace=namespace)
    items, token, _ = await resources.list_pods(cluster, namespace, limit=1)
    names = [p["metadata"]["name"] for p in items]
    assert len(names) == 1
    assert token
    while token:
        items, token, _ = await resources.list_pods(cluster, namespace, limit=1, continue_token=token)
        names += [p["metadata"]["name"] for p in items]
    assert sorted(names) == ["a", "b", "c"]


async def test_a_pods_events_appear_in_order(cluster: Cluster, namespace: str):
    uid = (await resources.apply(cluster, busybox("eventful"), namespace=namespace))["metadata"]["uid"]

    async def started() -> list[dict[str, Any]] | None:
        events = await resources.pod_events(cluster, namespace, "eventful", uid=uid)
        return events if {"Scheduled", "Pulled", "Started"} <= {e["reason"] for e in events} else None

    events = await eventually(started, 20, "no Scheduled, Pulled and Started events")
    assert set(events[0]) == {"type", "reason", "message", "count", "first", "last", "source"}
    assert [e["reason"] for e in events].index("Scheduled") < [e["reason"] for e in events].index("Started")
    assert all(e["last"].tzinfo is UTC and e["first"] <= e["last"] for e in events)
    seconds = [e["last"].replace(microsecond=0) for e in events]
    assert seconds == sorted(seconds)
    started_event = next(e for e in events if e["reason"] == "Started")
    assert started_event["type"] == "Normal"
    assert started_event["source"] == "kubelet"
    assert started_event["count"] >= 1
    assert await resources.pod_events(cluster, namespace, "eventful", uid="not-this-one") == []


async def test_a_running_pod_has_metrics(cluster: Cluster, namespace: str):
    await resources.apply(cluster, busybox("measured"), namespace=namespace)
    usage = await eventually(
        lambda: resources.pod_metrics(cluster, namespace, "measured"), 20, "no metrics for the pod"
    )
    assert set(usage) == {"main"}
    assert re.fullmatch(r"\d+m|\d+(\.\d)?", usage["main"]["cpu"])
    assert re.fullmatch(r"\d+(\.\d)?(B|Ki|Mi|Gi)", usage["main"]["memory"])


async def test_metrics_of_a_missing_pod_are_none(cluster: Cluster, namespace: str):
    assert await resources.pod_metrics(cluster, namespace, "nobody") is None


async def test_dry_run_apply_creates_nothing(cluster: Cluster, namespace: str):
    served = await resources.apply(cluster, busybox("imagined"), namespace=namespace, dry_run=True)
    assert served["metadata"]["name"] == "imagined"
    with pytest.raises(resources.NotFound):
        await resources.get_pod(cluster, namespace, "imagined")


async def test_the_documents_own_namespace_wins(cluster: Cluster, namespace: str):
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace}}
    served = await resources.apply(cluster, {**doc, "data": {"mode": "fast"}}, namespace="default")
    assert served["metadata"]["namespace"] == namespace
    assert served["data"] == {"mode": "fast"}


async def test_an_invalid_pod_is_rejected_with_the_api_message(cluster: Cluster, namespace: str):
    doc = busybox("broken")
    del doc["spec"]["containers"][0]["image"]
    with pytest.raises(resources.Invalid) as caught:
        await resources.apply(cluster, doc, namespace=namespace)
    assert caught.value.status == 422
    assert caught.value.reason == "Invalid"
    assert caught.value.message == 'Pod "broken" is invalid: spec.containers[0].image: Required value'
    assert not caught.value.unreachable


@pytest.mark.parametrize(
    ("api_version", "kind", "article"),
    [
        ("apps/v1", "Deployment", "a Deployment"),
        ("networking.k8s.io/v1", "Ingress", "an Ingress"),
        ("x/v1", "Pod", "a Pod"),
    ],
)
async def test_other_kinds_are_left_to_kubectl(cluster: Cluster, api_version: str, kind: str, article: str):
    doc = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    with pytest.raises(resources.Invalid) as caught:
        await resources.apply(cluster, doc, namespace="default")
    assert str(caught.value) == (
        f"Podscope applies Pods, ConfigMaps, Secrets, Services and ServiceAccounts; use kubectl for {article}"
    )


async def test_a_deleted_pod_is_not_found(cluster: Cluster, namespace: str):
    await resources.apply(cluster, busybox("doomed"), namespace=namespace)
    await resources.delete_pod(cluster, namespace, "doomed", grace_period_seconds=0)
    with pytest.raises(resources.NotFound) as caught:
        await resources.get_pod(cluster, namespace, "doomed")
    assert caught.value.status == 404
    assert caught.value.message == 'pods "doomed" not found'
    with pytest.raises(resources.NotFound):
        await resources.delete_pod(cluster, namespace, "doomed")


async def test_refused_credentials_are_forbidden(sandbox: SandboxProcess, tmp_path: Path):
    wrong = Cluster("wrong", "Wrong", kubeconfig_copy(sandbox.kubeconfig, tmp_path / "config", token="wrong"))
    with pytest.raises(resources.Forbidden) as caught:
        await resources.list_namespaces(wrong)
    assert caught.value.status == 401
    assert not caught.value.unreachable


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_an_unreachable_cluster_fails_fast(sandbox: SandboxProcess, tmp_path: Path):
    server = f"https://127.0.0.1:{closed_port()}"
    dead = Cluster("dead", "Dead", kubeconfig_copy(sandbox.kubeconfig, tmp_path / "config", server=server))
    started = time.monotonic()
    with pytest.raises(resources.KubeError) as caught:
        await resources.get_pod(dead, "default", "web")
    assert time.monotonic() - started < 3
    assert caught.value.unreachable
    assert caught.value.status is None
    assert str(caught.value) == f"cannot reach the cluster at {server}: connection refused"


async def test_a_missing_kubeconfig_is_a_kube_error(tmp_path: Path):
    with pytest.raises(resources.KubeError) as caught:
        await resources.list_namespaces(Cluster("gone", "Gone", tmp_path / "missing"))
    assert caught.value.unreachable
    assert str(caught.value).startswith(f"cannot use the configuration of cluster Gone ({tmp_path / 'missing'}): ")


QUANTITIES = [
    ("250m", Decimal("0.25")),
    ("2", Decimal(2)),
    ("1.5", Decimal("1.5")),
    ("1500000n", Decimal("0.0015")),
    ("12Mi", Decimal(12 * 2**20)),
    ("1k", Decimal(1000)),
    ("1e3", Decimal(1000)),
    ("2E", Decimal("2e18")),
    (".5Gi", Decimal(2**29)),
]


@pytest.mark.parametrize(("text", "value"), QUANTITIES, ids=[q[0] for q in QUANTITIES])
def test_parse_quantity(text: str, value: Decimal):
    assert quantities.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "m", "12 Mi", "1.2.3", "NaN", "Infinity", "5mb", "0x10"])
def test_parse_quantity_rejects_other_text(text: str):
    with pytest.raises(ValueError, match="not a quantity"):
        quantities.parse_quantity(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0n", "0m"),
        ("1n", "1m"),
        ("2500000n", "3m"),
        ("250m", "250m"),
        ("999m", "999m"),
        ("1", "1"),
        ("1200m", "1.2"),
        ("1250m", "1.3"),
        ("12", "12"),
    ],
)
def test_format_cpu(raw: str, shown: str):
    assert quantities.format_cpu(raw) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0", "0B"),
        ("512", "512B"),
        ("1024", "1Ki"),
        ("308Ki", "308Ki"),
        ("1536Ki", "1.5Mi"),
        ("12Mi", "12Mi"),
        ("12.53Mi", "12.5Mi"),
        ("1048575Ki", "1Gi"),
        ("1.2Gi", "1.2Gi"),
        ("3Ti", "3072Gi"),
        ("100M", "95.4Mi"),
    ],
)
def test_format_memory(raw: str, shown: str):
    assert quantities.format_memory(raw) == shown


async def test_a_silent_cluster_times_out(sandbox: SandboxProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(resources, "REQUEST_TIMEOUT", 0.5)
    with socket.socket() as silent:
        # Listening but never accepting: the kernel completes the TCP handshake, then nothing ever answers.
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        server = f"https://127.0.0.1:{silent.getsockname()[1]}"
        mute = Cluster("mute", "Mute", kubeconfig_copy(sandbox.kubeconfig, tmp_path / "config", server=server))
        with pytest.raises(resources.KubeError) as caught:
            await resources.list_pods(mute, "default")
    assert caught.value.unreachable
    assert str(caught.value) == f"cannot reach the cluster at {server}: no answer within 0.5 s"
