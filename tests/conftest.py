"""Fixtures shared by every tier: the sandbox cluster and real kubectl come from tests/clusters.py.

Tests are laid out by program, then by tier: tests/dashboard/{unit,integration,e2e}, tests/sandbox/{unit,runtime,
cluster} and tests/kubetext (see CONTRIBUTING.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.clusters"]

ROOT = Path(__file__).resolve().parent.parent

# The fast tier: pure logic, no sandbox process, browser or root. `bin/test --fast` runs only these.
FAST_TIER = ("tests/kubetext/", "tests/dashboard/unit/", "tests/sandbox/unit/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test outside the fast tier `slow`, so `-m "not slow"` selects the fast tier."""
    for item in items:
        if not item.path.relative_to(ROOT).as_posix().startswith(FAST_TIER):
            item.add_marker(pytest.mark.slow)
