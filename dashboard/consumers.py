"""Websocket consumers: keep an open pod list or pod page current by sending re-rendered fragments.

Each consumer authenticates, subscribes to the WatchHub and sends the same fragments the page rendered,
with their element ids, which htmx's ws extension swaps in place. Close codes the page explains:
4401 signed out, 4403 missing permission, 4404 no such cluster or bad name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.template.loader import render_to_string

from dashboard import pods
from dashboard.context import pod_context
from dashboard.kube import clusters
from dashboard.kube.watches import Subscription, hub
from dashboard.names import InvalidName, check_name, check_namespace
from dashboard.permissions import VIEW_PODS, capabilities

log = logging.getLogger(__name__)

SIGNED_OUT, FORBIDDEN, NOT_FOUND = 4401, 4403, 4404
# How often a quiet socket checks that its session still exists (a user who logs out loses the socket).
SESSION_CHECK = 30.0
# Several watch events usually arrive together (a restart changes status several times); one render covers them.
COALESCE = 0.05


class LiveConsumer(AsyncWebsocketConsumer):
    """Authenticate, subscribe to one namespace, and re-render on every change until the socket closes."""

    permission = VIEW_PODS

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(SIGNED_OUT)
            return
        if not await database_sync_to_async(user.has_perm)(self.permission):
            await self.close(FORBIDDEN)
            return
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            self.cluster = clusters.get(kwargs["cluster"])
            self.namespace = check_namespace(kwargs["namespace"])
            self.name = check_name(kwargs["name"]) if "name" in kwargs else ""
        except (clusters.ClusterError, InvalidName):
            await self.close(NOT_FOUND)
            return
        self.caps = await database_sync_to_async(capabilities)(user)
        self.user_pk = user.pk
        self.subscription: Subscription | None = hub().subscribe(self.cluster, self.namespace)
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code: int) -> None:
        if task := getattr(self, "pump", None):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if sub := getattr(self, "subscription", None):
            sub.close()

    async def _pump(self) -> None:
        assert self.subscription is not None
        names: set[str] | None = None  # None: render everything once, as the page may be older than the snapshot
        checked = time.monotonic()
        while True:
            try:
                await self.changed(names)
            except Exception:
                # A fragment that fails to render must not kill the socket; the next change tries again.
                log.exception("rendering a live update of %s/%s failed", self.namespace, self.name or "pods")
            try:
                names = await asyncio.wait_for(self.subscription.changes(), SESSION_CHECK)
                await asyncio.sleep(COALESCE)
            except TimeoutError:
                names = set()
            if time.monotonic() - checked >= SESSION_CHECK:
                checked = time.monotonic()
                if not await self._session_alive():
                    await self.close(SIGNED_OUT)
                    return

    @database_sync_to_async
    def _session_alive(self) -> bool:
        # The scope's session was read at connect time; read it again to see a logout or an expiry since.
        key = self.scope["session"].session_key
        if not key:
            return False
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        return str(store.get(SESSION_KEY)) == str(self.user_pk)

    async def send_fragments(self, *parts: tuple[str, dict[str, Any]]) -> None:
        """Render each (template, context) and send them in one frame."""
        html = "".join(render_to_string(template, context) for template, context in parts)
        await self.send(text_data=html)

    def status_part(self) -> tuple[str, dict[str, Any]]:
        snapshot = self.subscription.snapshot() if self.subscription else None
        return "dashboard/_cluster_status.html", {"cluster": self.cluster, "snapshot": snapshot}

    async def changed(self, names: set[str] | None) -> None:
        raise NotImplementedError


class PodListConsumer(LiveConsumer):
    """The pod table of one namespace, filtered and paged as the page asked."""

    async def connect(self) -> None:
        self.query = pods.Query.from_params(_query_params(self.scope))
        await super().connect()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The filter form sends its fields as JSON (htmx ws-send) while the user types.
        try:
            fields = json.loads(text_data or "{}")
        except ValueError:
            return
        if isinstance(fields, dict):
            self.query = pods.Query.from_params({k: str(v) for k, v in fields.items() if isinstance(v, str | int)})
            await self.changed(None)

    async def changed(self, names: set[str] | None) -> None:
        snapshot = self.subscription.snapshot()
        table = pods.table(snapshot.pods.values(), self.query, datetime.now(UTC))
        context = {"cluster": self.cluster, "namespace": self.namespace, "query": self.query, "table": table}
        context |= {"snapshot": snapshot, "caps": self.caps}
        await self.send_fragments(("dashboard/_pod_table.html", context), self.status_part())


class PodConsumer(LiveConsumer):
    """One pod's page: summary, diagram, containers, events and YAML."""

    REFRESH = 5.0  # events and metrics are not watched; they are fetched again this often

    async def connect(self) -> None:
        self.last_fetch = 0.0
        self.context: dict[str, Any] = {}
        await super().connect()
        if getattr(self, "subscription", None) is not None:
            self.refresher = asyncio.create_task(self._refresh())

    async def disconnect(self, code: int) -> None:
        if task := getattr(self, "refresher", None):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await super().disconnect(code)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.REFRESH)
            try:
                await self._render(fetch=True)
            except Exception:
                log.exception("refreshing events and metrics of %s/%s failed", self.namespace, self.name)

    async def changed(self, names: set[str] | None) -> None:
        if names is None or not names or self.name in names:
            await self._render(fetch=names is None)

    async def _render(self, fetch: bool) -> None:
        snapshot = self.subscription.snapshot()
        pod = snapshot.pods.get(self.name)
        if fetch or pod is None or not self.context.get("pod"):
            self.context = await pod_context(self.cluster, self.namespace, self.name, pod, snapshot)
        else:
            self.context = await pod_context(
                self.cluster, self.namespace, self.name, pod, snapshot, self.context.get("fetched")
            )
        self.context |= {"caps": self.caps, "live": True}
        if pod is None:
            parts = [("dashboard/_pod_summary.html", self.context)]
        else:
            parts = [
                ("dashboard/_pod_summary.html", self.context),
                ("dashboard/_pod_diagram.html", self.context),
                ("dashboard/_containers.html", self.context),
                ("dashboard/_pod_events.html", self.context),
                ("dashboard/_pod_yaml.html", self.context),
            ]
        await self.send_fragments(*parts, self.status_part())


def _query_params(scope: dict[str, Any]) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
