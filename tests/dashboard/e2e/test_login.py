"""Signing in and out in a real browser: the login form, one-time login URLs, the Log out button."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from playwright.sync_api import Browser, Page, expect

if TYPE_CHECKING:
    from tests.dashboard.harness import Podscope

LOGIN_PAGE = re.compile(r"/accounts/login/")


def test_anonymous_visitor_is_sent_to_login(page: Page, podscope: Podscope) -> None:
    page.goto(podscope.url)

    expect(page).to_have_url(LOGIN_PAGE)
    expect(page.get_by_label("Username")).to_be_visible()


def test_login_form_signs_in(page: Page, podscope: Podscope) -> None:
    podscope.create_user("formuser", "a long test password", "Viewers")
    page.goto(podscope.url)

    page.get_by_label("Username").fill("formuser")
    page.get_by_label("Password").fill("a long test password")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("banner")).to_contain_text("formuser")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_login_url_signs_in(page: Page, podscope: Podscope) -> None:
    page.goto(podscope.login_url("teacher", superuser=True))

    expect(page.get_by_role("banner")).to_contain_text("teacher")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_login_url_works_once(page: Page, browser: Browser, podscope: Podscope) -> None:
    url = podscope.login_url("once", "Viewers")
    with browser.new_context() as first:
        first_page = first.new_page()
        first_page.goto(url)
        expect(first_page.get_by_role("banner")).to_contain_text("once")

    response = page.goto(url)

    assert response is not None
    assert response.status < 500
    expect(page.locator("body")).to_contain_text(re.compile(r"used|expired", re.IGNORECASE))
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_log_out_returns_to_login(page: Page, podscope: Podscope) -> None:
    page.goto(podscope.login_url("student", "Viewers"))
    expect(page.get_by_role("banner")).to_contain_text("student")

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(LOGIN_PAGE)
    expect(page.get_by_label("Username")).to_be_visible()
