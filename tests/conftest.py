"""Fixtures shared by every tier: the sandbox cluster and real kubectl come from tests/clusters.py."""

from __future__ import annotations

pytest_plugins = ["tests.clusters"]
