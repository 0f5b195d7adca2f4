"""Manifests people paste or upload: parse them, find the pod each one describes, and show objects as YAML."""

from __future__ import annotations

import json
from typing import Any

import yaml

from dashboard.diagram import layout

MAX_BYTES = 1024 * 1024
# kind -> the API groups it is served from; a CRD may reuse a built-in kind name in its own group.
TEMPLATE_KINDS = {
    "Deployment": {"apps", "extensions"},
    "ReplicaSet": {"apps", "extensions"},
    "StatefulSet": {"apps"},
    "DaemonSet": {"apps", "extensions"},
    "Job": {"batch"},
    "ReplicationController": {""},
}


class ManifestError(ValueError):
    """A manifest that cannot be used, with a message for a person (e.g. `document 2: line 7: ...`)."""


class _Loader(yaml.SafeLoader):
    """The safe loader, except that unquoted timestamps stay strings.

    Kubernetes objects travel as JSON, where a date is a string; a datetime would not survive the trip.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_error(exc: yaml.YAMLError, number: int) -> ManifestError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return ManifestError(f"document {number}: {where}{problem}")


def _documents(text: str) -> list[tuple[int, Any]]:
    """(document number, content) for every document, numbered as they appear, empty ones included."""
    if text.lstrip().startswith(("{", "[")):
        # JSON is YAML, but PyYAML stumbles on JSON's tab indentation; json reads it as written.
        try:
            return [(1, json.loads(text))]
        except ValueError:
            pass
    found: list[tuple[int, Any]] = []
    try:
        for content in yaml.load_all(text, Loader=_Loader):
            found.append((len(found) + 1, content))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, len(found) + 1) from exc
    return found


def _check(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        got = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true or false"}
        raise ManifestError(
            f"{where}: expected a Kubernetes object (apiVersion, kind, metadata), got {got.get(type(doc), 'a value')}"
        )
    for field in ("apiVersion", "kind"):
        if not isinstance(doc.get(field), str) or not doc[field]:
            raise ManifestError(f"{where}: {field} is missing")
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        raise ManifestError(f"{where}: metadata is missing")
    if not meta.get("name") and not meta.get("generateName"):
        raise ManifestError(f"{where}: metadata.name is missing")
    return doc


def _is_list(doc: Any) -> bool:
    # `kubectl get -o yaml` of several objects gives `kind: List`; the API's own lists are PodList and the like.
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        return False
    return doc["kind"] == "List" or (doc["kind"].endswith("List") and isinstance(doc.get("items"), list))


def parse(text: str) -> list[dict[str, Any]]:
    """The objects of a YAML or JSON manifest (several documents, or a List), skipping empty documents."""
    size = len(text.encode())
    if size > MAX_BYTES:
        raise ManifestError(f"the manifest is {size / MAX_BYTES:.1f} MiB; the limit is 1 MiB")
    objects = []
    for number, doc in _documents(text):
        if doc is None:
            continue
        where = f"document {number}"
        if _is_list(doc):
            items = doc.get("items")
            if not isinstance(items, list):
                raise ManifestError(f"{where}: a List needs a list of items")
            objects += [_check(item, f"{where}, item {i}") for i, item in enumerate(items, start=1)]
        else:
            objects.append(_check(doc, where))
    return objects


def _group(api_version: Any) -> str:
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else ""


def pod_of(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The pod a document describes, as a camelCase pod dict (a Pod itself, or a workload's pod template)."""
    kind, group = doc.get("kind"), _group(doc.get("apiVersion"))
    if kind == "Pod" and group == "":
        return doc
    spec = doc.get("spec") or {}
    if kind == "CronJob" and group == "batch":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template")
    elif kind in TEMPLATE_KINDS and group in TEMPLATE_KINDS[kind]:
        template = spec.get("template")
    else:
        return None
    if not isinstance(template, dict):
        return None
    owner = doc.get("metadata") or {}
    # A template has no name of its own; the workload's name is what a person recognises.
    meta = {**(template.get("metadata") or {}), "name": owner.get("name") or owner.get("generateName") or ""}
    if owner.get("namespace"):
        meta["namespace"] = owner["namespace"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}


class _Dumper(yaml.SafeDumper):
    """Block style throughout, with multi-line strings as literal blocks, as kubectl prints them."""

    def ignore_aliases(self, data: Any) -> bool:
        # A dict reached twice would otherwise print as &id001 / *id001, which kubectl never shows.
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(obj: dict[str, Any]) -> str:
    """YAML for display, like `kubectl get -o yaml` but without metadata.managedFields; keys keep their order."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    # No width: folding long values (annotations, commands) over several lines makes them harder to read and copy.
    return yaml.dump(
        obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=2**31 - 1
    )


def preview(text: str) -> dict[str, Any]:
    """The documents of a pasted manifest and the diagram of each pod in it, or the error that stops it."""
    result: dict[str, Any] = {"documents": [], "previews": [], "skipped": [], "error": ""}
    try:
        result["documents"] = docs = parse(text)
    except ManifestError as exc:
        result["error"] = str(exc)
        return result
    if not docs:
        result["error"] = "The manifest has no documents."
    for number, doc in enumerate(docs, start=1):
        title = f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name', '')}".strip()
        pod = pod_of(doc)
        if pod is None:
            result["skipped"].append(title)
            continue
        try:
            result["previews"].append({"title": title, "diagram": layout(pod)})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A document the API server would refuse (e.g. containers that are not a list) is still explained.
            result["error"] = f"document {number} ({title}) cannot be drawn: its spec is malformed ({exc})"
    return result
