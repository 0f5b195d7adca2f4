"""Manifests people paste or upload: parse them, find the pod each one describes, and show objects as YAML."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from dashboard.diagram import layout

MAX_BYTES = 1024 * 1024
# What Podscope agrees to read. A manifest is text from any signed-in user, and YAML can make a few hundred
# bytes stand for millions of values ("billion laughs": aliases of aliases), or nest deeper than Python recurses.
MAX_DEPTH = 100  # nested mappings and lists; a pod is about ten deep, a CRD's schema a few dozen
MAX_OBJECTS = 1000  # documents, and objects once Lists are flattened
# Aliases may make a manifest at most twice as large as it is written (or 10,000 values, for small ones);
# Go's yaml.v3 bounds aliases with a ratio like this one.
MIN_EXPANSION = 10_000
EXPANSION_RATIO = 2
MAX_DRAWN = 20  # pod diagrams in one preview; each is a few kilobytes of SVG to render and send
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


class ManifestRefused(ManifestError):
    """A manifest Podscope will not read at all: too large, too deep, too many documents, or an alias bomb."""


# libyaml's parser, composer and constructor in C; the pure-Python ones where PyYAML was built without it.
try:
    from yaml import CSafeLoader as _SafeLoader
except ImportError:
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class _Loader(_SafeLoader):
    """The safe loader, except that unquoted timestamps stay strings.

    Kubernetes objects travel as JSON, where a date is a string; a datetime would not survive the trip.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_error(exc: yaml.YAMLError, number: int, text: str) -> ManifestError:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"line {mark.line + 1}: " if mark is not None else ""
    if problem == "exceeded maximum nesting depth":  # libyaml's own limit (1,000 levels), met while reading ahead
        return ManifestRefused(f"document {number}: {where}{_too_deep_message()}")
    if problem == "found character that cannot start any token" and mark is not None:
        # libyaml leaves out which character; it is most often a tab.
        lines = re.split("\r\n|[\r\n\x85\u2028\u2029]", text, maxsplit=mark.line + 1)
        if mark.line < len(lines) and mark.column < len(lines[mark.line]):
            problem = f"found character {lines[mark.line][mark.column]!r} that cannot start any token"
    return ManifestError(f"document {number}: {where}{problem}")


class _Cost:
    """What a manifest costs once its aliases are expanded, counted from libyaml's events one at a time.

    For each anchor it keeps how many values the anchor stands for once its aliases are expanded; nothing is
    expanded to count them.
    """

    def __init__(self, length: int) -> None:
        # Values written hardly outnumber characters (`{a,b}` is five of each), so no manifest that may pass
        # expands past this; stopping here keeps the counts small however many times the aliases multiply.
        self.ceiling = max(MIN_EXPANSION, EXPANSION_RATIO * 2 * length)
        self.sizes: dict[str, int] = {}  # anchor -> values it stands for, with the aliases inside it expanded
        self.open_nodes: list[tuple[str | None, int]] = []  # mappings and lists being read: (anchor, expanded)
        self.written = self.expanded = 0  # values as written (an alias is one), and with every alias expanded
        self.ends: list[int] = []  # `expanded` at the end of each document
        self.number = 1  # the document being read

    def read(self, event: yaml.Event) -> None:
        if isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, yaml.NodeEvent):
            self._node(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, start = self.open_nodes.pop()
            if anchor is not None:
                self.sizes[anchor] = self.expanded - start
        elif isinstance(event, yaml.DocumentStartEvent) and self.number > MAX_OBJECTS:
            raise ManifestRefused(
                f"the manifest has more than {MAX_OBJECTS:,} documents; Podscope reads at most "
                f"{MAX_OBJECTS:,} at a time, so split it"
            )
        elif isinstance(event, yaml.DocumentEndEvent):
            self.ends.append(self.expanded)
            self.sizes.clear()  # an anchor names a value in its own document only
            self.number += 1

    def _is_open(self, anchor: str | None) -> bool:
        return any(name == anchor for name, _ in self.open_nodes)

    @staticmethod
    def _line(event: yaml.NodeEvent) -> int:
        assert event.start_mark is not None  # the parser marks where every event starts
        return int(event.start_mark.line) + 1

    def _alias(self, event: yaml.AliasEvent) -> None:
        line, anchor = self._line(event), event.anchor
        if anchor not in self.sizes:
            problem = "is inside the value it names" if self._is_open(anchor) else "names no anchor before it"
            raise ManifestError(f"document {self.number}: line {line}: the alias *{anchor} {problem}")
        self.written, self.expanded = self.written + 1, self.expanded + self.sizes[anchor]
        if self.expanded > self.ceiling:
            raise ManifestRefused(_expansion(self.number, line, self.ceiling))

    def _node(self, event: yaml.NodeEvent) -> None:
        line, anchor = self._line(event), event.anchor
        if anchor is not None and (anchor in self.sizes or self._is_open(anchor)):
            raise ManifestError(f"document {self.number}: line {line}: the anchor &{anchor} is defined twice")
        self.written, self.expanded = self.written + 1, self.expanded + 1
        if isinstance(event, yaml.CollectionStartEvent):
            self.open_nodes.append((anchor, self.expanded - 1))
            if len(self.open_nodes) > MAX_DEPTH:
                raise ManifestRefused(f"document {self.number}: line {line}: {_too_deep_message()}")
        elif anchor is not None:
            self.sizes[anchor] = 1

    def check_documents(self) -> None:
        """Refuse a document that expands to more than its share, measured against the whole manifest."""
        budget = max(MIN_EXPANSION, EXPANSION_RATIO * self.written)
        for number, total in enumerate(self.ends, start=1):
            if total > budget:
                raise ManifestRefused(_expansion(number, None, budget))


def _refuse_costly(text: str) -> None:
    """Refuse a manifest whose aliases, nesting or documents would cost too much, before building anything."""
    cost = _Cost(len(text))
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            cost.read(event)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, cost.number, text) from None
    cost.check_documents()


