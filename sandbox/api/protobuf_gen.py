"""Build protobuf_types.json, the field table `sandbox.api.protobuf` decodes Kubernetes protobuf bodies with.

Usage:
    python -m sandbox.api.protobuf_gen [--deepcopy PKG=zz_generated.deepcopy.go ...] [--out FILE] FILE.proto ...

Inputs are the go-to-protobuf `generated.proto` files of the API packages (field numbers, wire types, the
`+optional` marker and the `+protobuf.nullable` list wrappers) and, per package, deepcopy-gen's
`zz_generated.deepcopy.go` (its `**out = **in` copies name the pointer-to-value Go fields, whose zero values
travel and must survive into JSON). The `kubernetes` client's models, generated from the same OpenAPI the
server publishes, supply what the .proto cannot: JSON names where they differ from proto names (`uID`), which
message fields Go embeds inline (`LocalObjectReference`, `ProbeHandler`), and which fields are required,
i.e. have neither `+optional` nor `omitempty`.

The checked-in table was built from kubernetes/kubernetes at 0032f46b5dcb893b0684679408a2da9bd26a0859
(a v1.36 development tree): staging/src/k8s.io/api/core/v1/generated.proto and zz_generated.deepcopy.go;
from a v1.33+ vendored k8s.io/apimachinery: pkg/apis/meta/v1/generated.proto, pkg/runtime/generated.proto,
pkg/util/intstr/generated.proto, pkg/api/resource/generated.proto; and from a v1.33+ vendored k8s.io/api:
authentication/v1 and authorization/v1 generated.proto; with the `kubernetes` client 37 models:

    python -m sandbox.api.protobuf_gen \\
        --deepcopy core.v1=core/v1/zz_generated.deepcopy.go \\
        --deepcopy meta.v1=meta/v1/zz_generated.deepcopy.go \\
        --deepcopy authentication.v1=authentication/v1/zz_generated.deepcopy.go \\
        core/v1/generated.proto meta/v1/generated.proto runtime/generated.proto intstr/generated.proto \\
        resource/generated.proto authentication/v1/generated.proto authorization/v1/generated.proto
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCALARS = {
    "double",
    "float",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
    "bool",
    "string",
    "bytes",
}

# Package prefixes shortened in table keys: `k8s.io.api.core.v1.Pod` -> `core.v1.Pod`.
_PREFIXES = (
    "k8s.io.api.",
    "k8s.io.apimachinery.pkg.apis.",
    "k8s.io.apimachinery.pkg.api.",
    "k8s.io.apimachinery.pkg.util.",
    "k8s.io.apimachinery.pkg.",
)

# The kinds a request body may carry: what kubectl and client-go send to the resources the sandbox serves.
DEFAULT_ROOTS = (
    "core.v1.Binding",
    "core.v1.ConfigMap",
    "core.v1.Event",
    "core.v1.Namespace",
    "core.v1.Node",
    "core.v1.PersistentVolumeClaim",
    "core.v1.Pod",
    "core.v1.ResourceQuota",
    "core.v1.Secret",
    "core.v1.Service",
    "core.v1.ServiceAccount",
    "meta.v1.CreateOptions",
    "meta.v1.DeleteOptions",
    "meta.v1.PatchOptions",
    "meta.v1.Status",
    "meta.v1.UpdateOptions",
    "meta.v1.WatchEvent",
    "authentication.v1.SelfSubjectReview",
    "authentication.v1.TokenRequest",
    "authentication.v1.TokenReview",
    "authorization.v1.LocalSubjectAccessReview",
    "authorization.v1.SelfSubjectAccessReview",
    "authorization.v1.SelfSubjectRulesReview",
    "authorization.v1.SubjectAccessReview",
    "runtime.Unknown",
)

# Go fields marked +optional whose JSON tag nevertheless lacks omitempty, so their zero values are sent.
NOT_OMITEMPTY = {
    ("core.v1.Event", "reportingComponent"),
    ("core.v1.Event", "reportingInstance"),
}
# Struct fields tagged `omitzero` (Go 1.24+), left out of JSON at their zero value: all other structs
# always appear, even empty (`"spec": {}`, `"lastProbeTime": null`).
OMITZERO = {
    ("meta.v1.ObjectMeta", "creationTimestamp"),
}


@dataclass
class Field:
    name: str
    number: int
    type: str
    repeated: bool = False
    map_key: str | None = None
    optional_marker: bool = False


@dataclass
class Message:
    key: str
    fields: list[Field] = field(default_factory=list)
    nullable_list: bool = False


def short_name(full: str) -> str:
    """`k8s.io.api.core.v1.Pod` -> `core.v1.Pod`."""
    full = full.lstrip(".")
    for prefix in _PREFIXES:
        if full.startswith(prefix):
            return full[len(prefix) :]
    return full


_MESSAGE = re.compile(r"^message\s+(\w+)\s*\{")
_MAP = re.compile(r"^\s*map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)\s*;")
_FIELD = re.compile(r"^\s*(optional|repeated|required)?\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(\[.*\])?\s*;")


def parse_proto(text: str) -> dict[str, Message]:
    """The top-level messages of one generated.proto, keyed by short name, fields in declaration order."""
    package = ""
    messages: dict[str, Message] = {}
    current: Message | None = None
    comments: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("package "):
            package = line[len("package ") :].rstrip(";").strip()
            continue
        if line.startswith("//"):
            comments.append(line[2:].strip())
            continue
        if not line:
            # A blank line ends a field's comment block but not a message's leading comment.
            if current is not None:
                comments = []
            continue
        if current is None:
            match = _MESSAGE.match(line)
            if match:
                current = Message(short_name(f"{package}.{match.group(1)}"))
                current.nullable_list = "+protobuf.nullable=true" in comments
                messages[current.key] = current
            comments = []
            continue
        if line.startswith("}"):
            current = None
            comments = []
            continue
        optional = "+optional" in comments
        comments = []
        match = _MAP.match(line)
        if match:
            key_type, value_type, name, number = match.groups()
            current.fields.append(
                Field(name, int(number), _resolve(value_type, package), map_key=key_type, optional_marker=optional)
            )
            continue
        match = _FIELD.match(line)
        if match:
            label, type_name, name, number, _ = match.groups()
            current.fields.append(
                Field(name, int(number), _resolve(type_name, package), label == "repeated", optional_marker=optional)
            )
    return messages


def _resolve(type_name: str, package: str) -> str:
    if type_name in SCALARS:
        return type_name
    if type_name.startswith(".") or type_name.startswith("k8s.io."):
        return short_name(type_name)
    return short_name(f"{package}.{type_name}")


_DC_FUNC = re.compile(r"^func \(in \*(\w+)\) DeepCopyInto\(")
_DC_FIELD = re.compile(r"in, out := &in\.(\w+), &out\.\w+")


def parse_deepcopy(text: str) -> dict[str, set[str]]:
    """Go type -> its fields that are pointers to values (deepcopy copies them with `**out = **in`)."""
    pointers: dict[str, set[str]] = {}
    current = ""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        match = _DC_FUNC.match(line)
        if match:
            current, pending = match.group(1), ""
            continue
        match = _DC_FIELD.match(line)
        if match:
            pending = match.group(1)
            continue
        if line == "**out = **in" and current and pending:
            pointers.setdefault(current, set()).add(pending)
            pending = ""
    return pointers


def _model_for(key: str) -> Any:
    try:
        from kubernetes.client import models
    except ImportError:
        return None
    package, name = key.rsplit(".", 1)
    parts = package.split(".")
    if len(parts) != 2:
        return None
    group, version = parts
    version = version[:1].upper() + version[1:]
    prefix = "" if group == "meta" else group[:1].upper() + group[1:]
    for candidate in (f"{prefix}{version}{name}", f"{version}{name}"):
        model = getattr(models, candidate, None) if candidate else None
        if model is not None and hasattr(model, "model_fields"):
            return model
    return None


def _model_props(model: Any) -> dict[str, bool]:
    """JSON name -> required, in the model's field order."""
    return {(info.serialization_alias or name): info.is_required() for name, info in model.model_fields.items()}


