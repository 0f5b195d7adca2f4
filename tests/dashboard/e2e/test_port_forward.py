"""A person opens a pod's port from the pod page, as the tutorial does with kubectl port-forward and curl."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from playwright.sync_api import Locator, Page, expect

from tests.clusters import SandboxProcess
from tests.dashboard.e2e.helpers import POD, open_pod_page, run_tutorial_pod

if TYPE_CHECKING:
    from tests.dashboard.harness import Podscope

# What the producer appends every ten seconds: `echo $(hostname) $(date)`.
PRODUCER_LINE = re.compile(rf"{POD} \w{{3}} \w{{3}} +\d+ \d\d:\d\d:\d\d")


def opened_tab_text(page: Page, link: Locator) -> str:
    """Click `link`, which must open a new tab, and return the tab's text once the producer's page is served."""
    with page.context.expect_page() as opened:
        link.click()
    tab = opened.value
    tab.wait_for_load_state()
    deadline = time.monotonic() + 30
    # nginx may still be starting right after the pod runs; a reload asks again, as curl would.
    while not PRODUCER_LINE.search(text := tab.locator("body").inner_text()) and time.monotonic() < deadline:
        time.sleep(0.5)
        tab.reload()
    assert "/port/80/" in tab.url
    # The page runs in an opaque origin, so its scripts cannot read Podscope's cookies or pages.
    assert tab.evaluate("window.origin") == "null"
    blocked = tab.evaluate("() => { try { document.cookie; return 'readable' } catch (e) { return 'blocked' } }")
    assert blocked == "blocked"
    tab.close()
    return text


def test_an_operator_opens_the_consumers_port_from_the_diagram_and_the_card(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    open_pod_page(page, podscope, namespace, "operator", "Operators")
    chip = page.locator('#pod-diagram g.port[data-container="consumer"][data-port="80"] a')
    expect(chip).to_have_attribute("target", "_blank")
    # The link carries a token made for this session and this port (dashboard/origins.py).
    link = re.compile(rf"^/c/sandbox/ns/{namespace}/pods/{POD}/port/80/[0-9a-f]{{32}}/$")
    expect(chip).to_have_attribute("href", link)

    text = opened_tab_text(page, chip)
    assert PRODUCER_LINE.search(text), text
    # Clicking the chip opens the port only: no container menu or jump happens on the pod page.
    expect(page.locator("#diagram-menu")).to_have_count(0)

    card_link = page.locator("#container-consumer a.port-link")
    expect(card_link).to_have_text("80/TCP")
    assert PRODUCER_LINE.search(opened_tab_text(page, card_link))


def test_port_links_survive_live_updates(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    open_pod_page(page, podscope, namespace, "operator", "Operators")
    page.evaluate("document.getElementById('pod-diagram').dataset.before = 'update'")
    page.evaluate("document.getElementById('containers').dataset.before = 'update'")
    # Events and metrics are fetched again every few seconds, and the fragments re-rendered and swapped in.
    expect(page.locator("#pod-diagram[data-before]")).to_have_count(0, timeout=20_000)
    expect(page.locator("#containers[data-before]")).to_have_count(0, timeout=20_000)
    expect(page.locator('#pod-diagram g.port[data-container="consumer"] a.port-link')).to_have_count(1)
    expect(page.locator("#container-consumer a.port-link")).to_have_count(1)


def test_a_viewer_sees_the_ports_without_links(
    page: Page, podscope: Podscope, sandbox: SandboxProcess, namespace: str
) -> None:
    run_tutorial_pod(sandbox, namespace)
    open_pod_page(page, podscope, namespace, "viewer", "Viewers")
    expect(page.locator('#pod-diagram g.port[data-container="consumer"]')).to_contain_text("80/TCP")
    expect(page.locator("#container-consumer")).to_contain_text("80/TCP")
    expect(page.locator("#pod-diagram a, #containers .port-link")).to_have_count(0)
