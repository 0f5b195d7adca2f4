"""Helpers for tests that need pods to really run on the sandbox node."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.clusters import CURRENT_KUBECTL, Kubectl, SandboxProcess, kubectl_binary


@pytest.fixture
def kubectl137(sandbox: SandboxProcess, tmp_path: Path) -> Kubectl:
    """The current kubectl only, for tests about running pods rather than about kubectl versions."""
    return Kubectl(kubectl_binary(CURRENT_KUBECTL), CURRENT_KUBECTL, sandbox.kubeconfig, tmp_path / "kube-cache")


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


class Terminal:
    """A real kubectl running on a pseudo-terminal, driven as a person types."""

    def __init__(self, kubectl: Kubectl, *args: str) -> None:
        env = {**os.environ, "KUBECACHEDIR": str(kubectl.cache_dir), "HOME": str(kubectl.cache_dir), "TERM": "xterm"}
        env.pop("KUBECONFIG", None)
        self.fd, slave = pty.openpty()
        self.process = subprocess.Popen(
            [str(kubectl.binary), "--kubeconfig", str(kubectl.kubeconfig), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.screen = ""

    def read_until(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.screen):
                return self.screen
            ready, _, _ = select.select([self.fd], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.fd, 65536).decode(errors="replace")
                except OSError:
                    break
        raise AssertionError(f"{pattern!r} did not appear; the terminal shows:\n{self.screen}")

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def close(self) -> int:
        try:
            code = self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.fd)
        return code
