"""Fixtures of the sandbox's cluster tests: the API and the node against real kubectl and the official client."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clusters import CURRENT_KUBECTL, Kubectl, SandboxProcess, kubectl_binary


@pytest.fixture
def kubectl137(sandbox: SandboxProcess, tmp_path: Path) -> Kubectl:
    """The current kubectl only, for tests about running pods rather than about kubectl versions."""
    return Kubectl(kubectl_binary(CURRENT_KUBECTL), CURRENT_KUBECTL, sandbox.kubeconfig, tmp_path / "kube-cache")
