from __future__ import annotations

from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects, assertTemplateUsed

from tests.dashboard.integration.helpers import http_scope

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db: None, django_user_model: type[User]) -> User:
    """A signed-up user who has not logged in yet."""
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    """A browser session logged in as alice."""
    client.force_login(alice)
    return client


def test_anonymous_home_redirects_to_login(client: Client) -> None:
    response = client.get("/")
    assertRedirects(response, f"{reverse('login')}?next=/")


@pytest.mark.django_db
def test_login_page_is_public_and_accessible(client: Client) -> None:
    response = client.get(reverse("login"))
    assertContains(response, '<label for="id_username">')
    assertContains(response, '<label for="id_password">')
    assertContains(response, 'autocomplete="current-password"')


def test_home_without_clusters_says_where_it_looked(
    alice_client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PODSCOPE_SANDBOX_KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    response = alice_client.get(reverse("home"))
    assertTemplateUsed(response, "dashboard/no_clusters.html")
    assertContains(response, "alice")
    assertContains(response, "KUBECONFIG")
    assertContains(response, f'action="{reverse("logout")}"')


def test_correct_password_logs_in_and_lands_on_home(client: Client, alice: User) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": PASSWORD, "next": "/"})
    assertRedirects(response, reverse("home"))


def test_wrong_password_shows_error_without_traceback(client: Client, alice: User) -> None:
    response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assertContains(response, 'role="alert"')
    assertContains(response, "Please enter a correct username and password")
    assertNotContains(response, "Traceback")
    assert "_auth_user_id" not in client.session


def test_logout_is_a_post(alice_client: Client) -> None:
    assert alice_client.get(reverse("logout")).status_code == 405
    response = alice_client.post(reverse("logout"))
    assertRedirects(response, reverse("login"), fetch_redirect_response=False)
    assert "_auth_user_id" not in alice_client.session


def test_unknown_page_shows_custom_404(alice_client: Client) -> None:
    response = alice_client.get("/no-such-page/")
    assert response.status_code == 404
    assertTemplateUsed(response, "404.html")
    assertContains(response, "Page not found", status_code=404)
    assertContains(response, "alice", status_code=404)


def test_security_headers_are_set(alice_client: Client) -> None:
    response = alice_client.get(reverse("home"))
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def _asgi_get(path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    from dashboard.asgi import application

    scope = http_scope(path, [(b"host", b"localhost")])
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(timeout=5)
    body = b""
    while True:
        message = await communicator.receive_output(timeout=5)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(timeout=5)
    return start["status"], {name.lower(): value for name, value in start["headers"]}, body


async def test_asgi_app_serves_static_css_with_debug_off() -> None:
    assert settings.DEBUG is False
    status, headers, body = await _asgi_get("/static/css/podscope.css")
    assert status == 200
    assert headers[b"content-type"].startswith(b"text/css")
    assert body == (Path(settings.BASE_DIR) / "static" / "css" / "podscope.css").read_bytes()


async def test_asgi_app_returns_404_for_missing_static_file() -> None:
    status, _, body = await _asgi_get("/static/css/nope.css")
    assert status == 404
    assert b"Traceback" not in body
