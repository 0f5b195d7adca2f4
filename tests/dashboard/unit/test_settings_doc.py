"""The settings docstring lists every environment variable the dashboard reads."""

from __future__ import annotations

import re
from pathlib import Path

import dashboard.settings

DASHBOARD = Path(dashboard.settings.__file__).parent
# os.environ.get("X"), os.environ["X"], os.getenv("X") and the settings module's own _env_bool/_env_list("X").
READ = re.compile(r"""(?:environ\.get|environ\[|getenv|_env_bool|_env_list)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
# Variables a library or Django reads for itself, not settings of Podscope.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def environment_read() -> dict[str, str]:
    """Each variable read somewhere in dashboard/, with the first file that reads it."""
    found: dict[str, str] = {}
    for path in sorted(DASHBOARD.rglob("*.py")):
        for name in READ.findall(path.read_text()):
            found.setdefault(name, str(path.relative_to(DASHBOARD.parent)))
    return found


def documented() -> set[str]:
    doc = dashboard.settings.__doc__ or ""
    return set(re.findall(r"^\s+([A-Z][A-Z0-9_]+)\s", doc, re.MULTILINE))


def test_the_reader_finds_the_variables_it_should() -> None:
    found = environment_read()
    assert {"PODSCOPE_SECRET_KEY", "PODSCOPE_HTTPS", "PODSCOPE_SANDBOX_KUBECONFIG", "KUBECONFIG"} <= set(found)


def test_every_variable_read_is_documented() -> None:
    read = environment_read()
    missing = {name: read[name] for name in set(read) - NOT_SETTINGS - documented()}
    assert missing == {}, "add these to the docstring of dashboard/settings.py"


def test_every_documented_variable_is_read() -> None:
    assert documented() - set(environment_read()) == set(), "the docstring lists variables nothing reads"
