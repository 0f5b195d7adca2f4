"""Photograph Podscope's pages for the docs: `bin/screenshots` runs this.

Starts `manage.py demo` (the sandbox with the tutorial pods, and the dashboard) on free ports in a temporary
state directory, signs in with the one-time link it prints, and saves PNGs next to this file.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TUTORIAL_PODS = ("multicontainer-pod", "multi-container-pod", "web-with-proxy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PODSCOPE_STATE_DIR": str(state_dir)}
    command = [sys.executable, "manage.py", "demo", "--port", str(free_port()), "--sandbox-port", str(free_port())]
    demo = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert demo.stdout is not None
    for line in demo.stdout:
        if found := re.search(r"open:\s+(\S+)", line):
            return demo, found.group(1)
    raise RuntimeError("the demo did not start")


def wait(page: Page, expression: str, timeout: float = 30.0) -> None:
    """Until a JavaScript expression is true (Playwright's wait_for_function uses eval, which the CSP refuses)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expression!r} was not true within {timeout:g} s")
        page.wait_for_timeout(50)


def settle(page: Page, url: str) -> None:
    page.goto(url)
    wait(page, "document.querySelector('[data-live-state]')?.dataset.state === 'open'")
    page.wait_for_timeout(800)


def terminal(page: Page, url: str, name: str, *, end: bool = True) -> None:
    """A shell in the producer reading the page it writes, then the same shell ended with a non-zero code."""
    page.goto(url)
    status = page.locator("[data-terminal-status]")
    status.filter(has_text="Connected").wait_for()
    page.locator("#terminal").click()
    page.keyboard.type("tail -n 6 /var/log/index.html\n")
    wait(page, "document.querySelector('[data-terminal]').terminal.text().includes('multicontainer-pod ')")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / f"{name}.png")
    if not end:
        return
    page.keyboard.type("exit 3\n")
    page.locator("[data-terminal-ended]").wait_for()
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / f"{name}-ended.png")


ALIAS_BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def refusals(browser, state: dict, pods: str, base: str) -> None:
    """What people see when Podscope refuses, on a 1280x720 projector: a port link from elsewhere, an alias bomb,
    too many failed sign-ins."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, storage_state=state)
    page = context.new_page()
    page.goto(f"{pods}/multicontainer-pod/port/80/")
    page.screenshot(path=OUT / "port-open-light.png")
    page.goto(f"{pods}/multicontainer-pod/port/80/{'0' * 32}/index.html")
    page.screenshot(path=OUT / "port-refused-light.png")
    page.goto(f"{base}/c/sandbox/preview/")
    page.locator("textarea").fill(ALIAS_BOMB)
    page.get_by_role("button", name="Preview", exact=True).click()
    page.get_by_text("aliases").first.wait_for()
    page.locator("#manifest-error").scroll_into_view_if_needed()
    page.screenshot(path=OUT / "preview-refused-light.png")
    context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    for _ in range(11):
        page.goto(f"{base}/accounts/login/")
        page.get_by_label("Username").fill("student")
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
    page.screenshot(path=OUT / "locked-out-light.png")
    context.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo, link = start_demo(Path(tmp))
        base = re.match(r"https?://[^/]+", link).group(0)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                signed_in = browser.new_context()
                signed_in.new_page().goto(link)
                state = signed_in.storage_state()
                pods = f"{base}/c/sandbox/ns/default/pods"
                for scheme in ("light", "dark"):
                    context = browser.new_context(
                        viewport={"width": 1920, "height": 1080}, color_scheme=scheme, storage_state=state
                    )
                    page = context.new_page()
                    settle(page, f"{pods}/")
                    wait(page, "document.querySelectorAll('tr[data-pod]').length >= 3")
                    deadline = time.monotonic() + 60
                    while "Running" not in page.locator("#pod-table").inner_text() and time.monotonic() < deadline:
                        page.wait_for_timeout(500)
                    page.screenshot(path=OUT / f"pods-{scheme}.png")
                    for pod in TUTORIAL_PODS:
                        settle(page, f"{pods}/{pod}/")
                        page.screenshot(path=OUT / f"{pod}-{scheme}.png")
                    settle(page, f"{pods}/multicontainer-pod/")
                    page.locator("#logs").scroll_into_view_if_needed()
                    wait(page, "document.getElementById('logs').logView.stats().received >= 5")
                    page.wait_for_timeout(500)
                    page.locator("#logs").screenshot(path=OUT / f"logs-{scheme}.png")
                    settle(page, f"{pods}/multicontainer-pod/?projector=1")
                    page.screenshot(path=OUT / f"projector-{scheme}.png")
                    terminal(page, f"{pods}/multicontainer-pod/terminal/?container=producer", f"terminal-{scheme}")
                    if scheme == "dark":
                        url = f"{pods}/multicontainer-pod/terminal/?container=producer&projector=1"
                        terminal(page, url, "terminal-projector-dark", end=False)
                    context.close()
                context = browser.new_context(viewport={"width": 1920, "height": 1080}, storage_state=state)
                page = context.new_page()
                page.goto(f"{base}/c/sandbox/examples/")
                page.screenshot(path=OUT / "examples-light.png", full_page=True)
                page.goto(f"{base}/c/sandbox/preview/?example=ambassador")
                # The page already shows the example's preview: wait for the answer to this click to be swapped in.
                with page.expect_response(lambda r: r.request.method == "POST" and "/preview/" in r.url):
                    page.get_by_role("button", name="Preview", exact=True).click()
                page.wait_for_timeout(300)
                page.locator("#preview-result svg").first.wait_for()
                page.locator("#preview-result").scroll_into_view_if_needed()
                page.screenshot(path=OUT / "preview-light.png")
                refusals(browser, state, pods, base)
                browser.close()
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=60)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
