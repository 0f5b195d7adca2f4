"""A person at a terminal in the browser: the tutorial's shell in the producer, resizing, exit codes, refusals."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.clusters import SandboxProcess
from tests.dashboard.e2e.browser import wait_for
from tests.dashboard.e2e.helpers import kubectl
from tests.dashboard.harness import Podscope
from tests.idle_proxy import IdleProxy

if TYPE_CHECKING:
    from playwright.sync_api import Browser

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "multicontainer-pod.yaml"
LINE = re.compile(r"multicontainer-pod \w{3} \w{3} +\d+ \d\d:\d\d:\d\d UTC \d{4}")


def run_tutorial_pod(sandbox: SandboxProcess, namespace: str) -> None:
    kubectl(sandbox, "apply", "-n", namespace, "-f", str(EXAMPLE))
    kubectl(sandbox, "wait", "-n", namespace, "--for=condition=Ready", "pod/multicontainer-pod", "--timeout=60s")


def screen_text(page: Page) -> str:
    return page.evaluate("document.querySelector('[data-terminal]').terminal.text()")


def wait_for_screen(page: Page, pattern: str, timeout: float = 15_000) -> str:
    """The terminal's text once `pattern` (a JavaScript regular expression) matches it; fail showing the screen."""
    try:
        wait_for(
            page,
            "(p) => new RegExp(p).test(document.querySelector('[data-terminal]').terminal.text())",
            arg=pattern,
            timeout=timeout,
        )
    except PlaywrightTimeout:
        raise AssertionError(f"{pattern!r} never showed; the terminal shows:\n{screen_text(page)}") from None
    return screen_text(page)


def type_line(page: Page, text: str) -> None:
    page.locator(".xterm-helper-textarea").focus()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def test_a_shell_in_the_producer_shows_the_lines_it_writes(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    page.goto(podscope.login_url("student", "Operators") + f"?next=/c/sandbox/ns/{namespace}/pods/multicontainer-pod/")
    # The live socket re-renders the diagram once when it opens; click after that, not during it.
    expect(page.locator(".live-dot[data-live-state]")).to_have_attribute("data-state", "open")
    page.wait_for_timeout(300)
    page.locator('#pod-diagram [data-container="producer"]').first.click()
    with page.context.expect_page() as opened:
        page.get_by_role("menuitem", name="Shell in producer").click()
    term = opened.value
    expect(term.locator("[data-terminal-status]")).to_have_text("Connected: bash in producer", timeout=15_000)

    type_line(term, "tail /var/log/index.html")
    text = wait_for_screen(term, LINE.pattern)
    assert "root@multicontainer-pod" in text

    # The tty follows the browser window.
    type_line(term, "stty size")
    size = term.evaluate("document.querySelector('[data-terminal]').terminal.size()")
    wait_for_screen(term, rf"\n{size['rows']} {size['cols']}\n")
    term.set_viewport_size({"width": 1000, "height": 640})
    wait_for(term, "(old) => document.querySelector('[data-terminal]').terminal.size().cols < old", arg=size["cols"])
    smaller = term.evaluate("document.querySelector('[data-terminal]').terminal.size()")
    type_line(term, "clear; stty size")
    wait_for_screen(term, rf"(^|\n){smaller['rows']} {smaller['cols']}\n")

    type_line(term, "exit 3")
    expect(term.locator("[data-terminal-ended]")).to_contain_text("The command exited with code 3.")
    term.get_by_role("button", name="Start again").click()
    expect(term.locator("[data-terminal-status]")).to_have_text("Connected: bash in producer", timeout=15_000)
    type_line(term, "echo again-$((6 * 7))")
    wait_for_screen(term, "again-42")


def test_a_typed_command_runs_in_the_container_picked(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    page.goto(
        podscope.login_url("student", "Operators")
        + f"?next=/c/sandbox/ns/{namespace}/pods/multicontainer-pod/terminal/?container=producer"
    )
    expect(page.locator("[data-terminal-status]")).to_have_text("Connected: bash in producer", timeout=15_000)
    page.get_by_label("Container").select_option("consumer")
    page.get_by_label("Run").select_option("custom")
    page.get_by_label("Command").fill("sh -c 'ls /usr/share/nginx/html; exit 0'")
    page.get_by_role("button", name="Connect", exact=True).click()
    expect(page.locator("[data-terminal-ended]")).to_contain_text("The command exited with code 0.", timeout=15_000)
    assert "index.html" in screen_text(page)
    expect(page.locator("[data-terminal-where]")).to_have_text("consumer")


def test_a_viewer_gets_no_terminal(page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str) -> None:
    run_tutorial_pod(sandbox, namespace)
    pod_url = f"/c/sandbox/ns/{namespace}/pods/multicontainer-pod/"
    page.goto(podscope.login_url("watcher", "Viewers") + f"?next={pod_url}")
    expect(page.locator("#pod-summary")).to_contain_text("Running")
    expect(page.get_by_role("link", name="Terminal")).to_have_count(0)
    expect(page.locator("[data-shell-link]")).to_have_count(0)
    page.locator('#pod-diagram [data-container="producer"]').first.click()
    expect(page.get_by_role("menuitem", name="Logs of producer")).to_be_visible()
    expect(page.get_by_role("menuitem", name="Shell in producer")).to_have_count(0)
    response = page.goto(podscope.url + pod_url + "terminal/?container=producer")
    assert response is not None
    assert response.status == 403


def test_an_idle_terminal_survives_proxies_that_drop_quiet_connections(
    browser: Browser, sandbox: SandboxProcess, namespace: str, tmp_path: Path
) -> None:
    """Both legs pass a proxy that drops connections quiet for 2 s; the terminal stays idle for 8 s."""
    run_tutorial_pod(sandbox, namespace)
    api_port = int(sandbox.url.rsplit(":", 1)[1])
    with IdleProxy("127.0.0.1", api_port, idle=2) as api_proxy:
        config = yaml.safe_load(sandbox.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{api_proxy.port}"
        config["contexts"][0]["name"] = config["current-context"] = "behind-proxy"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        env = {**os.environ, "PODSCOPE_STATE_DIR": str(tmp_path / "state"), "KUBECONFIG": str(kubeconfig)}
        env |= {"PODSCOPE_EXEC_KEEPALIVE": "0.5", "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
        env.pop("PODSCOPE_SANDBOX_KUBECONFIG", None)
        (tmp_path / "state").mkdir()
        server = Podscope(tmp_path / "state", env)
        server.start()
        try:
            with IdleProxy("127.0.0.1", int(server.url.rsplit(":", 1)[1]), idle=2) as web_proxy:
                login = server.login_url("night-owl", "Operators").replace(
                    server.url, f"http://127.0.0.1:{web_proxy.port}"
                )
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                try:
                    page = context.new_page()
                    page.goto(f"{login}?next=/c/behind-proxy/ns/{namespace}/pods/multicontainer-pod/terminal/")
                    status = page.locator("[data-terminal-status]")
                    expect(status).to_have_text("Connected: bash in producer", timeout=15_000)
                    page.wait_for_timeout(8_000)
                    type_line(page, "echo still-$((40 + 2))")
                    wait_for_screen(page, "still-42")
                    expect(status).to_have_text("Connected: bash in producer")
                finally:
                    context.close()
        finally:
            server.stop()
