"""What the browser benchmarks share: a sandbox and the dashboard in a temporary directory, and kubectl."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.harness import Podscope


@contextmanager
def sandbox_and_dashboard() -> Iterator[tuple[SandboxProcess, Podscope]]:
    """A sandbox cluster and Podscope under daphne pointed at it, both stopped and removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxProcess(Path(tmp) / "sandbox")
        sandbox.start()
        env = {
            **os.environ,
            "PODSCOPE_STATE_DIR": str(Path(tmp) / "podscope"),
            "PODSCOPE_SANDBOX_KUBECONFIG": str(sandbox.kubeconfig),
            "DJANGO_SETTINGS_MODULE": "dashboard.settings",
            # One account stands for a whole class here: dozens of sockets, opened within seconds.
            "PODSCOPE_MAX_SOCKETS": "1000",
            "PODSCOPE_MAX_LOG_SOCKETS": "1000",
            "PODSCOPE_MAX_SOCKET_OPENS": "100000",
        }
        podscope = Podscope(Path(tmp) / "podscope", env)
        try:
            podscope.start()
            yield sandbox, podscope
        finally:
            podscope.stop()
            sandbox.stop()


def kubectl(sandbox: SandboxProcess, *args: str, input: str | None = None) -> str:
    """Run the current kubectl against the sandbox; its output, or CalledProcessError."""
    return subprocess.run(
        [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def apply(sandbox: SandboxProcess, manifest: dict[str, Any]) -> None:
    """`kubectl apply` one object."""
    kubectl(sandbox, "apply", "-f", "-", input=yaml.safe_dump(manifest))


def run_pod(sandbox: SandboxProcess, pod: dict[str, Any]) -> None:
    """Apply a pod and wait until it is Ready."""
    apply(sandbox, pod)
    kubectl(sandbox, "wait", "--for=condition=Ready", f"pod/{pod['metadata']['name']}", "--timeout=60s")


def one_container_pod(name: str, container: str, image: str, command: list[str]) -> dict[str, Any]:
    """A pod of one container, given a second to stop once it is deleted."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": container, "image": image, "command": command}],
        },
    }
