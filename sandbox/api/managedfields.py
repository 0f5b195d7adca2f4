"""Field ownership (`metadata.managedFields`) and server-side apply, as the apiserver records them.

A set of owned fields is a set of paths; a path is a tuple of fieldsV1 elements such as
`("f:spec", "f:containers", 'k:{"name":"nginx"}', "f:image")`. Sets are read from and written to the
FieldsV1 trie format (sigs.k8s.io/structured-merge-diff), where `"."` marks a node that is itself owned
and also has owned children. Which lists are associative or sets comes from `patch.LIST_SCHEMAS`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from sandbox.api.patch import KEY_DEFAULTS, ListSchema, child_path, list_schema
from sandbox.errors import ApiError, bad_request

Path = tuple[str, ...]

BEFORE_FIRST_APPLY = "before-first-apply"

# Fields no manager ever owns (apimachinery/pkg/util/managedfields/internal/stripmeta.go).
_STRIPPED: frozenset[Path] = frozenset(
    {("f:apiVersion",), ("f:kind",), ("f:metadata",)}
    | {
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    }
)

# Kinds whose status belongs to the status subresource: writes to the main resource never own status,
# and writes to status never own spec (the strategies' GetResetFields).
_STATUS_SUBRESOURCE = frozenset({"Pod", "Service", "Node", "Namespace", "PersistentVolumeClaim"})

# Structs and maps owned as a whole (+structType=atomic, +mapType=atomic), by path pattern.
_CONTAINER_ATOMIC = (
    "[].env[].valueFrom.fieldRef",
    "[].env[].valueFrom.resourceFieldRef",
    "[].env[].valueFrom.configMapKeyRef",
    "[].env[].valueFrom.secretKeyRef",
)
_ATOMIC_MAPS: dict[str, frozenset[str]] = {
    kind: frozenset({"metadata.ownerReferences[]", *paths})
    for kind, paths in {
        "Pod": {
            "spec.nodeSelector",
            "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution",
            "spec.topologySpreadConstraints[].labelSelector",
            *(
                f"spec.{c}{p}"
                for c in ("containers", "initContainers", "ephemeralContainers")
                for p in _CONTAINER_ATOMIC
            ),
        },
        "Service": {"spec.selector"},
        "ServiceAccount": {"secrets[]"},
        "PersistentVolumeClaim": {"spec.selector", "spec.dataSource"},
        "Event": {"involvedObject", "related"},
        "": set(),  # any other kind still has ObjectMeta
    }.items()
}

# What an empty object of each kind looks like to the fieldmanager on create: fields the Go structs
# always serialize already exist, so a creator does not own them as a whole (no "." on f:containers).
_EMPTY_OBJECTS: dict[str, dict[str, Any]] = {
    "Pod": {"metadata": {}, "spec": {"containers": []}, "status": {}},
    "Service": {"metadata": {}, "spec": {}, "status": {"loadBalancer": {}}},
    "Node": {
        "metadata": {},
        "spec": {},
        "status": {"daemonEndpoints": {"kubeletEndpoint": {}}, "nodeInfo": {}},
    },
    "Namespace": {"metadata": {}, "spec": {}, "status": {}},
    "PersistentVolumeClaim": {"metadata": {}, "spec": {"resources": {}}, "status": {}},
    "Event": {"metadata": {}, "involvedObject": {}, "source": {}},
}


# -- the field tree -----------------------------------------------------------------------------

_LEAF, _EMPTY, _TREE = "leaf", "empty", "tree"


@dataclass(frozen=True)
class _Node:
    """One node of an object's field tree: a leaf value, an empty map or list, or a non-empty one."""

    shape: str
    value: Any


def _atomic_map(kind: str, pattern: str) -> bool:
    return pattern in _ATOMIC_MAPS.get(kind, _ATOMIC_MAPS[""])


def _item_element(item: Any, schema: ListSchema) -> str:
    """The fieldsV1 element naming a list item: k:{keys} for list-maps, v:value for sets."""
    if schema.list_type == "map" and isinstance(item, dict):
        keys = {k: item.get(k, KEY_DEFAULTS.get(k)) for k in schema.keys if k in item or k in KEY_DEFAULTS}
        return "k:" + _compact(dict(sorted(keys.items())))
    return "v:" + _compact(item)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _tree(obj: dict[str, Any], kind: str) -> dict[Path, _Node]:
    """Every node below the root of an object, by path."""
    nodes: dict[Path, _Node] = {}
    for key, value in obj.items():
        _walk(value, kind, key, (f"f:{key}",), nodes)
    return nodes