def _reachable(messages: dict[str, Message], roots: list[str], warnings: list[str]) -> list[str]:
    """Every message the roots lead to, breadth first."""
    reachable: list[str] = []
    pending = list(roots)
    while pending:
        key = pending.pop(0)
        if key in reachable:
            continue
        if key not in messages:
            warnings.append(f"{key}: referenced but not defined in the inputs")
            continue
        reachable.append(key)
        pending.extend(f.type for f in messages[key].fields if f.type not in SCALARS)
    return reachable


def _is_struct(messages: dict[str, Message], f: Field) -> bool:
    """Whether a field holds one message (not a list, a map or a scalar): the only kind Go can embed."""
    return f.type in messages and not f.repeated and f.map_key is None


def _properties(messages: dict[str, Message], reachable: list[str]) -> dict[str, dict[str, bool]]:
    """For each message, the client model's JSON names -> required; empty where no model describes it."""
    props_of: dict[str, dict[str, bool]] = {}
    for key in reachable:
        model = _model_for(key)
        props = _model_props(model) if model is not None else {}
        known = {p.lower() for p in props}
        # A same-named model of another API group describes a different type.
        matching = sum(f.name.lower() in known for f in messages[key].fields)
        props_of[key] = props if matching * 2 >= len(messages[key].fields) else {}
    # An embedded struct has no schema of its own: its fields are described by the type that inlines it.
    for key in reachable:
        props = props_of[key]
        known = {p.lower() for p in props}
        for f in messages[key].fields:
            inlined = _is_struct(messages, f) and not props_of.get(f.type)
            described = inlined and all(g.name.lower() in known for g in messages[f.type].fields)
            if props and described and f.name.lower() not in known:
                props_of[f.type] = props
    return props_of


