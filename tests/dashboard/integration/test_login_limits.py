"""Failed sign-ins through the real login view: account and address locks, the cool-off, no hashing while locked."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hashers
from django.contrib.auth.models import User
from django.db.models import F
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import reverse
from pytest_django.asserts import assertContains, assertRedirects, assertTemplateUsed

from dashboard.models import LoginToken

PASSWORD = "correct horse battery staple"
WRONG = "not the password"
HOME = "127.0.0.1"  # the test client's REMOTE_ADDR
LOCKED = "Too many failed sign-ins"


class CountingHasher(PBKDF2PasswordHasher):
    """PBKDF2 with few iterations, so a hundred sign-ins stay fast, that counts the passwords it hashes."""

    algorithm = "pbkdf2_counting"
    iterations = 1000
    hashed = 0

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        type(self).hashed += 1
        return super().encode(password, salt, iterations)


@pytest.fixture(autouse=True)
def hasher() -> Iterator[type[CountingHasher]]:
    """The counting hasher as the only one, for users created here and for every sign-in."""
    with override_settings(PASSWORD_HASHERS=[f"{__name__}.CountingHasher"]):
        counting = type(get_hashers()[0])
        counting.hashed = 0
        yield counting


@pytest.fixture
def alice(db: None, django_user_model: type[User]) -> User:
    """An account whose password gets guessed."""
    return django_user_model.objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def bob(db: None, django_user_model: type[User]) -> User:
    """Another account, signing in from the same address as the guesses."""
    return django_user_model.objects.create_user(username="bob", password=PASSWORD)


def sign_in(username: str, password: str, address: str = HOME, **headers: str) -> HttpResponse:
    """Post the login form from a fresh browser at `address`."""
    return Client().post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address, **headers)


def fail(username: str, times: int, address: str = HOME) -> None:
    for _ in range(times):
        assertContains(sign_in(username, WRONG, address), "Please enter a correct username and password")


def lock_out(username: str) -> None:
    """Guess wrong until the account is locked: the last guess already gets the lockout page."""
    fail(username, settings.PODSCOPE_LOGIN_FAILURES - 1)
    assert_locked(sign_in(username, WRONG), f"The account “{username}” had")


def assert_locked(response: HttpResponse, because: str) -> None:
    assertContains(response, LOCKED, status_code=429)
    assertContains(response, because, status_code=429)
    assertTemplateUsed(response, "base.html")
    assert int(response["Retry-After"]) > 0


def test_wrong_passwords_lock_the_account_even_for_the_right_one(alice: User) -> None:
    fail("alice", settings.PODSCOPE_LOGIN_FAILURES - 1)

    assert_locked(sign_in("alice", WRONG), "The account “alice” had")
    response = sign_in("alice", PASSWORD)

    assert_locked(response, f"try again in {settings.AXES_COOLOFF_TIME.seconds // 60} minutes")
    assert "_auth_user_id" not in response.client.session


def test_account_lock_holds_from_other_addresses(alice: User) -> None:
    lock_out("alice")

    assert_locked(sign_in("alice", PASSWORD, address="10.1.2.3"), "The account “alice” had")


def test_another_account_from_the_same_address_still_signs_in(alice: User, bob: User) -> None:
    lock_out("alice")
    assert_locked(sign_in("alice", PASSWORD), "The account “alice” had")

    assertRedirects(sign_in("bob", PASSWORD), reverse("home"), fetch_redirect_response=False)


def test_failures_across_many_accounts_lock_the_address(bob: User) -> None:
    # A classroom's worth of mistakes on different accounts, each well under the account limit.
    for student in range(settings.PODSCOPE_LOGIN_ADDRESS_FAILURES - 1):
        fail(f"student{student}", 1)
    assertRedirects(sign_in("bob", PASSWORD), reverse("home"), fetch_redirect_response=False)

    assert_locked(sign_in("student0", WRONG), "Your network address had")

    assert_locked(sign_in("bob", PASSWORD), "Your network address had")
    # The address is REMOTE_ADDR: a forwarded-for header from the client does not get around it.
    assert_locked(sign_in("bob", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9"), "Your network address had")
    assertRedirects(sign_in("bob", PASSWORD, address="10.1.2.3"), reverse("home"), fetch_redirect_response=False)


def test_lock_lifts_by_itself_after_the_cool_off(alice: User) -> None:
    lock_out("alice")
    cool_off = settings.AXES_COOLOFF_TIME

    # Move the recorded failures back in time instead of waiting.
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - (cool_off - timedelta(minutes=1)))
    assert_locked(sign_in("alice", PASSWORD), "try again in 1 minute;")
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=1, seconds=1))

    assertRedirects(sign_in("alice", PASSWORD), reverse("home"), fetch_redirect_response=False)


def test_success_neither_counts_nor_resets_failures(alice: User) -> None:
    fail("alice", settings.PODSCOPE_LOGIN_FAILURES - 1)

    assertRedirects(sign_in("alice", PASSWORD), reverse("home"), fetch_redirect_response=False)

    assert_locked(sign_in("alice", WRONG), "The account “alice” had")


def test_locked_sign_in_hashes_no_password(alice: User, hasher: type[CountingHasher]) -> None:
    hasher.hashed = 0
    fail("alice", settings.PODSCOPE_LOGIN_FAILURES - 1)
    assert hasher.hashed == settings.PODSCOPE_LOGIN_FAILURES - 1  # each guess before the lock costs a hash
    assert_locked(sign_in("alice", WRONG), "The account “alice” had")

    hasher.hashed = 0
    for password in (PASSWORD, WRONG):
        assert_locked(sign_in("alice", password), "The account “alice” had")

    assert hasher.hashed == 0


def test_login_link_still_signs_in_a_locked_account(alice: User) -> None:
    lock_out("alice")
    assert_locked(sign_in("alice", PASSWORD), "The account “alice” had")
    client = Client()

    token = LoginToken.objects.issue(alice, timedelta(minutes=5))
    response = client.get(reverse("login-token", args=[token]))

    assertRedirects(response, reverse("home"), fetch_redirect_response=False)
    assert client.session["_auth_user_id"] == str(alice.pk)
