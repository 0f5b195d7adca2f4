"""Waiting for pods through the official client, for the tests of both programs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client


def wait_for(
    core: client.CoreV1Api, namespace: str, name: str, check: Callable[[Any], bool], timeout: float = 60.0
) -> Any:
    """Poll a pod until `check(pod)` holds; fail with the pod's status otherwise."""
    deadline = time.monotonic() + timeout
    pod = None
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        try:
            reached = check(pod)
        except (AssertionError, AttributeError, TypeError):
            # Not there yet: the kubelet has not reported that container (or that field) so far.
            reached = False
        if reached:
            return pod
        time.sleep(0.2)
    status = pod.status.to_dict() if pod is not None else None
    raise AssertionError(f"pod {namespace}/{name} never got there; last status: {status}")


def container(pod: Any, name: str) -> Any:
    for entry in (pod.status.container_statuses or []) + (pod.status.init_container_statuses or []):
        if entry.name == name:
            return entry
    raise AssertionError(f"no status for container {name}")


def running(pod: Any) -> bool:
    return pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [])
