"""Driving Debian's chromium: its flags, waiting under the Content-Security-Policy, pages served without a server."""

from __future__ import annotations

import mimetypes
import time
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from playwright.sync_api import Page, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dashboard.headers import policy

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
