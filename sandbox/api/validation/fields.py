"""Reading fields out of decoded objects, and the small checks every kind's validation shares.

Validation runs on objects that decoding has already typed, yet it must not trip over a field that is
absent or null: these readers turn anything unexpected into the empty value of the expected type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kubetext.formats import IP_ADDRESS_MSG, is_ip, is_port_name, is_port_num
from sandbox.errors import FieldError, invalid_value, not_supported, required

Errors = list[FieldError]
Object = dict[str, Any]

# supportedPortProtocols: what a container port's and a Service port's protocol may be.
PORT_PROTOCOLS = ["SCTP", "TCP", "UDP"]


def text(obj: Object, key: str) -> str:
    """A string field, or "" when it is absent or not a string."""
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def mapping(obj: Any, key: str) -> Object:
    """An object field, or {} when it is absent or not an object."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def objects(obj: Any, key: str) -> list[Object]:
    """A list of objects, with {} standing in for any entry that is not an object."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def strings(obj: Any, key: str) -> list[str]:
    """The strings of a list field, skipping anything else."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def keyed(path: str, key: str) -> str:
    """The path of a map entry, as field.Path.Key prints it."""
    return f"{path}[{key}]"


def go_string_slice(values: Iterable[str]) -> str:
    """A []string as Go's %#v prints it."""
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


def nonnegative(value: int, path: str) -> Errors:
    return [invalid_value(path, value, "must be greater than or equal to 0")] if value < 0 else []


def immutable(new: Any, old: Any, path: str) -> Errors:
    return [] if new == old else [invalid_value(path, new, "field is immutable")]


def required_choice(obj: Object, name: str, supported: list[str], path: str) -> Errors:
    """A string field that must be set, to one of `supported` (restartPolicy, imagePullPolicy and the like)."""
    value = text(obj, name)
    if not value:
        return [required(f"{path}.{name}")]
    return [] if value in supported else [not_supported(f"{path}.{name}", value, supported)]


def valid_ip(path: str, value: str) -> Errors:
    return [] if is_ip(value) else [invalid_value(path, value, IP_ADDRESS_MSG)]


def int_or_string_port(port: Any, path: str) -> Errors:
    """A port given by number or by name (probes, lifecycle handlers, Service target ports)."""
    if isinstance(port, str):
        return [invalid_value(path, port, m) for m in is_port_name(port)]
    if isinstance(port, int):
        return [invalid_value(path, port, m) for m in is_port_num(port)]
    return [invalid_value(path, 0, m) for m in is_port_num(0)]


def spec_diff(old: Object, new: Object, go_type: str) -> str:
    """A short rendering of how two specs differ, shaped like the go-cmp diff the server appends."""
    lines = [f"  {go_type}{{"]
    same = 0
    for key in sorted(set(old) | set(new), key=lambda k: (k not in old, k)):
        if old.get(key) == new.get(key):
            same += 1
            continue
        if same:
            lines.append(f"  \t... // {same} identical fields")
            same = 0
        name = key[:1].upper() + key[1:]
        if key in old:
            lines.append(f"- \t{name}: {json.dumps(old[key], sort_keys=True)},")
        if key in new:
            lines.append(f"+ \t{name}: {json.dumps(new[key], sort_keys=True)},")
    if same:
        lines.append(f"  \t... // {same} identical fields")
    return "\n".join([*lines, "  }", ""])
