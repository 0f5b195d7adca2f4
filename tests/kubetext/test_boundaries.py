"""Who may import whom: kubetext imports neither program, the sandbox never the dashboard or Django, and only
dashboard/kube/ imports the kubernetes package; and docs/architecture.md, which says so, names every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """The top-level names of every module a file imports."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def offenders(package: str, forbidden: set[str], *, allowed_under: str = "") -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = str(path.relative_to(ROOT))
        if allowed_under and relative.startswith(allowed_under):
            continue
        bad = imported(path) & forbidden
        if bad:
            found[relative] = bad
    return found


def test_the_reader_sees_imports() -> None:
    assert {"django", "dashboard"} <= imported(ROOT / "dashboard" / "views.py")


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("kubetext", {"dashboard", "sandbox", "django", "kubernetes", "aiohttp", "channels"}),
        ("sandbox", {"dashboard", "django", "channels", "daphne"}),
    ],
)
def test_a_program_imports_only_what_it_may(package: str, forbidden: set[str]) -> None:
    assert offenders(package, forbidden) == {}


def test_only_dashboard_kube_imports_the_kubernetes_package() -> None:
    assert offenders("dashboard", {"kubernetes"}, allowed_under="dashboard/kube/") == {}


def test_the_dashboard_touches_the_sandbox_only_in_the_demo_and_sandbox_commands() -> None:
    commands = "dashboard/management/commands/"
    found = offenders("dashboard", {"sandbox"})
    assert set(found) == {commands + "demo.py", commands + "sandbox.py"}


def test_docs_architecture_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    modules = [
        path
        for package in ("dashboard", "sandbox", "kubetext", "bench")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "__init__.py" and "migrations" not in path.parts
    ]
    assert len(modules) > 100
    assert [str(p.relative_to(ROOT)) for p in modules if p.name not in doc] == []
