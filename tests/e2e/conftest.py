"""Browser tests: the real dashboard under daphne against the sandbox cluster, driven by Debian's chromium.

The dashboard and the browser are shared by every test in this package; each test gets a fresh browser
context (cookies, storage) and page. A failing test leaves a screenshot named in its report.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from playwright.sync_api import Browser, Page, Route, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard.headers import policy
from tests.clusters import ROOT, SandboxProcess

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root, where chromium's own sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1920, "height": 1080}
# How Chromium's console words what a Content-Security-Policy refused.
CSP_REPORT = "Content Security Policy"
# Where pages served by serve() live: a name that never resolves, so nothing reaches the network.
ORIGIN = "http://podscope.test"
# Where a failing test's page is photographed: set by the `page` fixture, used by the report hook.
SCREENSHOT = pytest.StashKey[tuple[Page, Path]]()


def wait_for(page: Page, expression: str, arg: Any = None, timeout: float = 30_000) -> Any:
    """Poll a JavaScript expression (or function of `arg`) until it is truthy; its value.

    Playwright's own wait_for_function evaluates its predicate with eval inside the page, which Podscope's
    Content-Security-Policy refuses; page.evaluate goes through the DevTools protocol, which the policy allows.
    """
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = page.evaluate(expression) if arg is None else page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise PlaywrightTimeout(f"{expression!r} was not true within {timeout / 1000:g} s")
        page.wait_for_timeout(50)


def serve(page: Page, html: str) -> None:
    """Serve `html` at ORIGIN/ and Podscope's static files under ORIGIN/static/ to `page`, with no server.

    Both come with the Content-Security-Policy of Podscope's pages, so what the page runs is held to it.
    """
    headers = {"Content-Security-Policy": policy()}

    def answer(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?", 1)[0]
        if path == "/":
            route.fulfill(body=html, content_type="text/html; charset=utf-8", headers=headers)
            return
        found = finders.find(path.removeprefix(settings.STATIC_URL)) if path.startswith(settings.STATIC_URL) else None
        if not isinstance(found, str):  # not a static file
            route.fulfill(status=404, body="Not found.\n", content_type="text/plain", headers=headers)
            return
        content_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
        route.fulfill(path=found, content_type=content_type, headers=headers)

    page.route(f"{ORIGIN}/**", answer)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Podscope:
    """The dashboard running under daphne as a child process, with the environment it was started with."""

    state_dir: Path
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log(self) -> Path:
        return self.state_dir / "daphne.log"

    def manage(self, *args: str, timeout: float = 60.0) -> str:
        """Run a management command in the dashboard's environment; return its stdout, fail with its output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr}{done.stdout}")
        return done.stdout

    def login_url(self, username: str, *groups: str, superuser: bool = False) -> str:
        """A one-time URL that signs `username` in, creating the user (in `groups`) if missing."""
        args = ["login_url", username, "--base", self.url]
        for group in groups:
            args += ["--group", group]
        if superuser:
            args.append("--superuser")
        return self.manage(*args).strip().splitlines()[-1]

    async def signed_in(self, username: str, *groups: str) -> tuple[aiohttp.ClientSession, str]:
        """An aiohttp session signed in as `username` through a one-time link, and the socket token its pages carry.

        What a browser has after following the link: the session cookie, and the first page (the pod list), from
        which a page's scripts take the token they open sockets with.
        """
        # The dashboard listens on 127.0.0.1; aiohttp's cookie jar keeps cookies of an IP address only when unsafe.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        async with session.get(self.login_url(username, *groups)) as response:
            response.raise_for_status()
            html = await response.text()
        found = re.search(r"[?&](?:amp;)?token=([0-9a-f]{32})", html)
        if found is None:
            await session.close()
            raise AssertionError(f"no socket token in the page after signing in:\n{html[:2000]}")
        return session, found.group(1)

    def create_user(self, username: str, password: str, *groups: str) -> None:
        """Create a user who signs in through the login form, as a member of existing `groups`."""
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Group, User\n"
            f"user = User.objects.create_user({username!r}, password={password!r})\n"
            f"user.groups.add(*(Group.objects.get(name=name) for name in {list(groups)!r}))\n",
        )

    def start(self, timeout: float = 30.0) -> None:
        self.manage("migrate", "--noinput")
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        # Output goes to a file, not a pipe: nobody would drain a pipe, and a full one stalls the server.
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dashboard.server", "-b", "127.0.0.1", "-p", port, "dashboard.asgi:application"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            if self._answers():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the dashboard did not answer on {self.url} within {timeout}s:\n{self.log.read_text()}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/accounts/login/", timeout=2):
                return True
        except urllib.error.HTTPError as error:
            error.close()
            return True  # any HTTP answer means daphne is serving
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole process group if daphne has not ended within 10 seconds."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None


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
