"""Browser tests: the real dashboard under daphne against the sandbox cluster, driven by Debian's chromium.

The dashboard and the browser are shared by every test in this package; each test gets a fresh browser
context (cookies, storage) and page. A failing test leaves a screenshot named in its report.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.clusters import SandboxProcess
from tests.dashboard.e2e.browser import CHROMIUM, CHROMIUM_ARGS, CSP_REPORT, VIEWPORT
from tests.dashboard.harness import Podscope

# Where a failing test's page is photographed: set by the `page` fixture, used by the report hook.
SCREENSHOT = pytest.StashKey[tuple[Page, Path]]()


@pytest.fixture(scope="session")
def podscope(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podscope]:
    """The dashboard served by daphne on a free loopback port, with its own database, against the sandbox."""
    state_dir = tmp_path_factory.mktemp("podscope")
    env = {
        **os.environ,
        "PODSCOPE_STATE_DIR": str(state_dir),
        "PODSCOPE_SANDBOX_KUBECONFIG": str(sandbox.kubeconfig),
        "DJANGO_SETTINGS_MODULE": "dashboard.settings",
    }
    server = Podscope(state_dir, env)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# Package scope, not session: between its calls Playwright's sync API marks its own event loop as running
# in this thread, which would stop the async tests of later tiers from running theirs.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, launched once for the browser tests."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """A page in a fresh light-mode 1920x1080 browser context, photographed if the test fails."""
    context = browser.new_context(viewport=VIEWPORT, color_scheme="light")
    # Anything the Content-Security-Policy blocked on a page of Podscope's is a bug: a script, style or connection
    # the page needs and may not have. Chromium reports each one on the console.
    blocked: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: blocked.append(message.text) if CSP_REPORT in message.text else None)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        request.node.stash[SCREENSHOT] = (page, tmp_path_factory.getbasetemp() / f"failure-{name}.png")
        yield page
    finally:
        context.close()
    assert not blocked, "the Content-Security-Policy blocked:\n" + "\n".join(blocked)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Photograph the page of a test that failed, while it still shows what went wrong."""
    report = yield
    page, path = item.stash.get(SCREENSHOT, (None, None))
    # A page that was never opened has nothing to show.
    if report.when == "call" and report.failed and page is not None and path is not None and page.url != "about:blank":
        with contextlib.suppress(PlaywrightError):
            page.screenshot(path=path, full_page=True, timeout=5000)
            report.sections.append(("screenshot", f"{path} (at {page.url})"))
    return report