def _expansion(number: int, line: int | None, limit: int) -> str:
    where = f"line {line}: " if line is not None else ""
    return (
        f"document {number}: {where}its YAML aliases expand to more than {limit:,} values; "
        "Podscope refuses manifests whose aliases make them more than twice as large as they are written"
    )


def _too_deep_message() -> str:
    return f"nested more than {MAX_DEPTH} levels deep; Podscope reads manifests up to {MAX_DEPTH} levels"


def _too_deep(doc: Any) -> bool:
    """Whether `doc` nests more than MAX_DEPTH mappings and lists, found level by level rather than recursing."""
    level = [doc]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
    return any(isinstance(node, dict | list) for node in level)


def _documents(text: str) -> list[tuple[int, Any]]:
    """(document number, content) for every document, numbered as they appear, empty ones included."""
    deep = f"document 1: {_too_deep_message()}"
    if text.lstrip().startswith(("{", "[")):
        # JSON is YAML, but PyYAML stumbles on JSON's tab indentation; json reads it as written.
        try:
            doc = json.loads(text)
        except RecursionError:
            raise ManifestRefused(deep) from None
        except ValueError:
            pass
        else:
            if _too_deep(doc):
                raise ManifestRefused(deep)
            return [(1, doc)]
    _refuse_costly(text)
    found: list[tuple[int, Any]] = []
    try:
        for content in yaml.load_all(text, Loader=_Loader):
            found.append((len(found) + 1, content))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, len(found) + 1, text) from exc
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
    for field in ("name", "generateName", "namespace"):
        if meta.get(field) is not None and not isinstance(meta[field], str):
            raise ManifestError(f"{where}: metadata.{field} must be text")
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
        raise ManifestRefused(f"the manifest is {size / MAX_BYTES:.1f} MiB; the limit is 1 MiB")
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
        if len(objects) > MAX_OBJECTS:
            raise ManifestRefused(
                f"{where}: the manifest holds more than {MAX_OBJECTS:,} objects; Podscope reads at most "
                f"{MAX_OBJECTS:,} at a time, so split it"
            )
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


def _outcome(error: str = "", refused: bool = False) -> dict[str, Any]:
    return {"documents": [], "previews": [], "skipped": [], "undrawn": 0, "error": error, "refused": refused}


def refusal(message: str) -> dict[str, Any]:
    """What preview() gives for a manifest Podscope will not read: nothing but the reason."""
    return _outcome(message, refused=True)


def preview(text: str, keep_documents: bool = True) -> dict[str, Any]:
    """The documents of a pasted manifest and the diagrams of its first MAX_DRAWN pods, or the error that stops it.

    `refused` says the manifest was not read at all (ManifestRefused); `undrawn` counts the pods beyond MAX_DRAWN.
    Without `keep_documents` the documents are left out, for callers that only show the preview.
    """
    try:
        docs = parse(text)
    except ManifestError as exc:
        return _outcome(str(exc), refused=isinstance(exc, ManifestRefused))
    result = _outcome("" if docs else "The manifest has no documents.")
    if keep_documents:
        result["documents"] = docs
    for number, doc in enumerate(docs, start=1):
        title = f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name', '')}".strip()
        pod = pod_of(doc)
        if pod is None:
            result["skipped"].append(title)
            continue
        if len(result["previews"]) == MAX_DRAWN:
            result["undrawn"] += 1
            continue
        try:
            result["previews"].append({"title": title, "diagram": layout(pod)})
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A document the API server would refuse (e.g. containers that are not a list) is still explained.
            result["error"] = f"document {number} ({title}) cannot be drawn: its spec is malformed ({exc})"
    return result
