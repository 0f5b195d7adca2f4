"""Events as the cluster's components record them, with the same names, sources and aggregation."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from sandbox import errors
from sandbox.store import Store, now_rfc3339

# The event correlator merges identical events seen within this window into one with a count.
AGGREGATION_WINDOW = 600.0


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class EventRecorder:
    """Writes core/v1 Events for one component (kubelet, default-scheduler, ...)."""

    def __init__(self, store: Store, component: str, host: str = "") -> None:
        self.store = store
        self.component = component
        self.host = host
        self._recent: dict[tuple[str, ...], tuple[str, float]] = {}

    def emit(self, obj: dict[str, Any], type_: str, reason: str, message: str, field_path: str = "") -> None:
        """Record an event about `obj`, counting repeats of the same event as the kubelet's recorder does."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        key = (meta.get("uid", ""), field_path, type_, reason, message)
        now = now_rfc3339()
        seen = self._recent.get(key)
        if seen and time.monotonic() - seen[1] < AGGREGATION_WINDOW:
            existing = self.store.find("events", namespace, seen[0])
            if existing is not None:
                existing["count"] = existing.get("count", 1) + 1
                existing["lastTimestamp"] = now
                self.store.update("events", existing, check_version=False)
                self._recent[key] = (seen[0], time.monotonic())
                return
        name = f"{meta['name']}.{time.time_ns():x}"
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": self._reference(obj, field_path),
            "reason": reason,
            "message": message,
            "source": {"component": self.component, **({"host": self.host} if self.host else {})},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": self.host,
        }
        self._create(event)
        self._recent[key] = (name, time.monotonic())

    def emit_new_style(self, obj: dict[str, Any], type_: str, reason: str, action: str, message: str) -> None:
        """Record an events.k8s.io-style event (eventTime, no count) as the scheduler does."""
        meta = obj["metadata"]
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{meta['name']}.{time.time_ns():x}",
                "namespace": meta.get("namespace") or "default",
            },
            "involvedObject": self._reference(obj, ""),
            "reason": reason,
            "message": message,
            "source": {},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": type_,
            "eventTime": _micro_now(),
            "action": action,
            "reportingComponent": self.component,
            "reportingInstance": f"{self.component}-{self.host}" if self.host else self.component,
        }
        self._create(event)

    def _reference(self, obj: dict[str, Any], field_path: str) -> dict[str, Any]:
        meta = obj["metadata"]
        ref: dict[str, Any] = {
            "kind": obj.get("kind", "Pod"),
            "namespace": meta.get("namespace", ""),
            "name": meta["name"],
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if not ref["namespace"]:
            del ref["namespace"]
        if field_path:
            ref["fieldPath"] = field_path
        return ref

    def _create(self, event: dict[str, Any]) -> None:
        # Events are best effort, as in a real cluster: the namespace may be going away.
        with contextlib.suppress(errors.ApiError):
            self.store.create("events", event)
