"""`manage.py login_url USER`: print a one-time link that signs USER in, creating the account if needed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from dashboard.models import LoginToken


def login_url(user: User, base: str) -> str:
    """A fresh one-time login URL for `user` under `base` (e.g. http://127.0.0.1:8000)."""
    token = LoginToken.objects.issue(user, timedelta(seconds=settings.PODSCOPE_LOGIN_LINK_TTL))
    return base.rstrip("/") + reverse("login-token", args=[token])


class Command(BaseCommand):
    help = "Print a one-time login link for a user (created with no password if missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--base", default="http://127.0.0.1:8000", help="the dashboard's address")
        parser.add_argument("--group", action="append", default=[], help="add the user to this group (repeatable)")
        parser.add_argument("--superuser", action="store_true", help="make the user a superuser")

    def handle(self, *args: Any, **options: Any) -> None:
        groups: list[Group] = []
        for name in options["group"]:
            try:
                groups.append(Group.objects.get(name=name))
            except Group.DoesNotExist:
                known = ", ".join(Group.objects.values_list("name", flat=True)) or "none"
                raise CommandError(f'no group "{name}" (groups: {known})') from None
        user, created = get_user_model().objects.get_or_create(username=options["username"])
        if created:
            user.set_unusable_password()
        if options["superuser"]:
            user.is_superuser = user.is_staff = True
        user.save()
        user.groups.add(*groups)
        self.stdout.write(login_url(user, options["base"]))
