"""Discovery documents: /version, /api, /apis, /api/v1 (legacy and aggregated v2) and /openapi/v3."""

from __future__ import annotations

import hashlib
import json
import platform
from functools import cache
from typing import Any

from sandbox.api import schema
from sandbox.api.resources import ALL, CORE, Resource, groups

KUBERNETES_VERSION = "v1.37.1"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def version() -> dict[str, Any]:
    """What `kubectl version` reads."""
    major, minor, _ = KUBERNETES_VERSION.lstrip("v").split(".")
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": str(int(minor) - 1),
        "gitVersion": KUBERNETES_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-10-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": f"linux/{machine}",
    }


def wants_aggregated(accept: str) -> bool:
    """kubectl asks for aggregated discovery first and takes legacy documents if it gets them."""
    return "as=APIGroupDiscoveryList" in accept and "g=apidiscovery.k8s.io" in accept and "v=v2" in accept


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> dict[str, Any]:
    out = []
    for group, members in sorted(groups().items()):
        versions = sorted({r.version for r in members})
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        out.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": out}


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The legacy APIResourceList for one group/version, or None if it is not served."""
    members = [r for r in ALL if r.group == group and r.version == version]
    if not members:
        return None
    resources: list[dict[str, Any]] = []
    for r in members:
        entry: dict[str, Any] = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        resources.append(entry)
        for sub in r.subresources:
            resources.append(
                {
                    "name": f"{r.plural}/{sub.name}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": sub.kind,
                    "verbs": list(sub.verbs),
                }
            )
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _aggregated_resource(r: Resource) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": list(r.verbs),
    }
    if r.short_names:
        entry["shortNames"] = list(r.short_names)
    if r.categories:
        entry["categories"] = list(r.categories)
    if r.subresources:
        entry["subresources"] = [
            {
                "subresource": s.name,
                "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                "verbs": list(s.verbs),
            }
            for s in r.subresources
        ]
    return entry


def aggregated(core: bool) -> dict[str, Any]:
    """The APIGroupDiscoveryList for /api (core=True) or /apis."""
    items: list[dict[str, Any]] = []
    if core:
        members = [r for r in CORE if not r.group]
        items.append(
            {
                "metadata": {},
                "versions": [
                    {
                        "version": "v1",
                        "resources": [_aggregated_resource(r) for r in members],
                        "freshness": "Current",
                    }
                ],
            }
        )
    else:
        for group, members in sorted(groups().items()):
            versions = sorted({r.version for r in members})
            items.append(
                {
                    "metadata": {"name": group},
                    "versions": [
                        {
                            "version": v,
                            "resources": [_aggregated_resource(r) for r in members if r.version == v],
                            "freshness": "Current",
                        }
                        for v in versions
                    ],
                }
            )
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


@cache
def openapi_documents() -> dict[str, tuple[bytes, str]]:
    """OpenAPI v3 documents by group-version path (`api/v1`), each as (JSON bytes, content hash)."""
    core = [(r.kind, r.plural, r.namespaced) for r in CORE if not r.group and r.plural != "bindings"]
    body = json.dumps(schema.openapi_v3(core), separators=(",", ":")).encode()
    return {"api/v1": (body, hashlib.sha512(body).hexdigest()[:128].upper())}


def openapi_root() -> dict[str, Any]:
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
            for path, (_, digest) in openapi_documents().items()
        }
    }
