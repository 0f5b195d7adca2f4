"""The three PATCH bodies the apiserver applies to a live object: JSON patch, merge patch, strategic merge.

JSON patch follows gopkg.in/evanphx/json-patch.v4 and merge patch RFC 7386, as
apiserver/pkg/endpoints/handlers/patch.go uses them. Strategic merge patch follows
apimachinery/pkg/util/strategicpatch, steered by the patchStrategy/patchMergeKey tags of core/v1 types.go,
which live in `LIST_SCHEMAS` together with the +listType markers server-side apply reads.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from sandbox.errors import ApiError, bad_request, go_value, json_kind

# -- list schemas -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSchema:
    """How one list field merges: its SMP patch strategy and merge key, and its SSA list type and keys."""

    merge_key: str = ""  # patchMergeKey; empty for a list of scalars
    strategic: bool = True  # patchStrategy=merge; a strategic merge patch replaces the list otherwise
    list_type: str = "map"  # +listType: map, set or atomic
    map_keys: tuple[str, ...] = ()  # +listMapKey, in declaration order

    @property
    def keys(self) -> tuple[str, ...]:
        return self.map_keys or ((self.merge_key,) if self.merge_key else ())


def _keyed(merge_key: str, *more_keys: str, list_type: str = "map") -> ListSchema:
    return ListSchema(merge_key, True, list_type, (merge_key, *more_keys))


_SET = ListSchema("", True, "set")


def _containers(path: str) -> dict[str, ListSchema]:
    lists = {
        "": _keyed("name"),
        "[].ports": _keyed("containerPort", "protocol"),
        "[].env": _keyed("name"),
        "[].volumeMounts": _keyed("mountPath"),
        "[].volumeDevices": _keyed("devicePath"),
        # +listType=map without a patch strategy: SSA merges it, a strategic merge patch replaces it.
        "[].resources.claims": ListSchema("", False, "map", ("name",)),
    }
    return {path + suffix: schema for suffix, schema in lists.items()}


_OBJECT_META = {"metadata.finalizers": _SET, "metadata.ownerReferences": _keyed("uid")}
_CONDITIONS = {"status.conditions": _keyed("type")}

# Every list of the served kinds that is not atomic, by path pattern ("[]" stands for any list item).
# Lists missing here (tolerations, command, resizePolicy, containerStatuses, ...) are atomic: replaced whole.
LIST_SCHEMAS: dict[str, dict[str, ListSchema]] = {
    kind: {**_OBJECT_META, **lists}
    for kind, lists in {
        "Pod": {
            "spec.volumes": _keyed("name"),
            **_containers("spec.containers"),
            **_containers("spec.initContainers"),
            **_containers("spec.ephemeralContainers"),
            "spec.imagePullSecrets": _keyed("name"),
            "spec.hostAliases": _keyed("ip"),
            "spec.topologySpreadConstraints": _keyed("topologyKey", "whenUnsatisfiable"),
            "spec.schedulingGates": _keyed("name"),
            "spec.resourceClaims": _keyed("name"),
            **_CONDITIONS,
            "status.podIPs": _keyed("ip"),
            # Merged by ip for strategic merge patch, but +listType=atomic for server-side apply.
            "status.hostIPs": _keyed("ip", list_type="atomic"),
            "status.resourceClaimStatuses": _keyed("name"),
        },
        "Service": {"spec.ports": _keyed("port", "protocol"), **_CONDITIONS},
        "ServiceAccount": {"secrets": _keyed("name")},
        "Node": {"spec.podCIDRs": _SET, **_CONDITIONS, "status.addresses": _keyed("type")},
        "Namespace": _CONDITIONS,
        "PersistentVolumeClaim": _CONDITIONS,
        "ConfigMap": {},
        "Secret": {},
        "Event": {},
    }.items()
}

# List-map key fields with a schema default: a port without a protocol is keyed as TCP.
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}


def list_schema(kind: str, path: str) -> ListSchema | None:
    """The schema of the list at a path pattern such as `spec.containers[].env`, or None if it is atomic."""
    return LIST_SCHEMAS.get(kind, _OBJECT_META).get(path)


def child_path(path: str, key: str) -> str:
    """The path pattern of a map member."""
    return f"{path}.{key}" if path else key


# -- errors -------------------------------------------------------------------------------------

_REJECTED = "the server rejected our request due to an error in our request"


def _unprocessable() -> ApiError:
    # NewGenericServerResponse(422, ...) keeps the library's own message out of the Status.
    return ApiError(422, "Invalid", _REJECTED, {})


def _unwrapped(message: str) -> ApiError:
    # Errors the patch libraries return as plain Go errors reach the client as a reasonless 500.
    return ApiError(500, "", message)


# -- JSON patch (RFC 6902) ----------------------------------------------------------------------

_MAX_OPERATIONS = 10000
_INDEX = re.compile(r"[+-]?\d+")
_MISSING = object()


class _OperationFailed(Exception):
    """One JSON patch operation could not be applied."""


def json_patch(doc: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    """Apply an RFC 6902 patch the way the apiserver's json-patch library does."""
    if ops is None:
        return copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise bad_request(f"json: cannot unmarshal {json_kind(ops)} into Go value of type jsonpatch.Patch")
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise bad_request(f"json: cannot unmarshal {json_kind(op)} into Go value of type jsonpatch.Operation")
    if len(ops) > _MAX_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"Request entity too large: The allowed maximum operations in a JSON patch is {_MAX_OPERATIONS}, "
            f"got {len(ops)}",
        )
    result = copy.deepcopy(doc)
    for op in ops:
        try:
            _apply_operation(result, op or {})
        except _OperationFailed:
            raise _unprocessable() from None
    return result


