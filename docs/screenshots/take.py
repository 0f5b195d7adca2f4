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


def settle(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_function("document.querySelector('[data-live-state]')?.dataset.state === 'open'")
    page.wait_for_timeout(800)


def terminal(page: Page, url: str, name: str, *, end: bool = True) -> None:
    """A shell in the producer reading the page it writes, then the same shell ended with a non-zero code."""
    page.goto(url)
    status = page.locator("[data-terminal-status]")
    status.filter(has_text="Connected").wait_for()
    page.locator("#terminal").click()
    page.keyboard.type("tail -n 6 /var/log/index.html\n")
    page.wait_for_function("document.querySelector('[data-terminal]').terminal.text().includes('multicontainer-pod ')")
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / f"{name}.png")
    if not end:
        return
    page.keyboard.type("exit 3\n")
    page.locator("[data-terminal-ended]").wait_for()
    page.wait_for_timeout(300)
    page.screenshot(path=OUT / f"{name}-ended.png")


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
                    page.wait_for_function("document.querySelectorAll('tr[data-pod]').length >= 3")
                    deadline = time.monotonic() + 60
                    while "Running" not in page.locator("#pod-table").inner_text() and time.monotonic() < deadline:
                        page.wait_for_timeout(500)
                    page.screenshot(path=OUT / f"pods-{scheme}.png")
                    for pod in TUTORIAL_PODS:
                        settle(page, f"{pods}/{pod}/")
                        page.screenshot(path=OUT / f"{pod}-{scheme}.png")
                    settle(page, f"{pods}/multicontainer-pod/")
                    page.locator("#logs").scroll_into_view_if_needed()
                    page.wait_for_function("document.getElementById('logs').logView.stats().received >= 5")
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
                page.get_by_role("button", name="Preview", exact=True).click()
                page.locator("#preview-result svg").first.wait_for()
                page.locator("#preview-result").scroll_into_view_if_needed()
                page.screenshot(path=OUT / "preview-light.png")
                browser.close()
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=60)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
