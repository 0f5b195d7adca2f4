"""Live pages: the pod list and one pod's page, re-rendered on every change of the namespace's shared watch.

Each socket subscribes to WatchHub for its namespace and sends the same fragments the page was rendered from;
htmx swaps them in by element id. These sockets say nothing but fragments: the close code is what the page
explains (static/js/podscope.js).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async
from django.template.loader import render_to_string

from dashboard import pod_table
from dashboard.context import pod_context
from dashboard.kube.watches import Subscription, hub
from dashboard.origins import port_key
from dashboard.permissions import VIEW_PODS, capabilities
from dashboard.sockets.base import BadFrame, SocketConsumer, cancel, query_params, read_json

log = logging.getLogger(__name__)

# Several watch events usually arrive together (a restart changes status several times); one render covers them.
COALESCE = 0.05


class LiveConsumer(SocketConsumer):
    """Subscribe to one namespace, and re-render on every change until the socket closes."""

    permission = VIEW_PODS
    subscription: Subscription | None = None
    pump: asyncio.Task[None] | None = None

    async def tell(self, message: str) -> None:
        # htmx swaps whatever arrives into the page; the close code is what these pages explain (podscope.js).
        return

    async def start(self) -> None:
        self.caps = await database_sync_to_async(capabilities)(self.user)
        self.port_key = port_key(self.ticket.session_key if self.ticket else None)
        self.subscription = hub().subscribe(self.cluster, self.namespace)
        self.pump = self.spawn(self._pump())

    async def stop(self) -> None:
        await cancel([self.pump])
        if self.subscription is not None:
            self.subscription.close()

    async def _pump(self) -> None:
        assert self.subscription is not None
        names: set[str] | None = None  # None: render everything once, as the page may be older than the snapshot
        while True:
            try:
                await self.changed(names)
            except Exception:
                # A fragment that fails to render must not kill the socket; the next change tries again.
                log.exception("rendering a live update of %s/%s failed", self.namespace, self.name or "pods")
            names = await self.subscription.changes()
            await asyncio.sleep(COALESCE)

    async def send_fragments(self, *parts: tuple[str, dict[str, Any]]) -> None:
        """Render each (template, context) and send them in one frame."""
        html = "".join(render_to_string(template, context) for template, context in parts)
        await self.send(text_data=html)

    def status_part(self) -> tuple[str, dict[str, Any]]:
        snapshot = self.subscription.snapshot() if self.subscription else None
        return "dashboard/_cluster_status.html", {"cluster": self.cluster, "snapshot": snapshot}

    async def changed(self, names: set[str] | None) -> None:
        raise NotImplementedError


# The pod list's filter form sends these fields (htmx ws-send), plus htmx's own HEADERS.
FILTER_FIELDS = frozenset({"q", "selector", "page"})
MAX_FIELD = 4096


def filter_query(data: dict[str, Any]) -> pod_table.Query:
    """The pod list's query from a filter frame, or BadFrame."""
    fields: dict[str, str] = {}
    for key, value in data.items():
        if key == "HEADERS":
            if not isinstance(value, dict) or not all(isinstance(v, str | bool | None) for v in value.values()):
                raise BadFrame("HEADERS must be an object of plain values")
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise BadFrame(f'the field "{key[:40]}" must be text of at most {MAX_FIELD} characters')
        if key in FILTER_FIELDS:
            fields[key] = value
    return pod_table.Query.from_params(fields)


class PodListConsumer(LiveConsumer):
    """The pod table of one namespace, filtered and paged as the page asked."""

    def parse(self) -> None:
        self.query = pod_table.Query.from_params(query_params(self.scope))

    async def frame(self, text: str | None, data: bytes | None) -> None:
        # The filter form sends its fields as JSON (htmx ws-send) while the user types.
        self.query = filter_query(read_json(text))
        await self.changed(None)

    async def changed(self, names: set[str] | None) -> None:
        assert self.subscription is not None  # subscribed in start, before any change or frame
        snapshot = self.subscription.snapshot()
        table = pod_table.table(snapshot.pods.values(), self.query, datetime.now(UTC))
        context = {"cluster": self.cluster, "namespace": self.namespace, "query": self.query, "table": table}
        context |= {"snapshot": snapshot, "caps": self.caps}
        await self.send_fragments(("dashboard/_pod_table.html", context), self.status_part())


class PodConsumer(LiveConsumer):
    """One pod's page: summary, diagram, containers, events and YAML."""

    REFRESH = 5.0  # events and metrics are not watched; they are fetched again this often
    refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.context: dict[str, Any] = {}
        await super().start()
        self.refresher = self.spawn(self._refresh())

    async def stop(self) -> None:
        await cancel([self.refresher])
        await super().stop()

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
        assert self.subscription is not None  # subscribed in start, before any change or refresh
        snapshot = self.subscription.snapshot()
        pod = snapshot.pods.get(self.name)
        if fetch or pod is None or not self.context.get("pod"):
            self.context = await pod_context(self.cluster, self.namespace, self.name, pod, snapshot)
        else:
            self.context = await pod_context(
                self.cluster, self.namespace, self.name, pod, snapshot, self.context.get("fetched")
            )
        self.context |= {"caps": self.caps, "live": True, "port_key": self.port_key}
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
