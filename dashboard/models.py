"""What Podscope keeps: its own permissions, and one-time login links."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class Access(models.Model):
    """Not a table: the holder of Podscope's permissions, granted to users directly or through groups."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_pods", "Can view pods, their diagrams, events and YAML"),
            ("read_logs", "Can read container logs"),
            ("exec_pods", "Can open terminals and port-forwards into containers"),
            ("write_pods", "Can apply manifests and delete pods"),
        ]

    def __str__(self) -> str:
        return "Podscope permissions"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginTokenQuerySet(models.QuerySet["LoginToken"]):
    def issue(self, user: User, ttl: timedelta) -> str:
        """Make a login token for `user`; only its digest is stored, so the database cannot replay it."""
        token = secrets.token_urlsafe(32)
        self.create(user=user, digest=_digest(token), expires=timezone.now() + ttl)
        return token

    def redeem(self, token: str) -> User | None:
        """The user a valid token belongs to, spending the token; None when unknown, used or expired."""
        now = timezone.now()
        # One UPDATE marks the token used, so two requests racing with the same link cannot both succeed.
        spent = self.filter(digest=_digest(token), used__isnull=True, expires__gt=now).update(used=now)
        if not spent:
            return None
        return self.select_related("user").get(digest=_digest(token)).user


class LoginToken(models.Model):
    """A one-time link that signs a user in, as Jupyter prints at start-up."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()
    used = models.DateTimeField(null=True, blank=True)

    objects = LoginTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"login link for {self.user} until {self.expires:%Y-%m-%d %H:%M}"


class SessionRecord(models.Model):
    """One attempt at interactive access to a pod, allowed or refused: a terminal, or a request to a pod's port."""

    class Kind(models.TextChoices):
        EXEC = "exec", "terminal"
        PORT_FORWARD = "port-forward", "port-forward"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The user row may be deleted later; the name they had stays in the record.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True)
    cluster = models.CharField(max_length=253)
    namespace = models.CharField(max_length=253)
    pod = models.CharField(max_length=253)
    container = models.CharField(max_length=253, blank=True)
    # A terminal's command as it ran (e.g. "bash"), or a port-forward's request line ("GET /index.html").
    command = models.TextField(blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    client = models.CharField("client address", max_length=64, blank=True)
    allowed = models.BooleanField(default=True)
    # Why the attempt was refused or failed, in the words the user saw; empty when it ran.
    outcome = models.TextField(blank=True)
    started = models.DateTimeField(default=timezone.now, db_index=True)
    ended = models.DateTimeField(null=True, blank=True)
    bytes_in = models.BigIntegerField("bytes from the user", default=0)
    bytes_out = models.BigIntegerField("bytes to the user", default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    # A file name under PODSCOPE_RECORDINGS_DIR holding the terminal's output as asciicast v2, when recorded.
    recording = models.CharField(max_length=255, blank=True)
    # Not a column: the audit list sets it on the records of its page for its template (dashboard/audit/pages.py).
    duration_text: str

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["user", "ended"])]

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.pod}" + (f" -c {self.container}" if self.container else "")
        who = self.username or "anonymous"
        return f"{self.get_kind_display()} by {who} in {where} at {self.started:%Y-%m-%d %H:%M:%S}"

    @property
    def duration(self) -> timedelta | None:
        return (self.ended - self.started) if self.ended else None
