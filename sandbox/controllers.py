"""The control loops a cluster runs beside its apiserver: the scheduler, the namespace lifecycle
(default ServiceAccount and root CA ConfigMap in each namespace, emptying a terminating namespace),
and the garbage collection of old events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox import errors
from sandbox.api import pods, strategy
from sandbox.events import EventRecorder
from sandbox.store import ADDED, DELETED, Store, changes, now_rfc3339

log = logging.getLogger(__name__)

EVENT_TTL = timedelta(hours=1)
# What is emptied out of a terminating namespace, pods first as the namespace controller does.
NAMESPACED = (
    "pods",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "serviceaccounts",
    "events",
)


def _node_ready(node: dict[str, Any]) -> bool:
    for c in node.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            status: str | None = c.get("status")
            return status == "True"
    return False


def _selector_fits(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    wanted = pod["spec"].get("nodeSelector") or {}
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


class Scheduler:
    """Binds each new pod that asks for the default scheduler to a node that fits it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events = EventRecorder(store, "default-scheduler", "sandbox")

    def schedule(self, pod: dict[str, Any]) -> None:
        spec = pod["spec"]
        if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            return
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return
        nodes = self.store.list("nodes")
        fits = [
            n for n in nodes if _node_ready(n) and not n.get("spec", {}).get("unschedulable") and _selector_fits(pod, n)
        ]
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        if not fits:
            self._unschedulable(pod, len(nodes))
            return
        node = fits[0]["metadata"]["name"]
        try:
            bound = pods.bind(self.store, ns, name, node)
        except errors.ApiError as exc:
            log.info("could not bind %s/%s: %s", ns, name, exc.message)
            return
        self.events.emit_new_style(
            {"kind": "Pod", "apiVersion": "v1", **bound},
            "Normal",
            "Scheduled",
            "Binding",
            f"Successfully assigned {ns}/{name} to {node}",
        )

    def _unschedulable(self, pod: dict[str, Any], total: int) -> None:
        message = (
            f"0/{total} nodes are available: {total} node(s) didn't match Pod's node affinity/selector. "
            f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
        )
        status = pod.setdefault("status", {})
        if any(c.get("type") == "PodScheduled" and c.get("message") == message for c in status.get("conditions", [])):
            return
        status["conditions"] = [c for c in status.get("conditions", []) if c.get("type") != "PodScheduled"] + [
            {
                "type": "PodScheduled",
                "status": "False",
                "lastProbeTime": None,
                "lastTransitionTime": now_rfc3339(),
                "reason": "Unschedulable",
                "message": message,
            }
        ]
        self.store.update("pods", pod, check_version=False)
        self.events.emit_new_style(
            {"kind": "Pod", "apiVersion": "v1", **pod}, "Warning", "FailedScheduling", "Scheduling", message
        )

    def retry_pending(self) -> None:
        """Try again with every unbound pod (a node appeared or changed)."""
        for pod in [p for p in self.store.list("pods") if not p["spec"].get("nodeName")]:
            self.schedule(self.store.get("pods", pod["metadata"]["namespace"], pod["metadata"]["name"]))

    async def run(self) -> None:
        pods_watch = self.store.watch("pods")
        nodes_watch = self.store.watch("nodes")
        self.retry_pending()
        try:
            async for change in changes(pods_watch, nodes_watch):
                if change.resource == "nodes":
                    self.retry_pending()
                elif change.type != DELETED and not change.object["spec"].get("nodeName"):
                    meta = change.object["metadata"]
                    current = self.store.find("pods", meta["namespace"], meta["name"])
                    if current is not None:
                        self.schedule(current)
        finally:
            self.store.stop_watch(pods_watch)
            self.store.stop_watch(nodes_watch)


class NamespaceController:
    """Gives each namespace its default ServiceAccount and root CA ConfigMap; empties terminating ones."""

    def __init__(self, store: Store, ca_pem: str) -> None:
        self.store = store
        self.ca_pem = ca_pem

    def furnish(self, namespace: str) -> None:
        strategy.furnish_namespace(self.store, namespace)
        if self.store.find("configmaps", namespace, "kube-root-ca.crt") is None:
            self._create(
                "configmaps",
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": "kube-root-ca.crt",
                        "namespace": namespace,
                        "annotations": {
                            "kubernetes.io/description": (
                                "Contains a CA bundle that can be used to verify the kube-apiserver when using "
                                "internal endpoints such as the internal service IP or kubernetes.default.svc. "
                                "No other usage is guaranteed across distributions of Kubernetes clusters."
                            )
                        },
                    },
                    "data": {"ca.crt": self.ca_pem},
                },
            )

    def _create(self, resource: str, obj: dict[str, Any]) -> None:
        with contextlib.suppress(errors.ApiError):
            self.store.create(resource, obj)

    def empty(self, namespace: dict[str, Any]) -> bool:
        """Delete what a terminating namespace holds; True once it is empty and has been removed."""
        name = namespace["metadata"]["name"]
        remaining = 0
        for resource in NAMESPACED:
            for obj in list(self.store.list(resource, name)):
                remaining += 1
                meta = obj["metadata"]
                if resource == "pods" and meta.get("deletionTimestamp"):
                    continue
                if (
                    resource == "pods"
                    and obj["spec"].get("nodeName")
                    and obj.get("status", {}).get("phase") not in ("Succeeded", "Failed")
                ):
                    grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
                    stamp = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
                    self.store.mark_deleting("pods", self.store.get("pods", name, meta["name"]), stamp, grace)
                    continue
                with contextlib.suppress(errors.ApiError):
                    self.store.delete(resource, name, meta["name"])
        if remaining:
            return False
        with contextlib.suppress(errors.ApiError):
            self.store.delete("namespaces", "", name)
        return True

    async def run(self, poll: float = 0.2) -> None:
        for ns in self.store.list("namespaces"):
            if not ns["metadata"].get("deletionTimestamp"):
                self.furnish(ns["metadata"]["name"])
        watcher = self.store.watch("namespaces")
        try:
            while True:
                terminating = [n for n in self.store.list("namespaces") if n["metadata"].get("deletionTimestamp")]
                for ns in terminating:
                    self.empty(ns)
                try:
                    # Not asyncio.wait_for: on Python 3.11 it returns the change and drops a cancellation
                    # that arrives as the queue hands one over, and this loop would then never end.
                    async with asyncio.timeout(poll if terminating else None):
                        change = await watcher.queue.get()
                except TimeoutError:
                    continue
                if change is None:
                    return
                if change.type == ADDED:
                    self.furnish(change.object["metadata"]["name"])
        finally:
            self.store.stop_watch(watcher)


async def collect_events(store: Store, every: float = 60.0) -> None:
    """Delete events older than their time to live, as the apiserver's event TTL does."""
    while True:
        cutoff = datetime.now(UTC) - EVENT_TTL
        for event in list(store.list("events")):
            stamp = event.get("lastTimestamp") or event.get("eventTime") or event["metadata"]["creationTimestamp"]
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                continue
            if when < cutoff:
                with contextlib.suppress(errors.ApiError):
                    store.delete("events", event["metadata"]["namespace"], event["metadata"]["name"])
        await asyncio.sleep(every)
