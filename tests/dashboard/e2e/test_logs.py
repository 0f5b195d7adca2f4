"""Logs in a real browser against the sandbox: follow, the merged view, search, and a dropped connection."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING

import yaml
from playwright.sync_api import Page, expect

from tests.clusters import CURRENT_KUBECTL, SandboxProcess, kubectl_binary
from tests.dashboard.e2e.browser import wait_for

if TYPE_CHECKING:
    from tests.dashboard.harness import Podscope

COUNTER = "i=0; while true; do i=$((i+1)); echo {name} $i; sleep 0.05; done"


def run_counting_pod(sandbox: SandboxProcess, namespace: str, name: str, *containers: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": c, "image": "busybox", "command": ["sh", "-c", COUNTER.format(name=c)]} for c in containers
            ],
        },
    }
    binary = [str(kubectl_binary(CURRENT_KUBECTL)), "--kubeconfig", str(sandbox.kubeconfig), "-n", namespace]
    subprocess.run([*binary, "apply", "-f", "-"], input=yaml.safe_dump(pod), text=True, check=True, capture_output=True)
    subprocess.run(
        [*binary, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s"], check=True, capture_output=True
    )


def numbers(page: Page, container: str) -> list[int]:
    """The counter values of one container's rows, in the order the page shows them."""
    texts = page.locator(".log-lines .log-row:not(.log-marker) .log-text").all_text_contents()
    return [int(t.split()[1]) for t in texts if t.startswith(container + " ")]


def wait_for_lines(page: Page, count: int) -> None:
    """Wait until the view of the options now chosen has received `count` lines (not the view before it)."""
    wait_for(page, f"(s => !s.loading && s.received >= {count})(document.getElementById('logs').logView.stats())")


def open_logs(page: Page, podscope: Podscope, namespace: str, pod: str) -> None:
    page.goto(podscope.login_url("reader", "Viewers") + f"?next=/c/sandbox/ns/{namespace}/pods/{pod}/")
    expect(page.locator("#logs")).to_be_visible()


def test_a_container_log_follows_without_gaps(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_counting_pod(sandbox, namespace, "counter", "main")
    open_logs(page, podscope, namespace, "counter")
    page.get_by_label("Container", exact=True).select_option("main")
    wait_for_lines(page, 40)
    seen = numbers(page, "main")
    assert seen == list(range(seen[0], seen[0] + len(seen)))
    expect(page.locator("#logs [data-log='status']")).to_contain_text(re.compile("Following", re.I))


def test_every_container_merged_with_toggles_and_search(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_counting_pod(sandbox, namespace, "duo", "left", "right")
    open_logs(page, podscope, namespace, "duo")
    both = "new Set([...document.querySelectorAll('.log-lines .log-src')].map(e => e.textContent)).size === 2"
    wait_for(page, both)
    assert numbers(page, "left")
    assert numbers(page, "right")
    stamps = page.locator(".log-lines .log-row:not(.log-marker) .log-ts").evaluate_all("els => els.map(e => e.title)")
    assert stamps == sorted(stamps)

    page.locator("[data-log-toggle='right']").uncheck()
    expect(page.locator(".log-lines .log-row.is-off").first).to_be_hidden()

    page.get_by_role("searchbox", name="Search").fill("left 1")
    expect(page.locator(".log-lines mark").first).to_have_text("left 1")
    page.get_by_label("Only matching lines").check()
    expect(page.locator(".log-lines .log-row.is-nomatch").first).to_be_hidden()


def test_a_dropped_connection_resumes_without_gaps_or_repeats(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_counting_pod(sandbox, namespace, "steady", "main")
    open_logs(page, podscope, namespace, "steady")
    page.get_by_label("Container", exact=True).select_option("main")
    wait_for_lines(page, 20)
    page.evaluate("document.getElementById('logs').logView.dropConnection()")
    before = page.evaluate("document.getElementById('logs').logView.stats().received")
    wait_for_lines(page, before + 40)
    seen = numbers(page, "main")
    assert seen == list(range(seen[0], seen[0] + len(seen))), "a gap or a repeat across the reconnect"


def test_a_container_in_the_diagram_opens_its_log(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_counting_pod(sandbox, namespace, "pair", "left", "right")
    open_logs(page, podscope, namespace, "pair")
    page.locator('#pod-diagram [data-container="right"]').first.click()
    page.get_by_role("menuitem", name="Logs of right").click()
    expect(page.get_by_label("Container", exact=True)).to_have_value("right")
    wait_for_lines(page, 10)
    assert numbers(page, "right")
    assert not numbers(page, "left")