def _walk(value: Any, kind: str, pattern: str, path: Path, nodes: dict[Path, _Node]) -> None:
    schema = list_schema(kind, pattern) if isinstance(value, list) else None
    if isinstance(value, dict) and not _atomic_map(kind, pattern):
        nodes[path] = _Node(_TREE if value else _EMPTY, value)
        for key, child in value.items():
            _walk(child, kind, child_path(pattern, key), (*path, f"f:{key}"), nodes)
    elif schema is not None and schema.list_type != "atomic":
        nodes[path] = _Node(_TREE if value else _EMPTY, value)
        for item in value:
            element = (*path, _item_element(item, schema))
            if schema.list_type == "set" or not isinstance(item, dict):
                nodes[element] = _Node(_LEAF, item)
            else:
                _walk(item, kind, pattern + "[]", element, nodes)
    else:
        nodes[path] = _Node(_LEAF, value)


def _owned_tree(obj: dict[str, Any], kind: str, subresource: str) -> dict[Path, _Node]:
    """The nodes a manager can own: stripped metadata and the other subresource's half left out."""
    reset = _reset_prefix(kind, subresource)
    return {
        path: node
        for path, node in _tree(obj, kind).items()
        if path not in _STRIPPED and (reset is None or path[: len(reset)] != reset)
    }


def _reset_prefix(kind: str, subresource: str) -> Path | None:
    if subresource == "status":
        return ("f:spec",)
    if kind in _STATUS_SUBRESOURCE:
        return ("f:status",)
    return None


def _applied_set(nodes: dict[Path, _Node]) -> set[Path]:
    """What an applier owns: leaves, empty maps and lists, and every list item it names."""
    return {p for p, n in nodes.items() if n.shape != _TREE or p[-1].startswith(("k:", "v:"))}


# Top-level structs every typed object has, so no write ever adds them.
_ALWAYS_PRESENT: frozenset[Path] = frozenset({("f:metadata",), ("f:spec",), ("f:status",)})


def _compare(old: dict[Path, _Node], new: dict[Path, _Node]) -> tuple[set[Path], set[Path]]:
    """Paths added or modified, and paths removed, going from `old` to `new`."""
    changed = {
        path
        for path, node in new.items()
        if (path not in old or _differs(old[path], node)) and not (path in _ALWAYS_PRESENT and node.shape != _LEAF)
    }
    return changed, set(old) - set(new)


def _differs(old: _Node, new: _Node) -> bool:
    if old.shape == _LEAF and new.shape == _LEAF:
        return not _same(old.value, new.value)
    if _LEAF in (old.shape, new.shape):
        return True
    # An empty map that gains members is the same map; only a map turning into a list differs.
    return type(old.value) is not type(new.value)


