"""A person in a browser: open the tutorial pods, read their diagrams, watch one change, preview a manifest."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import yaml
from playwright.sync_api import Page, expect

from dashboard import examples
from tests.clusters import SandboxProcess
from tests.dashboard.e2e.helpers import kubectl

if TYPE_CHECKING:
    from tests.dashboard.harness import Podscope

# What a student should be able to read off each tutorial pod's diagram.
TUTORIAL_TEXT = {
    "multicontainer-pod": ["producer", "consumer", "webcontent", "/var/log", "/usr/share/nginx/html", "80/TCP"],
    "multi-container-pod": ["nginx-container", "log-collector", "shared-logs", "/var/log/nginx", "80/TCP"],
    "web-with-proxy": ["web-app", "db-proxy", "monitoring", "proxy-config", "3306/TCP", "9100/TCP", "ambassador"],
}
RESTARTABLE = "while [ ! -f /tmp/stop ]; do sleep 0.1; done; rm /tmp/stop; exit 3"


def diagram_text(page: Page) -> str:
    return page.locator("#pod-diagram svg").text_content() or ""


@pytest.mark.parametrize("slug", list(TUTORIAL_TEXT))
def test_tutorial_pod_runs_from_the_examples_page_and_is_drawn(
    page: Page, podscope: Podscope, namespace: str, slug: str
) -> None:
    page.goto(podscope.login_url("teacher", superuser=True) + f"?next=/c/sandbox/examples/?namespace={namespace}")
    card = page.locator(f'[data-example="{slug}"]')
    expect(card).to_contain_text(examples.get(slug).summary)
    card.get_by_role("button", name="Run it").click()

    name = examples.pod(examples.get(slug))["metadata"]["name"]
    expect(page).to_have_url(re.compile(rf"/c/sandbox/ns/{namespace}/pods/{name}/$"))
    expect(page.locator("#pod-summary")).to_contain_text("Running", timeout=30_000)
    text = diagram_text(page)
    for expected in TUTORIAL_TEXT[slug]:
        assert expected in text, f"{expected!r} not in the diagram of {name}: {text}"
    assert re.search(r"Pod IP 10\.244\.\d+\.\d+", text), text


def test_diagram_follows_a_restart_without_a_reload(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "flaky"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "worker", "image": "busybox", "command": ["sh", "-c", RESTARTABLE]}],
        },
    }
    kubectl(sandbox, "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(pod))
    page.goto(podscope.login_url("viewer", "Viewers") + f"?next=/c/sandbox/ns/{namespace}/pods/flaky/")
    worker = page.locator('#pod-diagram [data-container="worker"]')
    expect(worker).to_contain_text("running", timeout=30_000)
    expect(worker).to_contain_text("restarts 0")
    page.evaluate("window.notReloaded = true")

    kubectl(sandbox, "exec", "-n", namespace, "flaky", "--", "touch", "/tmp/stop")

    expect(worker).to_contain_text("CrashLoopBackOff", timeout=5_000)
    expect(page.locator("#pod-summary")).to_contain_text("CrashLoopBackOff")
    expect(worker).to_contain_text("restarts 1", timeout=30_000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("[data-live-state]")).to_have_text("live")


def test_clicking_a_container_shows_its_card(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    kubectl(sandbox, "apply", "-n", namespace, "-f", str(examples.get("sidecar").file))
    page.goto(podscope.login_url("viewer", "Viewers") + f"?next=/c/sandbox/ns/{namespace}/pods/sidecar/")
    name = examples.pod(examples.get("sidecar"))["spec"]["containers"][0]["name"]
    page.locator(f'#pod-diagram [data-container="{name}"]').first.click()
    page.get_by_role("menuitem", name="Details").click()
    card = page.locator(f"#container-{name}")
    expect(card).to_be_in_viewport()
    expect(card).to_contain_text("Image")


def test_preview_draws_a_pasted_manifest(page: Page, podscope: Podscope) -> None:
    manifest = (examples.get("init-container").file).read_text()
    page.goto(podscope.login_url("viewer", "Viewers") + "?next=/c/sandbox/preview/")
    page.get_by_label("Manifest").fill(manifest)
    page.get_by_role("button", name="Preview", exact=True).click()

    result = page.locator("#preview-result svg")
    expect(result).to_be_visible()
    text = result.text_content() or ""
    pod = examples.pod(examples.get("init-container"))
    for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
        assert container["name"] in text
    assert "init 1" in text
    # A viewer may preview but not apply.
    expect(page.get_by_role("button", name=re.compile("Apply"))).to_have_count(0)


def test_projector_mode_by_key(page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str) -> None:
    kubectl(sandbox, "apply", "-n", namespace, "-f", str(examples.get("adapter").file))
    page.goto(podscope.login_url("viewer", "Viewers") + f"?next=/c/sandbox/ns/{namespace}/pods/adapter/")
    expect(page.locator("#pod-diagram svg")).to_be_visible()
    page.keyboard.press("p")
    expect(page.locator("body")).to_have_class(re.compile(r"\bprojector\b"))
    expect(page.get_by_role("banner")).to_be_hidden()
    assert "projector=1" in page.url
    box = page.locator("#pod-diagram svg").bounding_box()
    assert box is not None
    assert box["height"] >= 1000
    page.keyboard.press("Escape")
    expect(page.get_by_role("banner")).to_be_visible()
