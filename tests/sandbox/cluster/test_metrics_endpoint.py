"""The sandbox's /metrics, read as kube-apiserver's is: `kubectl get --raw /metrics` and the request counters."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import requests
import yaml
from kubernetes import client

from tests.clusters import Kubectl, SandboxProcess
from tests.pods import wait_for

pytestmark = pytest.mark.kubectl

SERIES = re.compile(r"^(\w+)\{(.*)\} (\d+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def series(text: str, name: str) -> dict[frozenset[tuple[str, str]], int]:
    """The samples of one metric, keyed by their labels."""
    found = {}
    for line in text.splitlines():
        match = SERIES.match(line)
        if match and match[1] == name:
            found[frozenset(LABEL.findall(match[2]))] = int(match[3])
    return found


def count(text: str, name: str, **labels: str) -> int:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(value for key, value in series(text, name).items() if wanted <= key)


def test_metrics_speak_the_prometheus_text_format(kubectl: Kubectl):
    kubectl.ok("get", "namespaces")
    text = kubectl.ok("get", "--raw", "/metrics")
    assert "# TYPE apiserver_request_total counter\n" in text
    assert "# TYPE apiserver_longrunning_requests gauge\n" in text
    # The discovery and the list that `get namespaces` made are there, labelled as the real server labels them.
    assert count(text, "apiserver_request_total", verb="GET", subresource="/api", code="200", resource="") >= 1
    assert count(text, "apiserver_request_total", verb="LIST", resource="namespaces", scope="cluster", code="200") >= 1
    for key in series(text, "apiserver_request_total"):
        assert {name for name, _ in key} == {
            "code",
            "component",
            "dry_run",
            "group",
            "resource",
            "scope",
            "subresource",
            "verb",
            "version",
        }


def test_each_kubectl_logs_is_one_get_of_pods_log(kubectl: Kubectl, core: client.CoreV1Api, namespace: str):
    manifest = {
        "metadata": {"name": "talker"},
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi; sleep 3600"]}]},
    }
    core.create_namespaced_pod(namespace, manifest)
    wait_for(core, namespace, "talker", lambda p: p.status.phase == "Running", timeout=30)
    labels = {"verb": "GET", "resource": "pods", "subresource": "log", "scope": "resource", "code": "200"}
    before = count(kubectl.ok("get", "--raw", "/metrics"), "apiserver_request_total", **labels)
    for calls in (1, 2, 3):
        assert kubectl.ok("logs", "talker", "-n", namespace) == "hi\n"
        now = count(kubectl.ok("get", "--raw", "/metrics"), "apiserver_request_total", **labels)
        assert now == before + calls
    text = kubectl.ok("get", "--raw", "/metrics")
    # kubectl reads the pod first: a GET of one pod, and the namespace's pods listed by `get` are a LIST.
    assert count(text, "apiserver_request_total", verb="GET", resource="pods", subresource="", scope="resource") >= 3
    kubectl.ok("get", "pods", "-n", namespace)
    text = kubectl.ok("get", "--raw", "/metrics")
    assert count(text, "apiserver_request_total", verb="LIST", resource="pods", scope="namespace", code="200") >= 1
    # Nothing is streaming any more.
    assert count(text, "apiserver_longrunning_requests", resource="pods", subresource="log") == 0


def test_a_watch_is_counted_as_watch_once_it_ends(kubectl: Kubectl, namespace: str):
    labels = {"verb": "WATCH", "resource": "pods", "scope": "namespace", "code": "200"}
    before = count(kubectl.ok("get", "--raw", "/metrics"), "apiserver_request_total", **labels)
    kubectl.ok("get", "pods", "-n", namespace, "--watch", "--request-timeout=1s", "-o", "name")
    text = kubectl.ok("get", "--raw", "/metrics")
    assert count(text, "apiserver_request_total", **labels) >= before + 1


def test_metrics_need_credentials(sandbox: SandboxProcess, tmp_path: Path):
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    ca = tmp_path / "ca.crt"
    ca.write_bytes(base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]))
    with requests.Session() as session:
        # The environment's CA bundle is not the sandbox's: trust the kubeconfig's CA and nothing from the env.
        session.trust_env = False
        session.verify = str(ca)
        anonymous = session.get(f"{sandbox.url}/metrics", timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.json()["reason"] == "Unauthorized"
        token = {"Authorization": f"Bearer {sandbox.token}"}
        allowed = session.get(f"{sandbox.url}/metrics", headers=token, timeout=10)
        assert allowed.status_code == 200
        assert allowed.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        # The refused request was counted too.
        assert count(allowed.text, "apiserver_request_total", subresource="/metrics", code="401") >= 1
