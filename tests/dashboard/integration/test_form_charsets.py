"""Form bodies declared in a charset Podscope does not read get a 415 with a sentence, on every route, never a 500."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertRedirects

PASSWORD = "correct horse battery staple"
SENTENCE = "Podscope reads form data only as UTF-8"
BOUNDARY = "podscope-test-boundary"


@pytest.fixture
def alice(db: None, django_user_model: type[User]) -> User:
    """A user with a password."""
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def carol(db: None, django_user_model: type[User]) -> User:
    """A user who signed in some other way (no password to hash, which keeps these tests quick)."""
    return django_user_model.objects.create(username="carol")


@pytest.fixture
def browser(db: None) -> Client:
    """A client that, like a browser, has fetched the login page and must send its CSRF token back."""
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.get(reverse("login"))
    return client


def urlencoded(fields: dict[str, str]) -> bytes:
    return "&".join(f"{name}={value}" for name, value in fields.items()).encode()


def multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


BODIES = {
    "application/x-www-form-urlencoded": urlencoded,
    f"multipart/form-data; boundary={BOUNDARY}": multipart,
}


def post(client: Client, url: str, content_type: str, charset: str | None, fields: dict[str, str]) -> HttpResponse:
    """POST `fields` with the CSRF token, encoded as `content_type` and declaring `charset` (if any)."""
    fields = {"csrfmiddlewaretoken": client.cookies["csrftoken"].value, **fields}
    declared = f"{content_type}; charset={charset}" if charset else content_type
    return client.generic("POST", url, BODIES[content_type](fields), content_type=declared)


# utf-7 decodes "+ADw-script+AD4-" to "<script>"; the rest are charsets Django cannot or will not read forms in.
REFUSED = ["utf-7", "UTF-7", "nope", "latin-1", "utf-16"]


@pytest.mark.parametrize("content_type", BODIES)
@pytest.mark.parametrize("charset", REFUSED)
def test_login_refuses_other_charsets(browser: Client, content_type: str, charset: str) -> None:
    fields = {"username": "alice", "password": PASSWORD}

    response = post(browser, reverse("login"), content_type, charset, fields)

    assertContains(response, SENTENCE, status_code=415)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "_auth_user_id" not in browser.session


@pytest.mark.parametrize("content_type", BODIES)
@pytest.mark.parametrize("charset", REFUSED)
def test_signed_in_post_refuses_other_charsets(browser: Client, carol: User, content_type: str, charset: str) -> None:
    browser.force_login(carol)

    response = post(browser, reverse("logout"), content_type, charset, {})

    assertContains(response, SENTENCE, status_code=415)
    assert browser.session["_auth_user_id"] == str(carol.pk)  # the logout did not happen


@pytest.mark.parametrize("content_type", BODIES)
@pytest.mark.parametrize("charset", [None, "utf-8", "UTF8", "us-ascii"])
def test_utf8_forms_still_sign_in(browser: Client, alice: User, content_type: str, charset: str | None) -> None:
    response = post(browser, reverse("login"), content_type, charset, {"username": "alice", "password": PASSWORD})

    assertRedirects(response, reverse("home"), fetch_redirect_response=False)
    assert browser.session["_auth_user_id"] == str(alice.pk)
