"""Every exec and port-forward step of the two tutorials, done through Podscope's terminal socket and port proxy.

The pods are the tutorials' own manifests (examples/), applied as the tutorials apply them. Each `kubectl exec`
becomes a terminal on the exec socket, each `kubectl port-forward` + `curl` a request to the port proxy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from django.contrib.auth.models import User
from django.test import AsyncClient
from kubernetes import client

from dashboard import examples
from dashboard.kube import clusters
from tests.dashboard.integration.helpers import Screen, connect, exec_path, until_served, url
from tests.pods import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("settle")]

PRODUCER_LINE = re.compile(rb"multicontainer-pod \w{3} \w{3} +\d+ \d\d:\d\d:\d\d")


def all_ready(pod: Any) -> bool:
    return pod.status.phase == "Running" and all(s.ready for s in pod.status.container_statuses or [])


def apply(core: client.CoreV1Api, namespace: str, name: str) -> str:
    """`kubectl apply -f` the tutorial's manifest, shortened only in its grace period, and wait until it runs."""
    manifest = yaml.safe_load(examples.get(name).file.read_text())
    manifest["spec"]["terminationGracePeriodSeconds"] = 1
    core.create_namespaced_pod(namespace, manifest)
    wait_for(core, namespace, name, all_ready, timeout=60)
    return name


@pytest.fixture
async def run(
    async_client: AsyncClient, alice: User, namespace: str, sandbox_cluster: clusters.Cluster
) -> Callable[..., Any]:
    """Run a step in a terminal as alice: `command` on the socket, then `typed` at its prompt; the Screen ended."""

    async def step(pod: str, container: str, command: str, typed: str = "") -> Screen:
        path = exec_path(namespace, pod, container=container, command=command, cols=120, rows=30)
        screen = Screen(await connect(async_client, alice, path))
        try:
            await screen.until(lambda s: s.message("started") is not None)
            if typed:
                await screen.type(typed)
            await screen.ended(timeout=20)
        finally:
            await screen.communicator.disconnect()
        return screen

    return step


async def test_the_producer_consumer_tutorial(
    run: Callable[..., Any], core: client.CoreV1Api, namespace: str, async_client: AsyncClient
) -> None:
    pod = apply(core, namespace, "multicontainer-pod")

    # 2. kubectl exec -it multicontainer-pod -- /bin/sh (the first container, the producer)
    screen = await run(pod, "producer", "/bin/sh", "ls -la /var/log\ntail /var/log/index.html\nexit\n")
    assert screen.message("exit")["code"] == 0
    assert b"index.html" in screen.output
    assert PRODUCER_LINE.search(screen.output), screen.output[-500:]

    # 3. kubectl exec -it multicontainer-pod --container consumer -- /bin/sh
    typed = "ls -la /usr/share/nginx/html\ntail /usr/share/nginx/html/index.html\nexit\n"
    screen = await run(pod, "consumer", "/bin/sh", typed)
    assert screen.message("exit")["code"] == 0
    assert PRODUCER_LINE.search(screen.output), screen.output[-500:]

    # 4. kubectl port-forward multicontainer-pod 8080:80 & curl http://localhost:8080
    response, body = await until_served(async_client, url(async_client, namespace, pod, 80))
    assert response.status_code == 200
    assert PRODUCER_LINE.search(body), body[-500:]


async def test_the_log_collector_tutorial(
    run: Callable[..., Any], core: client.CoreV1Api, namespace: str, async_client: AsyncClient
) -> None:
    pod = apply(core, namespace, "multi-container-pod")

    # kubectl exec -it multi-container-pod -c nginx-container -- bash
    screen = await run(pod, "nginx-container", "bash", "echo shell=$0 on $(hostname)\nexit\n")
    assert (screen.message("exit")["code"], screen.message("started")["command"]) == (0, "bash")
    assert b"shell=bash on multi-container-pod" in screen.output

    # kubectl exec -it multi-container-pod -c log-collector -- sh
    screen = await run(pod, "log-collector", "sh", "echo shell=$0 on $(hostname)\nexit\n")
    assert screen.message("exit")["code"] == 0
    assert b"shell=sh on multi-container-pod" in screen.output

    # kubectl exec multi-container-pod -c nginx-container -- nginx -v
    screen = await run(pod, "nginx-container", "nginx -v")
    assert screen.message("exit")["code"] == 0
    assert b"nginx version: nginx/" in screen.output

    # kubectl port-forward multi-container-pod 8080:80, then curl http://localhost:8080 and /index.html
    for rest in ("", "index.html"):
        response, body = await until_served(async_client, url(async_client, namespace, pod, 80, rest))
        assert response.status_code == 200
        assert b"Welcome to nginx!" in body

    # kubectl exec multi-container-pod -c nginx-container -- cat /var/log/nginx/access.log
    screen = await run(pod, "nginx-container", "cat /var/log/nginx/access.log")
    assert screen.message("exit")["code"] == 0
    assert b'"GET / HTTP/1.1" 200' in screen.output
    assert b'"GET /index.html HTTP/1.1" 200' in screen.output

    # kubectl exec multi-container-pod -c log-collector -- cat /var/log/collector.log
    screen = await run(pod, "log-collector", "cat /var/log/collector.log")
    assert screen.message("exit")["code"] == 0
    assert b"Coletando logs..." in screen.output