class _Tabler:
    """Turns each message's proto fields into the table's entries, with what the client's models say of them."""

    def __init__(
        self,
        messages: dict[str, Message],
        props_of: dict[str, dict[str, bool]],
        pointers: dict[str, dict[str, set[str]]],
    ) -> None:
        self.messages, self.props_of, self.pointers = messages, props_of, pointers
        self.warnings: list[str] = []

    def json_names(self, key: str) -> set[str]:
        names: set[str] = set()
        props = self.props_of.get(key, {})
        for f in self.messages[key].fields:
            match = next((p for p in props if p.lower() == f.name.lower()), None)
            if match is None and _is_struct(self.messages, f) and props:
                names |= self.json_names(f.type)
            else:
                names.add(match or f.name)
        return names

    def entry(self, key: str) -> dict[str, Any]:
        package, go_type = key.rsplit(".", 1)
        pointer_fields = {name.lower() for name in self.pointers.get(package, {}).get(go_type, set())}
        entry: dict[str, Any] = {}
        for f in self.messages[key].fields:
            is_pointer = f.name.lower() in pointer_fields
            pointer_fields.discard(f.name.lower())
            entry[str(f.number)] = self._field(key, f, is_pointer)
        for leftover in sorted(pointer_fields):
            self.warnings.append(f"{key}: pointer field {leftover} matches no proto field")
        return entry

    def _field(self, key: str, f: Field, is_pointer: bool) -> list[Any]:
        props = self.props_of[key]
        match = next((p for p in props if p.lower() == f.name.lower()), None)
        inline = False
        if props and match is None:
            if _is_struct(self.messages, f) and self.json_names(f.type) <= set(props):
                inline = True
            else:
                self.warnings.append(f"{key}.{f.name}: not in the client's model")
        name = match or f.name
        omitempty = (not props[match]) if match is not None else f.optional_marker
        if (key, name) in NOT_OMITEMPTY:
            omitempty = False
        if f.map_key is not None:
            return [name, "map", False, [f.map_key, f.type], None, omitempty, is_pointer, inline]
        if f.type in SCALARS:
            return [name, f.type, f.repeated, None, None, omitempty, is_pointer, inline]
        if f.repeated:
            return [name, "message", True, None, f.type, omitempty, is_pointer, inline]
        # For a struct, "omitempty" records omitzero: encoding/json ignores omitempty on structs.
        return [name, "message", False, None, f.type, (key, name) in OMITZERO, is_pointer, inline]


def build(
    messages: dict[str, Message], pointers: dict[str, dict[str, set[str]]], roots: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """The table for every message reachable from the roots, and warnings about fields left to guesses."""
    warnings: list[str] = []
    reachable = _reachable(messages, roots, warnings)
    tabler = _Tabler(messages, _properties(messages, reachable), pointers)
    table = {key: tabler.entry(key) for key in sorted(reachable)}
    warnings += tabler.warnings
    lists = sorted(k for k in reachable if messages[k].nullable_list)
    return {"roots": [r for r in roots if r in messages], "lists": lists, "messages": table}, warnings


def dump(table: dict[str, Any]) -> str:
    """One message per line: small, diffable and still plain JSON."""
    lines = ["{"]
    lines.append(f'"roots": {json.dumps(table["roots"])},')
    lines.append(f'"lists": {json.dumps(table["lists"])},')
    lines.append('"messages": {')
    items = list(table["messages"].items())
    for i, (key, fields) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        lines.append(f"{json.dumps(key)}: {json.dumps(fields, separators=(',', ':'))}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Parse the inputs and write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("protos", nargs="+", type=Path, help="go-to-protobuf generated.proto files")
    parser.add_argument(
        "--deepcopy", action="append", default=[], metavar="PKG=FILE", help="zz_generated.deepcopy.go of a package"
    )
    parser.add_argument("--root", action="append", default=None, help="a message to start from (repeatable)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("protobuf_types.json"))
    args = parser.parse_args(argv)

    messages: dict[str, Message] = {}
    for path in args.protos:
        messages.update(parse_proto(path.read_text()))
    pointers: dict[str, dict[str, set[str]]] = {}
    for item in args.deepcopy:
        package, _, path = item.partition("=")
        pointers[package] = parse_deepcopy(Path(path).read_text())
    table, warnings = build(messages, pointers, list(args.root or DEFAULT_ROOTS))
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    args.out.write_text(dump(table))
    print(f"{args.out}: {len(table['messages'])} messages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
