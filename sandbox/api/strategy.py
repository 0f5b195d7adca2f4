"""Per-kind rules the apiserver's registries apply around a write: what create resets, what an update
may touch (main resource vs. status subresource), and how a delete is graceful."""

from __future__ import annotations

import copy
import random
from typing import Any

from sandbox import errors
from sandbox.api import defaults
from sandbox.api.resources import Resource
from sandbox.store import Store

# What the apiserver uses for generateName suffixes and random names (utilrand.String).
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
PROTECTED_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})


def random_suffix(length: int = 5) -> str:
    """A suffix as the apiserver generates them (no vowels, no look-alike characters)."""
    return "".join(random.choice(_ALPHANUMS) for _ in range(length))


def assign_name(obj: dict[str, Any]) -> None:
    """Fill metadata.name from generateName, as the apiserver does on create."""
    meta = obj.setdefault("metadata", {})
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = meta["generateName"] + random_suffix()


def prepare_create(
    resource: Resource, obj: dict[str, Any], used_cluster_ips: set[str], service_account: Any = defaults.UNSET
) -> None:
    """Reset what a client may not set on create, then apply the server's defaults."""
    meta = obj["metadata"]
    for owned in (
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        meta.pop(owned, None)
    meta.pop("generation", None)
    if resource.has_status and resource.kind != "Node":
        # Registries with a status subresource drop client-sent status on create.
        obj.pop("status", None)
    defaults.apply_defaults(
        resource.kind,
        obj,
        used_cluster_ips=used_cluster_ips,
        suffix=random_suffix,
        service_account=service_account,
    )


def furnish_namespace(store: Store, namespace: str) -> None:
    """Give a namespace its `default` ServiceAccount, as the service account controller does."""
    if store.find("serviceaccounts", namespace, "default") is None:
        account = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": namespace},
        }
        store.create("serviceaccounts", account)


def prepare_update(resource: Resource, new: dict[str, Any], old: dict[str, Any], subresource: str) -> None:
    """Keep the half of the object this endpoint may not change (status on the main resource, the rest on status)."""
    _keep_system_fields(new, old)
    if subresource == "status":
        status = new.get("status")
        new.clear()
        new.update(copy.deepcopy(old))
        # Labels and annotations may change through status as well; the rest of metadata may not.
        if status is not None:
            new["status"] = status
        else:
            new.pop("status", None)
        return
    if subresource == "ephemeralcontainers":
        ephemeral = new.get("spec", {}).get("ephemeralContainers")
        merged = copy.deepcopy(old)
        if ephemeral is None:
            merged["spec"].pop("ephemeralContainers", None)
        else:
            merged["spec"]["ephemeralContainers"] = ephemeral
        new.clear()
        new.update(merged)
        return
    if "generation" in old["metadata"]:
        bump = 1 if new.get("spec") != old.get("spec") else 0
        new["metadata"]["generation"] = old["metadata"]["generation"] + bump
    if resource.has_status and "status" in old:
        new["status"] = copy.deepcopy(old["status"])
    elif resource.has_status:
        new.pop("status", None)
    if resource.kind == "Namespace":
        # spec.finalizers changes only through the finalize subresource.
        new["spec"] = copy.deepcopy(old.get("spec", {}))


def _keep_system_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """What rest.BeforeUpdate restores: a missing uid, the creation and deletion stamps, generation."""
    meta, before = new.setdefault("metadata", {}), old["metadata"]
    if not meta.get("uid"):
        meta["uid"] = before["uid"]
    for kept in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        if kept in before:
            meta[kept] = before[kept]
        else:
            meta.pop(kept, None)


def grace_period(resource: Resource, obj: dict[str, Any], requested: int | None) -> int:
    """The grace period a delete gets: 0 means the object may go at once."""
    if resource.kind != "Pod":
        return 0
    spec = obj.get("spec", {})
    if requested is None:
        requested = spec.get("terminationGracePeriodSeconds", 30)
    # An unscheduled or finished pod has no kubelet to confirm its end (pod strategy CheckGracefulDelete).
    if not spec.get("nodeName") or obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    return max(0, requested)


def check_deletable(resource: Resource, name: str) -> None:
    """The NamespaceLifecycle admission: system namespaces may not be deleted."""
    if resource.kind == "Namespace" and name in PROTECTED_NAMESPACES:
        raise errors.forbidden_request(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