def _apply_operation(doc: dict[str, Any], op: dict[str, Any]) -> None:
    kind = op.get("op")
    if kind == "add":
        _add(doc, _pointer(op, "path"), copy.deepcopy(op.get("value")))
    elif kind == "remove":
        _remove(doc, _pointer(op, "path"))
    elif kind == "replace":
        container, key = _parent(doc, _pointer(op, "path"))
        _get(container, key)
        _set(container, key, copy.deepcopy(op.get("value")))
    elif kind == "move":
        source = _pointer(op, "from")
        value = _get(*_parent(doc, source))
        _remove(doc, source)
        _add(doc, _pointer(op, "path"), value)
    elif kind == "copy":
        value = _get(*_parent(doc, _pointer(op, "from")))
        _add(doc, _pointer(op, "path"), copy.deepcopy(value))
    elif kind == "test":
        _test(doc, op)
    else:
        raise _OperationFailed(f"Unexpected kind: {kind}")


def _pointer(op: dict[str, Any], field: str) -> list[str]:
    pointer = op.get(field)
    # The library cannot address the document root: "" and relative paths never resolve.
    if not isinstance(pointer, str) or not pointer.startswith("/"):
        raise _OperationFailed(f"bad {field}: {pointer!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in pointer[1:].split("/")]


def _parent(doc: dict[str, Any], tokens: list[str]) -> tuple[Any, str]:
    node: Any = doc
    for token in tokens[:-1]:
        node = _get(node, token)
        if not isinstance(node, dict | list):
            raise _OperationFailed(f"not a container at {token!r}")
    return node, tokens[-1]


def _index(container: list[Any], token: str, *, extra: int = 0) -> int:
    """A list index; negative indexes count from the end, as the library allows for add and remove."""
    if not _INDEX.fullmatch(token):
        raise _OperationFailed(f"bad index {token!r}")
    index, size = int(token), len(container) + extra
    if index >= size or index < -size:
        raise _OperationFailed(f"index {index} out of range")
    return index + size if index < 0 else index


def _get(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        if key not in container:
            raise _OperationFailed(f"missing key {key!r}")
        return container[key]
    if isinstance(container, list) and _INDEX.fullmatch(key) and 0 <= int(key) < len(container):
        return container[int(key)]
    raise _OperationFailed(f"missing element {key!r}")


def _set(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    else:
        container[int(key)] = value


def _add(doc: dict[str, Any], tokens: list[str], value: Any) -> None:
    container, key = _parent(doc, tokens)
    if isinstance(container, dict):
        container[key] = value
    elif key == "-":
        container.append(value)
    else:
        container.insert(_index(container, key, extra=1), value)


def _remove(doc: dict[str, Any], tokens: list[str]) -> None:
    container, key = _parent(doc, tokens)
    if isinstance(container, dict):
        if key not in container:
            raise _OperationFailed(f"missing key {key!r}")
        del container[key]
    else:
        del container[_index(container, key)]


def _test(doc: dict[str, Any], op: dict[str, Any]) -> None:
    container, key = _parent(doc, _pointer(op, "path"))
    # The library reads a missing member as null, so testing it against null passes.
    actual = container.get(key) if isinstance(container, dict) else _get(container, key)
    expected = op.get("value")
    if actual is None and expected is None:
        return
    if actual is None or "value" not in op or not _json_equal(actual, expected):
        raise _OperationFailed(f"testing value {key} failed")


def _json_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    # Scalars compare as their JSON text does, so 1 and 1.0 differ.
    return type(left) is type(right) and left == right


# -- JSON merge patch (RFC 7386) ----------------------------------------------------------------


def merge_patch(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply an RFC 7386 merge patch: null deletes, objects merge recursively, anything else replaces."""
    if not isinstance(patch, dict):
        raise bad_request("Invalid JSON Patch")
    return _merge_object(doc, patch)


def _merge_object(target: Any, patch: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = _merge_object(result.get(key), value)
        else:
            result[key] = copy.deepcopy(value)
    return result


# -- strategic merge patch ----------------------------------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_SET_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


def strategic_merge_patch(doc: dict[str, Any], patch: dict[str, Any], kind: str) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to an object of a core/v1 kind."""
    if not isinstance(patch, dict):
        raise bad_request(f"json: cannot unmarshal {json_kind(patch)} into Go value of type map[string]interface {{}}")
    return _StrategicMerge(kind).merge_map(copy.deepcopy(doc), copy.deepcopy(patch), "")


class _StrategicMerge:
    """strategicpatch.mergeMap and friends; mutates its (copied) arguments."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def merge_map(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
        if _DIRECTIVE in patch:
            directive = patch.pop(_DIRECTIVE)
            if directive == "replace":
                return self.merge_map({}, patch, path)
            if directive == "delete":
                return {}
            if directive != "merge":
                raise _unwrapped(
                    f"unknown patch type: {directive} in map: {go_value({**patch, _DIRECTIVE: directive})}"
                )
        self.retain_keys(original, patch)
        self.set_element_orders(original, patch, path)
        self.delete_from_primitive_lists(original, patch)
        for key, value in patch.items():
            if value is None:
                original.pop(key, None)
            else:
                original[key] = self.merge_value(original.get(key), value, child_path(path, key))
        return original

    def merge_value(self, current: Any, value: Any, path: str) -> Any:
        # A value of another type than the live one replaces it; merging into an empty value of the
        # patch's own type still strips the directives and nulls inside it.
        if isinstance(value, dict):
            return self.merge_map(current if isinstance(current, dict) else {}, value, path)
        if isinstance(value, list):
            return self.merge_list(current if isinstance(current, list) else [], value, path)
        return value

    def merge_list(self, original: list[Any], patch: list[Any], path: str) -> list[Any]:
        schema = list_schema(self.kind, path)
        if schema is None or not schema.strategic:
            return [self.merge_value(None, item, path + "[]") for item in patch]
        if not original and not patch:
            return original
        items = original + patch
        if any(isinstance(item, list) for item in items):
            raise _unprocessable()  # mergepatch.ErrNoListOfLists
        if not any(isinstance(item, dict) for item in items):
            return _normalize_order(_deduplicate(items), patch, original, "")
        if not all(isinstance(item, dict) for item in items):
            raise _unwrapped("expected map[string]interface {}, but got a scalar list element")
        if not schema.merge_key:
            raise _unwrapped("cannot merge lists without merge key for type map")
        original, patch = self.list_directives(original, patch, schema.merge_key, path)
        merged = self.merge_items(original, patch, schema.merge_key, path)
        return _normalize_order(merged, patch, original, schema.merge_key)

    def list_directives(
        self, original: list[Any], patch: list[Any], key: str, path: str
    ) -> tuple[list[Any], list[Any]]:
        """Handle `$patch` list elements: delete drops matching items, replace makes the rest the list."""
        rest, replace = [], False
        for item in patch:
            if _DIRECTIVE not in item:
                rest.append(item)
                continue
            directive = item[_DIRECTIVE]
            if directive == "delete":
                value = _merge_key_value(item, key)
                original = [o for o in original if key not in o or o[key] != value]
            elif directive == "replace":
                replace = True
            elif directive == "merge":
                rest.append({k: v for k, v in item.items() if k != _DIRECTIVE})
            else:
                raise _unwrapped(f"unknown patch type: {directive} in map: {go_value(item)}")
        if replace:
            return [self.merge_map({}, item, path + "[]") for item in rest], []
        return original, rest

    def merge_items(self, original: list[Any], patch: list[Any], key: str, path: str) -> list[Any]:
        merged = list(original)
        for item in patch:
            value = _merge_key_value(item, key)
            at = next((n for n, o in enumerate(merged) if key in o and o[key] == value), None)
            if at is None:
                merged.append(self.merge_map({}, item, path + "[]"))
            else:
                merged[at] = self.merge_map(merged[at], item, path + "[]")
        return merged

    def retain_keys(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        """`$retainKeys`: clear the live keys it does not list (and reject a patch that sets others)."""
        if _RETAIN_KEYS not in patch:
            return
        keep = patch.pop(_RETAIN_KEYS)
        if not isinstance(keep, list):
            raise bad_request("invalid patch format of retainKeys")
        for key, value in patch.items():
            if value is not None and not key.startswith((_SET_ORDER, _DELETE_FROM)) and key not in keep:
                raise bad_request("invalid patch format of retainKeys")
        for key in [k for k in original if k not in keep]:
            del original[key]

    def set_element_orders(self, original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
        """`$setElementOrder/<list>`: merge that list now and order it as listed, live-only items kept."""
        for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
            order = patch.pop(directive)
            field = directive[len(_SET_ORDER) :]
            if not isinstance(order, list):
                raise bad_request("invalid patch format of setElementOrder list")
            sub = child_path(path, field)
            schema = list_schema(self.kind, sub)
            key = schema.merge_key if schema and schema.strategic else ""
            current = original.get(field)
            current = current if isinstance(current, list) else None
            changes = patch.pop(field, _MISSING)
            if changes is None:
                original.pop(field, None)
                continue
            if changes is _MISSING:
                if current is None:
                    continue
                merged = current
            elif isinstance(changes, list):
                _check_order(changes, order, key)
                merged = self.merge_list(current or [], changes, sub)
            else:
                raise _unwrapped(f"expected []interface {{}}, but got {json_kind(changes)}")
            original[field] = _normalize_order(merged, order, current or [], key) if schema else merged

    def delete_from_primitive_lists(self, original: dict[str, Any], patch: dict[str, Any]) -> None:
        """`$deleteFromPrimitiveList/<list>`: drop those values from a list of scalars."""
        for directive in [k for k in patch if k.startswith(_DELETE_FROM)]:
            values = patch.pop(directive)
            if not isinstance(values, list):
                raise bad_request("invalid patch format of primitive list")
            field = directive[len(_DELETE_FROM) :]
            if isinstance(original.get(field), list):
                original[field] = [v for v in original[field] if v not in values]


def _merge_key_value(item: dict[str, Any], key: str) -> Any:
    if key not in item:
        raise _unwrapped(f"map: {go_value(item)} does not contain declared merge key: {key}")
    return item[key]


def _deduplicate(items: list[Any]) -> list[Any]:
    unique: list[Any] = []
    for item in items:
        if item not in unique:
            unique.append(item)
    return unique


def _position(items: list[Any], item: Any, key: str) -> int:
    """Where an item (matched by merge key, or by value for scalars) sits in a list; -1 if absent."""
    wanted = item.get(key) if key else item
    for n, candidate in enumerate(items):
        if (candidate.get(key) if key and isinstance(candidate, dict) else candidate) == wanted:
            return n
    return -1


def _normalize_order(merged: list[Any], order: list[Any], live: list[Any], key: str) -> list[Any]:
    """Order a merged list as strategicpatch does: items named in `order` follow it, the others keep
    their live order, and the two runs are interleaved by live position. New items therefore land in
    front of the live-only items that follow them, which is why a patched-in container comes first."""
    if key:
        for item in merged:
            _merge_key_value(item, key)
    named = sorted((i for i in merged if _position(order, i, key) >= 0), key=lambda i: _position(order, i, key))
    others = sorted((i for i in merged if _position(order, i, key) < 0), key=lambda i: _position(live, i, key))
    result, left, right = [], 0, 0
    while left < len(others) or right < len(named):
        if right >= len(named):
            result.append(others[left])
            left += 1
        elif left >= len(others):
            result.append(named[right])
            right += 1
        else:
            at_left, at_right = _position(live, others[left], key), _position(live, named[right], key)
            if at_left >= 0 and at_right >= 0 and at_left < at_right:
                result.append(others[left])
                left += 1
            else:
                result.append(named[right])
                right += 1
    return result


def _check_order(changes: list[Any], order: list[Any], key: str) -> None:
    """The patched items must appear in `$setElementOrder` and in the same relative order."""
    items = [i for i in changes if not (isinstance(i, dict) and _DIRECTIVE in i)]
    at = 0
    for entry in order:
        if at >= len(items):
            break
        same = (
            _merge_key_value(items[at], key) == _merge_key_value(entry, key)
            if key and isinstance(entry, dict)
            else items[at] == entry
        )
        if same:
            at += 1
    if at < len(items):
        raise _unwrapped(
            f"The order in patch list:\n{go_value(changes)}\n doesn't match $setElementOrder list:\n{go_value(order)}\n"
        )