def _same(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


# -- fieldsV1 -----------------------------------------------------------------------------------


def _encode(paths: set[Path]) -> dict[str, Any]:
    trie: dict[str, Any] = {}
    for path in paths:
        node = trie
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = trie
        for element in path:
            node = node[element]
        if node:
            node["."] = {}
    return _ordered(trie)


def _element_order(element: str) -> tuple[int, str]:
    # Path elements sort by kind first (field names, then keys, values, indexes), then by text.
    return ("f:k:v:i:".find(element[:2]) // 2, element)


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    children = sorted((e for e in node if e != "."), key=_element_order)
    return {**({".": {}} if "." in node else {}), **{e: _ordered(node[e]) for e in children}}


def _decode(fields: Any, prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not isinstance(fields, dict):
        return paths
    for element, child in fields.items():
        if element == ".":
            continue
        path = (*prefix, element)
        if not child or (isinstance(child, dict) and "." in child):
            paths.add(path)
        paths |= _decode(child, path)
    return paths


def _path_string(path: Path) -> str:
    """A path as conflict messages print it: .spec.containers[name="nginx"].image"""
    parts = []
    for element in path:
        kind, text = element[:2], element[2:]
        if kind == "f:":
            parts.append("." + text)
        elif kind == "k:":
            keys = json.loads(text)
            parts.append("[" + ",".join(f"{k}={_value_string(v)}" for k, v in keys.items()) + "]")
        else:
            parts.append("[=" + _value_string(json.loads(text)) + "]")
    return "".join(parts)


def _value_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) or value is None or isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _message_order(path: Path) -> tuple[Any, ...]:
    # A set iterates the members of a node before descending into its children.
    last = len(path) - 1
    return tuple((0 if n == last else 1, *_element_order(e)) for n, e in enumerate(path))


# -- managedFields entries ----------------------------------------------------------------------


@dataclass
class _Entry:
    """One managedFields entry, with its field set decoded."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""
    time: str | None = None
    fields: set[Path] = field(default_factory=set)

    @property
    def identity(self) -> str:
        """The fieldmanager's key for a manager, which leaves the version out for appliers."""
        key: dict[str, str] = {"manager": self.manager, "operation": self.operation}
        if self.operation != "Apply" and self.api_version:
            key["apiVersion"] = self.api_version
        if self.subresource:
            key["subresource"] = self.subresource
        return json.dumps(key, separators=(",", ":"))

    @property
    def label(self) -> str:
        """How conflict messages name this manager."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def encode(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"manager": self.manager, "operation": self.operation}
        entry["apiVersion"] = self.api_version
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = _encode(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def _decode_entries(managed: Any) -> list[_Entry] | None:
    """The entries of a managedFields list, or None if it is not one."""
    if not isinstance(managed, list) or not all(isinstance(e, dict) for e in managed):
        return None
    entries: dict[str, _Entry] = {}
    for raw in managed:
        entry = _Entry(
            manager=str(raw.get("manager", "")),
            operation=str(raw.get("operation", "")),
            api_version=str(raw.get("apiVersion", "")),
            subresource=str(raw.get("subresource", "")),
            time=raw.get("time"),
            fields=_decode(raw.get("fieldsV1", {})),
        )
        if entry.identity in entries:
            entries[entry.identity].fields |= entry.fields
        else:
            entries[entry.identity] = entry
    return list(entries.values())


def _encode_entries(entries: list[_Entry]) -> list[dict[str, Any]]:
    kept = [e for e in entries if e.fields]
    kept.sort(key=lambda e: (e.operation, e.time or "", e.manager, e.api_version, e.subresource))
    return [e.encode() for e in kept]


def _managed_of(obj: dict[str, Any] | None) -> Any:
    return (obj or {}).get("metadata", {}).get("managedFields")


def _prior_entries(old: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> list[_Entry]:
    """The entries an update starts from: the writer's own managedFields when it sent some, else live's."""
    sent = _managed_of(new)
    if not subresource and isinstance(sent, list) and sent:
        if sent == [{}]:  # the documented way to clear managedFields
            return []
        entries = _decode_entries(sent)
        if entries is not None:
            return entries
    return _decode_entries(_managed_of(old)) or []


def _api_version(*objects: dict[str, Any] | None) -> str:
    return next((o["apiVersion"] for o in objects if o and o.get("apiVersion")), "v1")


# -- public API ---------------------------------------------------------------------------------


def fields_of(obj: dict[str, Any], kind: str, *, subresource: str = "") -> dict[str, Any]:
    """The fieldsV1 set an applier of `obj` owns: every leaf and list item, server-owned metadata left out."""
    return _encode(_applied_set(_owned_tree(obj, kind, subresource)))


def record_update(
    old: dict[str, Any] | None, new: dict[str, Any], manager: str, kind: str, now: str, subresource: str = ""
) -> list[Any]:
    """The managedFields after a create, update or non-apply patch of `old` into `new` by `manager`."""
    entries = _prior_entries(old, new, subresource)
    before = _owned_tree(old if old is not None else _EMPTY_OBJECTS.get(kind, {"metadata": {}}), kind, subresource)
    changed, removed = _compare(before, _owned_tree(new, kind, subresource))
    for entry in entries:
        entry.fields -= changed | removed
    if changed:
        mine = _Entry(manager, "Update", _api_version(new, old), subresource)
        existing = next((e for e in entries if e.identity == mine.identity), None)
        if existing is None:
            entries.append(mine)
        else:
            mine = existing
        mine.fields |= changed
        mine.time = now
    return _encode_entries(entries)


def apply(
    live: dict[str, Any] | None,
    intent: dict[str, Any],
    manager: str,
    kind: str,
    now: str,
    force: bool,
    subresource: str = "",
) -> dict[str, Any]:
    """Server-side apply `intent` onto `live` (None creates) as `manager`; returns the new object."""
    if _managed_of(intent) is not None:
        raise bad_request("metadata.managedFields must be nil")
    base = copy.deepcopy(live) if live is not None else {}
    entries = _decode_entries(base.get("metadata", {}).pop("managedFields", None)) or []
    if live is not None and not entries:
        # An object nobody manages yet is owned by a stand-in, so the first apply can conflict with it.
        entries = _decode_entries(record_update(None, base, BEFORE_FIRST_APPLY, kind, now)) or []
    config = _applicable(intent, kind, subresource)
    mine = _Entry(manager, "Apply", _api_version(intent, live), subresource)
    previous = next((e for e in entries if e.identity == mine.identity), None)
    others = [e for e in entries if e is not previous]
    applied = _applied_set(_owned_tree(config, kind, subresource))

    merged: dict[str, Any] = _merge(base, config, kind, "")
    owned_elsewhere = applied.union(*(e.fields for e in others))
    if previous is not None:
        merged = _prune(merged, previous.fields - owned_elsewhere, kind)

    changed, removed = _compare(_owned_tree(base, kind, subresource), _owned_tree(merged, kind, subresource))
    conflicts = [(e, p) for e in others for p in e.fields & changed]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry in others:
        entry.fields -= changed | removed

    mine.fields = applied
    # The time moves only when the object changes; a no-op apply by a new manager leaves it unset.
    mine.time = now if not _same(base, merged) else previous.time if previous else None
    merged.setdefault("metadata", {})["managedFields"] = _encode_entries([*others, mine])
    return merged


# -- apply helpers ------------------------------------------------------------------------------


def _applicable(intent: dict[str, Any], kind: str, subresource: str) -> dict[str, Any]:
    """The part of an apply body the endpoint honours: status only through status, spec only elsewhere."""
    reset = _reset_prefix(kind, subresource)
    dropped = reset[0][2:] if reset else None
    return {k: copy.deepcopy(v) for k, v in intent.items() if k != dropped}


def _merge(live: Any, intent: Any, kind: str, pattern: str) -> Any:
    """Merge an applied configuration into the live object: maps merge, list-maps merge by key,
    sets union, everything else (atomic lists and maps, scalars) is replaced."""
    if isinstance(intent, dict) and not _atomic_map(kind, pattern):
        merged = dict(live) if isinstance(live, dict) else {}
        for key, value in intent.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = _merge(merged.get(key), value, kind, child_path(pattern, key))
        return merged
    schema = list_schema(kind, pattern) if isinstance(intent, list) else None
    if schema is not None and schema.list_type == "set":
        base = live if isinstance(live, list) else []
        return [*base, *(v for n, v in enumerate(intent) if v not in base and v not in intent[:n])]
    if schema is not None and schema.list_type == "map":
        return _merge_items(live if isinstance(live, list) else [], intent, schema, kind, pattern + "[]")
    return copy.deepcopy(intent)


def _merge_items(live: list[Any], intent: list[Any], schema: ListSchema, kind: str, pattern: str) -> list[Any]:
    wanted = {_item_element(item, schema): item for item in intent}
    merged, seen = [], set()
    for item in live:
        element = _item_element(item, schema)
        if element not in seen:
            seen.add(element)
            merged.append(_merge(item, wanted[element], kind, pattern) if element in wanted else item)
    for item in intent:
        element = _item_element(item, schema)
        if element not in seen:
            seen.add(element)
            merged.append(_merge(None, item, kind, pattern))
    return merged


_GONE = object()
_TOP_LEVEL_STRUCTS = frozenset({"metadata", "spec", "status"})


def _prune(obj: dict[str, Any], paths: set[Path], kind: str) -> dict[str, Any]:
    """Remove the given fields and list items; maps and lists they leave empty go too."""
    if not paths:
        return obj
    pruned = {}
    for key, value in obj.items():
        kept = _without(value, paths, kind, key, (f"f:{key}",))
        if kept is not _GONE:
            pruned[key] = kept
        elif key in _TOP_LEVEL_STRUCTS and isinstance(value, dict):
            pruned[key] = {}
    return pruned


def _without(value: Any, paths: set[Path], kind: str, pattern: str, path: Path) -> Any:
    if path in paths:
        return _GONE
    if not any(p[: len(path)] == path for p in paths):
        return value
    if isinstance(value, dict):
        kept = {}
        for key, child in value.items():
            child_value = _without(child, paths, kind, child_path(pattern, key), (*path, f"f:{key}"))
            if child_value is not _GONE:
                kept[key] = child_value
        return kept if kept or not value else _GONE
    schema = list_schema(kind, pattern)
    if isinstance(value, list) and schema is not None:
        items = [
            i
            for i in (
                _without(item, paths, kind, pattern + "[]", (*path, _item_element(item, schema))) for item in value
            )
            if i is not _GONE
        ]
        return items if items or not value else _GONE
    return value


def _conflict_error(conflicts: list[tuple[_Entry, Path]]) -> ApiError:
    """409 Conflict worded as the apiserver's internal.NewConflictError."""
    conflicts = sorted(conflicts, key=lambda c: (c[0].identity, _message_order(c[1])))
    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {e.label}", "field": _path_string(p)}
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {entry.label}: {_path_string(path)}"
    else:
        lines: list[str] = []
        for identity in dict.fromkeys(e.identity for e, _ in conflicts):
            group = [(e, p) for e, p in conflicts if e.identity == identity]
            lines.append(f"conflicts with {group[0][0].label}:")
            lines.extend(f"- {_path_string(p)}" for _, p in group)
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})
