"""What pages and live fragments are rendered from, shared by views and consumers."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest

from dashboard import cards, diagram, manifests, pod_table
from dashboard.durations import age
from dashboard.kube import clusters, resources
from dashboard.kube.watches import Snapshot
from dashboard.origins import port_key, socket_token


def podscope(request: HttpRequest) -> dict[str, Any]:
    """Template context for every page: the clusters for the picker and the one in the URL."""
    match = request.resolver_match
    found = clusters.discover()
    current = (match.kwargs.get("cluster") if match else None) or ""
    session_key = request.session.session_key if hasattr(request, "session") else None
    return {
        "clusters": found,
        "current_cluster": current if any(c.id == current for c in found) else "",
        # Sockets and links into pods' ports prove with these that this page is Podscope's (dashboard/origins.py).
        "socket_token": socket_token(session_key),
        "port_key": port_key(session_key),
    }


# The extras last fetched per pod, shown while the cluster does not answer: a page keeps the last data it had.
_last_extras: OrderedDict[tuple[clusters.Cluster, str, str], dict[str, Any]] = OrderedDict()
LAST_EXTRAS = 256


async def fetch_extras(cluster: clusters.Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The pod's events and metrics, and whether the cluster lets Podscope exec and forward ports there.

    None of these is watched, so they are fetched; while the cluster does not answer, those fetched last are kept.
    """
    key = (cluster, namespace, name)
    fetched = await _fetch_extras(cluster, namespace, name)
    if resources.not_answering(cluster):
        return _last_extras.get(key, fetched)
    _last_extras[key] = fetched
    _last_extras.move_to_end(key)
    while len(_last_extras) > LAST_EXTRAS:
        _last_extras.popitem(last=False)
    return fetched


async def _fetch_extras(cluster: clusters.Cluster, namespace: str, name: str) -> dict[str, Any]:
    events, metrics, shell, forward = await asyncio.gather(
        resources.pod_events_or_none(cluster, namespace, name),
        resources.pod_metrics_or_none(cluster, namespace, name),
        resources.can_i(cluster, namespace, "create", "pods", "exec", name),
        resources.can_i(cluster, namespace, "create", "pods", "portforward", name),
    )
    # Only a clear no hides the shell and port links; a cluster that cannot say is given the benefit of the doubt.
    return {
        "events": events,
        "metrics": metrics,
        "exec_cluster": "denied" if shell is False else "allowed",
        "port_forward": "denied" if forward is False else "allowed",
    }


async def pod_context(
    cluster: clusters.Cluster,
    namespace: str,
    name: str,
    pod: dict[str, Any] | None,
    snapshot: Snapshot,
    fetched: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the pod page shows; `fetched` reuses events and metrics fetched a moment ago."""
    now = datetime.now(UTC)
    context: dict[str, Any] = {"cluster": cluster, "namespace": namespace, "name": name, "pod": pod}
    context |= {"snapshot": snapshot, "now": now}
    if pod is None:
        return context
    fetched = fetched or await fetch_extras(cluster, namespace, name)
    context |= {
        "fetched": fetched,
        "events": [{**e, "age": age(e["last"], now)} for e in fetched["events"] or []]
        if fetched["events"] is not None
        else None,
        "metrics": fetched["metrics"],
        "exec_cluster": fetched.get("exec_cluster", "allowed"),
        "port_forward": fetched.get("port_forward", "allowed"),
        "diagram": diagram.layout(pod),
        "row": pod_table.row(pod, now),
        "cards": cards.container_cards(pod, now, fetched["metrics"]),
        "volumes": cards.volume_details(pod),
        "yaml": manifests.to_yaml(pod),
    }
    return context
