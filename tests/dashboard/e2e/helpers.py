"""What the browser tests share: kubectl against the sandbox, and the tutorial's pod opened in the dashboard."""

from __future__ import annotations

import subprocess

from playwright.sync_api import Page, expect

from dashboard import examples
from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.harness import Podscope


def kubectl(sandbox: SandboxProcess, *args: str, input: str | None = None) -> str:
    done = subprocess.run(
        [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


POD = "multicontainer-pod"


def run_tutorial_pod(sandbox: SandboxProcess, namespace: str) -> None:
    """`kubectl apply -f multicontainer-pod.yaml`, as the tutorial starts."""
    binary, manifest = kubectl_binary(CURRENT_KUBECTL), examples.get(POD).file
    done = subprocess.run(
        [str(binary), "--kubeconfig", str(sandbox.kubeconfig), "apply", "-n", namespace, "-f", str(manifest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def open_pod_page(page: Page, podscope: Podscope, namespace: str, user: str, *groups: str) -> None:
    page.goto(podscope.login_url(user, *groups) + f"?next=/c/sandbox/ns/{namespace}/pods/{POD}/")
    expect(page.locator("#pod-summary")).to_contain_text("Running", timeout=30_000)
