"""The core/v1 schema, taken from the `kubernetes` client's models, for strict decoding and OpenAPI v3.

The client's pydantic models carry every field's JSON name, type and description. Decoding walks them the
way the API server's JSON decoder (sigs.k8s.io/json) walks the Go structs, so unknown fields, wrong JSON
types, bad quantities and bad timestamps fail with the server's own messages. The same walk produces the
OpenAPI v3 document kubectl reads for `apply` (the fieldValidation probe) and `explain`.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from kubernetes.client import models
from pydantic import BaseModel

from sandbox.errors import ApiError, bad_request, invalid, invalid_value, json_kind, not_supported

VALIDATION_MODES = ("Strict", "Warn", "Ignore")

# Kinds the sandbox serves (and the few the OpenAPI operations refer to), by their Go name.
MODELS: dict[str, type[BaseModel]] = {
    "Namespace": models.V1Namespace,
    "Pod": models.V1Pod,
    "Event": models.CoreV1Event,
    "Node": models.V1Node,
    "ConfigMap": models.V1ConfigMap,
    "Secret": models.V1Secret,
    "ServiceAccount": models.V1ServiceAccount,
    "Service": models.V1Service,
    "PersistentVolumeClaim": models.V1PersistentVolumeClaim,
    "Binding": models.V1Binding,
    "NamespaceList": models.V1NamespaceList,
    "PodList": models.V1PodList,
    "EventList": models.CoreV1EventList,
    "NodeList": models.V1NodeList,
    "ConfigMapList": models.V1ConfigMapList,
    "SecretList": models.V1SecretList,
    "ServiceAccountList": models.V1ServiceAccountList,
    "ServiceList": models.V1ServiceList,
    "PersistentVolumeClaimList": models.V1PersistentVolumeClaimList,
    "Status": models.V1Status,
    "DeleteOptions": models.V1DeleteOptions,
}

# Types that live in apimachinery's meta/v1 rather than core/v1 (their definition names differ).
_META_TYPES = {
    "ObjectMeta",
    "ListMeta",
    "ManagedFieldsEntry",
    "OwnerReference",
    "LabelSelector",
    "LabelSelectorRequirement",
    "Condition",
    "Status",
    "StatusDetails",
    "StatusCause",
    "DeleteOptions",
    "Preconditions",
}
_CORE = "io.k8s.api.core.v1."
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"

# The models only say "int"; types.go says which are int64 (all the rest are int32).
_INT64_FIELDS = {
    "activeDeadlineSeconds",
    "deletionGracePeriodSeconds",
    "expirationSeconds",
    "fsGroup",
    "generation",
    "gid",
    "gracePeriodSeconds",
    "observedGeneration",
    "runAsGroup",
    "runAsUser",
    "seconds",
    "supplementalGroups",
    "terminationGracePeriodSeconds",
    "tolerationSeconds",
    "uid",
}
# resource.Quantity fields: the models type them as plain strings.
_QUANTITY_MAPS = {
    ("ResourceRequirements", "limits"),
    ("ResourceRequirements", "requests"),
    ("VolumeResourceRequirements", "limits"),
    ("VolumeResourceRequirements", "requests"),
    ("PodSpec", "overhead"),
    ("PodStatus", "allocatedResources"),
    ("ContainerStatus", "allocatedResources"),
    ("NodeStatus", "allocatable"),
    ("NodeStatus", "capacity"),
    ("PersistentVolumeClaimStatus", "allocatedResources"),
    ("PersistentVolumeClaimStatus", "capacity"),
}
_QUANTITY_SCALARS = {
    ("EmptyDirVolumeSource", "sizeLimit"),
    ("ResourceFieldSelector", "divisor"),
    ("NodeAllocatableMappedResources", "quantity"),
    ("NodeAllocatableOverheadResources", "perContainer"),
    ("NodeAllocatableOverheadResources", "perPod"),
}
_MICRO_TIMES = {("Event", "eventTime"), ("EventSeries", "lastObservedTime")}
# Named Go string types, which is what a type error names (`of type v1.Protocol`).
_GO_STRING_TYPES = {
    ("Container", "imagePullPolicy"): "v1.PullPolicy",
    ("Container", "terminationMessagePolicy"): "v1.TerminationMessagePolicy",
    ("Container", "restartPolicy"): "v1.ContainerRestartPolicy",
    ("EphemeralContainer", "imagePullPolicy"): "v1.PullPolicy",
    ("EphemeralContainer", "terminationMessagePolicy"): "v1.TerminationMessagePolicy",
    ("ContainerPort", "protocol"): "v1.Protocol",
    ("ServicePort", "protocol"): "v1.Protocol",
    ("PodSpec", "restartPolicy"): "v1.RestartPolicy",
    ("PodSpec", "dnsPolicy"): "v1.DNSPolicy",
    ("PodSpec", "preemptionPolicy"): "v1.PreemptionPolicy",
    ("PodStatus", "phase"): "v1.PodPhase",
    ("PodStatus", "qosClass"): "v1.PodQOSClass",
    ("HTTPGetAction", "scheme"): "v1.URIScheme",
    ("Toleration", "operator"): "v1.TolerationOperator",
    ("Toleration", "effect"): "v1.TaintEffect",
    ("HostPathVolumeSource", "type"): "v1.HostPathType",
    ("EmptyDirVolumeSource", "medium"): "v1.StorageMedium",
    ("VolumeMount", "mountPropagation"): "v1.MountPropagationMode",
    ("ServiceSpec", "type"): "v1.ServiceType",
    ("ServiceSpec", "sessionAffinity"): "v1.ServiceAffinity",
    ("ServiceSpec", "externalTrafficPolicy"): "v1.ServiceExternalTrafficPolicy",
    ("ServiceSpec", "internalTrafficPolicy"): "v1.ServiceInternalTrafficPolicy",
    ("ServiceSpec", "ipFamilyPolicy"): "v1.IPFamilyPolicy",
    ("ServiceSpec", "ipFamilies"): "v1.IPFamily",
    ("Secret", "type"): "v1.SecretType",
    ("PersistentVolumeClaimSpec", "accessModes"): "v1.PersistentVolumeAccessMode",
    ("PersistentVolumeClaimSpec", "volumeMode"): "v1.PersistentVolumeMode",
    ("PersistentVolumeClaimStatus", "phase"): "v1.PersistentVolumeClaimPhase",
    ("NamespaceSpec", "finalizers"): "v1.FinalizerName",
    ("NamespaceStatus", "phase"): "v1.NamespacePhase",
    ("NodeStatus", "phase"): "v1.NodePhase",
}

# Strategic-merge and list-type markers from types.go:
# field -> (patchStrategy, patchMergeKey, listType, listMapKeys).
_LIST_MARKERS: dict[tuple[str, str], tuple[str, str, str, tuple[str, ...]]] = {
    ("PodSpec", "volumes"): ("merge,retainKeys", "name", "map", ("name",)),
    ("PodSpec", "initContainers"): ("merge", "name", "map", ("name",)),
    ("PodSpec", "containers"): ("merge", "name", "map", ("name",)),
    ("PodSpec", "ephemeralContainers"): ("merge", "name", "map", ("name",)),
    ("PodSpec", "imagePullSecrets"): ("merge", "name", "map", ("name",)),
    ("PodSpec", "hostAliases"): ("merge", "ip", "map", ("ip",)),
    ("PodSpec", "tolerations"): ("", "", "atomic", ()),
    ("PodSpec", "readinessGates"): ("", "", "atomic", ()),
    ("PodSpec", "schedulingGates"): ("merge", "name", "map", ("name",)),
    ("PodSpec", "resourceClaims"): ("merge,retainKeys", "name", "map", ("name",)),
    ("PodSpec", "topologySpreadConstraints"): (
        "merge",
        "topologyKey",
        "map",
        ("topologyKey", "whenUnsatisfiable"),
    ),
    ("Container", "ports"): ("merge", "containerPort", "map", ("containerPort", "protocol")),
    ("Container", "env"): ("merge", "name", "map", ("name",)),
    ("Container", "volumeMounts"): ("merge", "mountPath", "map", ("mountPath",)),
    ("Container", "volumeDevices"): ("merge", "devicePath", "map", ("devicePath",)),
    ("Container", "command"): ("", "", "atomic", ()),
    ("Container", "args"): ("", "", "atomic", ()),
    ("Container", "envFrom"): ("", "", "atomic", ()),
    ("Container", "resizePolicy"): ("", "", "atomic", ()),
    ("EphemeralContainer", "ports"): ("merge", "containerPort", "map", ("containerPort", "protocol")),
    ("EphemeralContainer", "env"): ("merge", "name", "map", ("name",)),
    ("EphemeralContainer", "volumeMounts"): ("merge", "mountPath", "map", ("mountPath",)),
    ("EphemeralContainer", "volumeDevices"): ("merge", "devicePath", "map", ("devicePath",)),
    ("EphemeralContainer", "command"): ("", "", "atomic", ()),
    ("EphemeralContainer", "args"): ("", "", "atomic", ()),
    ("ObjectMeta", "finalizers"): ("merge", "", "set", ()),
    ("ObjectMeta", "ownerReferences"): ("merge", "uid", "map", ("uid",)),
    ("ObjectMeta", "managedFields"): ("", "", "atomic", ()),
    ("PodStatus", "conditions"): ("merge", "type", "map", ("type",)),
    ("PodStatus", "podIPs"): ("merge", "ip", "map", ("ip",)),
    ("PodStatus", "hostIPs"): ("merge", "ip", "map", ("ip",)),
    ("PodStatus", "containerStatuses"): ("", "", "atomic", ()),
    ("PodStatus", "initContainerStatuses"): ("", "", "atomic", ()),
    ("PodStatus", "ephemeralContainerStatuses"): ("", "", "atomic", ()),
    ("ServiceSpec", "ports"): ("merge", "port", "map", ("port", "protocol")),
    ("ServiceSpec", "clusterIPs"): ("", "", "atomic", ()),
    ("ServiceSpec", "externalIPs"): ("", "", "atomic", ()),
    ("ServiceSpec", "ipFamilies"): ("", "", "atomic", ()),
    ("ServiceSpec", "loadBalancerSourceRanges"): ("", "", "atomic", ()),
    ("ServiceStatus", "conditions"): ("merge", "type", "map", ("type",)),
    ("ServiceAccount", "secrets"): ("merge", "name", "map", ("name",)),
    ("ServiceAccount", "imagePullSecrets"): ("", "", "atomic", ()),
    ("NodeSpec", "podCIDRs"): ("merge", "", "set", ()),
    ("NodeSpec", "taints"): ("", "", "atomic", ()),
    ("NodeStatus", "conditions"): ("merge", "type", "map", ("type",)),
    ("NodeStatus", "addresses"): ("merge", "type", "map", ("type",)),
    ("NodeStatus", "images"): ("", "", "atomic", ()),
    ("NodeStatus", "volumesInUse"): ("", "", "atomic", ()),
    ("NodeStatus", "volumesAttached"): ("", "", "atomic", ()),
    ("NamespaceSpec", "finalizers"): ("", "", "atomic", ()),
    ("NamespaceStatus", "conditions"): ("merge", "type", "map", ("type",)),
    ("PersistentVolumeClaimSpec", "accessModes"): ("", "", "atomic", ()),
    ("PersistentVolumeClaimStatus", "accessModes"): ("", "", "atomic", ()),
    ("PersistentVolumeClaimStatus", "conditions"): ("merge", "type", "map", ("type",)),
    ("PodSecurityContext", "supplementalGroups"): ("", "", "atomic", ()),
    ("PodSecurityContext", "sysctls"): ("", "", "atomic", ()),
    ("Capabilities", "add"): ("", "", "atomic", ()),
    ("Capabilities", "drop"): ("", "", "atomic", ()),
    ("ProjectedVolumeSource", "sources"): ("", "", "atomic", ()),
    ("ConfigMapVolumeSource", "items"): ("", "", "atomic", ()),
    ("SecretVolumeSource", "items"): ("", "", "atomic", ()),
    ("LabelSelector", "matchExpressions"): ("", "", "atomic", ()),
}


# --- the type tree ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Struct:
    model: type[BaseModel]


@dataclass(frozen=True)
class Array:
    item: Node


@dataclass(frozen=True)
class Map:
    value: Node
    go: str


@dataclass(frozen=True)
class Scalar:
    """A leaf: kind is string, int32, int64, bool, bytes, quantity, intorstring, time, microtime or raw."""

    kind: str
    go: str


Node = Struct | Array | Map | Scalar


@dataclass(frozen=True)
class Field:
    json: str
    node: Node
    required: bool
    description: str


def go_name(model: type[BaseModel]) -> str:
    """`V1PodSpec` -> `PodSpec`, `CoreV1Event` -> `Event`: the Go struct the model was generated from."""
    return re.sub(r"^(?:CoreV1|EventsV1|V1)", "", model.__name__)


def definition_name(model: type[BaseModel]) -> str:
    """The OpenAPI definition name, such as io.k8s.api.core.v1.Pod."""
    name = go_name(model)
    return (_META if name in _META_TYPES else _CORE) + name


def _model_description(model: type[BaseModel]) -> str:
    doc = (model.__doc__ or "").split("Attributes:")[0]
    return " ".join(line.strip() for line in doc.strip().splitlines())


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip Optional and Annotated; return the bare type and the non-None Union members."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            return annotation, [_unwrap(m)[0] for m in members]
        return annotation, []


def _node(annotation: Any, owner: str, name: str) -> Node:
    bare, members = _unwrap(annotation)
    if members:
        if set(members) == {int, str}:
            return Scalar("intorstring", "intstr.IntOrString")
        if set(members) == {bytes, str}:
            return Scalar("bytes", "[]uint8")
        raise TypeError(f"unsupported union in {owner}.{name}: {annotation}")
    origin = typing.get_origin(bare)
    if origin is list:
        return Array(_node(typing.get_args(bare)[0], owner, name))
    if origin is dict:
        value = _node(typing.get_args(bare)[1], owner, name)
        if (owner, name) in _QUANTITY_MAPS:
            return Map(Scalar("quantity", "resource.Quantity"), "v1.ResourceList")
        return Map(value, "map[string]" + _go_type(value))
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return Struct(bare)
    if bare is bool:
        return Scalar("bool", "bool")
    if bare is int:
        kind = "int64" if name in _INT64_FIELDS else "int32"
        return Scalar(kind, kind)
    if bare is str:
        if (owner, name) in _QUANTITY_SCALARS:
            return Scalar("quantity", "resource.Quantity")
        return Scalar("string", _GO_STRING_TYPES.get((owner, name), "string"))
    if bare is dt.datetime:
        if (owner, name) in _MICRO_TIMES:
            return Scalar("microtime", "v1.MicroTime")
        return Scalar("time", "v1.Time")
    if bare is Any:
        return Scalar("raw", "v1.FieldsV1")
    raise TypeError(f"unsupported type in {owner}.{name}: {annotation}")


def _go_type(node: Node) -> str:
    if isinstance(node, Struct):
        return "v1." + go_name(node.model)
    if isinstance(node, Array):
        return "[]" + _go_type(node.item)
    return node.go


@functools.cache
def fields(model: type[BaseModel]) -> dict[str, Field]:
    """The model's fields by JSON name."""
    owner = go_name(model)
    out: dict[str, Field] = {}
    for attr, info in model.model_fields.items():
        name = info.serialization_alias or attr
        out[name] = Field(name, _node(info.annotation, owner, name), info.is_required(), info.description or "")
    return out


# --- decoding ---------------------------------------------------------------------------------------------


class _Fatal(Exception):
    """An error the Go decoder returns at once (from an UnmarshalJSON method) instead of saving."""


@dataclass
class _Decoding:
    strict: list[str]
    saved: str | None = None
    drop_unknown: bool = False

    def save(self, message: str) -> None:
        if self.saved is None:
            self.saved = message

    def unknown(self, path: str) -> None:
        # sigs.k8s.io/json dedupes strict errors and keeps at most 100.
        message = f'unknown field "{path}"'
        if message not in self.strict and len(self.strict) < 100:
            self.strict.append(message)


def _number_literal(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return f"{value:.1f}"
    return repr(value)


def _type_error(value: str, struct: str, stack: list[str], go: str) -> str:
    if struct or stack:
        return f"json: cannot unmarshal {value} into Go struct field {struct}.{'.'.join(stack)} of type {go}"
    return f"json: cannot unmarshal {value} into Go value of type {go}"


_ZERO = {"string": "", "int32": 0, "int64": 0, "bool": False}


def _zero(node: Node) -> Any:
    """What a JSON null inside a list or map becomes once decoded into Go and encoded again."""
    if isinstance(node, Struct):
        return {}
    if isinstance(node, Scalar):
        return _ZERO.get(node.kind, "0" if node.kind == "quantity" else None)
    return None


def _walk(value: Any, node: Node, d: _Decoding, path: str, struct: str, stack: list[str]) -> Any:
    """Check one JSON value against its node; return the value as the Go round trip would leave it."""
    if isinstance(node, Struct):
        if not isinstance(value, dict):
            d.save(_type_error(json_kind(value), struct, stack, _go_type(node)))
            return value
        known = fields(node.model)
        owner = go_name(node.model)
        for key in list(value):
            child = value[key]
            spec = known.get(key)
            sub_path = f"{path}.{key}" if path else key
            if spec is None:
                d.unknown(sub_path)
                if d.drop_unknown:
                    del value[key]
                continue
            if child is None:
                # Go leaves the field unset; encoding it again omits it.
                del value[key]
                continue
            value[key] = _walk(child, spec.node, d, sub_path, owner, [*stack, key])
        return value
    if isinstance(node, Array):
        if not isinstance(value, list):
            d.save(_type_error(json_kind(value), struct, stack, _go_type(node)))
            return value
        for i, item in enumerate(value):
            if item is None:
                value[i] = _zero(node.item)
            else:
                value[i] = _walk(item, node.item, d, f"{path}[{i}]", struct, stack)
        return value
    if isinstance(node, Map):
        if not isinstance(value, dict):
            d.save(_type_error(json_kind(value), struct, stack, node.go))
            return value
        for key, item in value.items():
            if item is None:
                value[key] = _zero(node.value)
            else:
                value[key] = _walk(item, node.value, d, f"{path}.{key}", struct, stack)
        return value
    return _scalar(value, node, d, struct, stack)


def _scalar(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    return _SCALARS.get(node.kind, _read_string)(value, node, d, struct, stack)


def _read_raw(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    return value


def _read_quantity(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    raw = value if isinstance(value, str) else _raw_json(value)
    try:
        return canonical_quantity(raw.strip())
    except ValueError as err:
        raise _Fatal(str(err)) from None


def _read_int_or_string(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31:
        return value
    shown = "number " + _number_literal(value) if json_kind(value) == "number" else json_kind(value)
    raise _Fatal(_type_error(shown, "", [], "int32"))


def _read_time(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if not isinstance(value, str):
        raise _Fatal(_type_error(json_kind(value), "", [], "string"))
    micro = node.kind == "microtime"
    try:
        return format_time(parse_time(value, micro=micro), micro=micro)
    except ValueError as err:
        raise _Fatal(str(err)) from None


def _read_bytes(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return base64.b64encode(bytes(value)).decode()
    if not isinstance(value, str):
        d.save(_type_error(json_kind(value), struct, stack, node.go))
        return value
    problem = base64_error(value)
    if problem:
        d.save(problem)
    return value


def _read_bool(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if not isinstance(value, bool):
        d.save(_type_error(json_kind(value), struct, stack, node.go))
    return value


def _read_integer(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        d.save(_type_error(json_kind(value), struct, stack, node.go))
        return value
    bits = 32 if node.kind == "int32" else 64
    if isinstance(value, float) or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        d.save(_type_error("number " + _number_literal(value), struct, stack, node.go))
    return value


def _read_string(value: Any, node: Scalar, d: _Decoding, struct: str, stack: list[str]) -> Any:
    if not isinstance(value, str):
        d.save(_type_error(json_kind(value), struct, stack, node.go))
    return value


# How each kind of scalar is read; any other kind is a string.
_SCALARS: dict[str, Callable[[Any, Scalar, _Decoding, str, list[str]], Any]] = {
    "raw": _read_raw,
    "quantity": _read_quantity,
    "intorstring": _read_int_or_string,
    "time": _read_time,
    "microtime": _read_time,
    "bytes": _read_bytes,
    "bool": _read_bool,
    "int32": _read_integer,
    "int64": _read_integer,
}


def _raw_json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_literal(value)
    return "{}" if isinstance(value, dict) else "[]"


def _check_type_meta(obj: Any) -> str | None:
    """The server reads apiVersion and kind first, into an anonymous struct."""
    anonymous = (
        'struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }'
    )
    if not isinstance(obj, dict):
        return f"json: cannot unmarshal {json_kind(obj)} into Go value of type {anonymous}"
    for key in ("apiVersion", "kind"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], str):
            return _type_error(json_kind(obj[key]), "", [key], "string")
    return None


def decode(
    kind: str, obj: Any, validation: str = "Strict", *, verb: str = "create", patch: str | None = None
) -> list[str]:
    """Check a request body against the kind's schema as the API server's decoder does; return warnings.

    `validation` is the fieldValidation query value ("" when absent). `obj` is normalised in place to
    what the server would store: unknown fields are dropped (Warn, Ignore), nulls are removed,
    quantities and timestamps take their canonical form. Wrong JSON types always fail with 400;
    unknown fields fail only in Strict. With verb="patch" (`obj` being the patched object) failures
    are the 422 Invalid on field `patch` instead, showing `patch`: `go_value(body)` for a strategic
    merge patch, the patched object's JSON (the default) for JSON and merge patches.
    """
    if verb == "patch" and patch is None:
        patch = json.dumps(obj, separators=(",", ":"))
    # An absent fieldValidation means Warn since 1.23.
    validation = validation or "Warn"
    if validation not in VALIDATION_MODES:
        options = {"patch": "PatchOptions", "update": "UpdateOptions"}.get(verb, "CreateOptions")
        supported = ["", "Ignore", "Strict", "Warn"]
        raise invalid(options, "", [not_supported("fieldValidation", validation, supported)], group="meta.k8s.io")
    model = MODELS[kind]
    problem = _check_type_meta(obj)
    if problem:
        message = f"couldn't get version/kind; json parse error: {problem}"
        raise _decode_failure(kind, obj, message, patch, typed=False)
    state = _Decoding(strict=[], drop_unknown=validation != "Strict")
    try:
        _walk(obj, Struct(model), state, "", "", [])
    except _Fatal as err:
        raise _decode_failure(kind, obj, str(err), patch) from None
    if state.saved:
        raise _decode_failure(kind, obj, state.saved, patch)
    if state.strict and validation == "Strict":
        raise _decode_failure(kind, obj, "strict decoding error: " + ", ".join(state.strict), patch)
    return state.strict if validation == "Warn" else []


def _decode_failure(kind: str, obj: Any, message: str, patch: str | None, typed: bool = True) -> ApiError:
    if patch is not None:
        return invalid("", "", [invalid_value("patch", patch, message)])
    if not typed:
        # The server appends the start of the body it could not read.
        body = json.dumps(obj, separators=(",", ":"))
        summary = body if len(body) <= 30 else body[:30] + " ..."
        if not body.startswith("{"):
            summary = body.encode()[:30].hex() + (" ..." if len(body) > 30 else "")
        return bad_request(f"the object provided is unrecognized (must be of type {kind}): {message} ({summary})")
    version = obj.get("apiVersion") or "v1"
    version = version.rsplit("/", 1)[-1]
    return bad_request(f'{obj.get("kind") or kind} in version "{version}" cannot be handled as a {kind}: {message}')


# --- resource.Quantity ------------------------------------------------------------------------------------

_QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
_QUANTITY_SUFFIX = "unable to parse quantity's suffix"
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v // 10: k for k, v in _BINARY.items()}
_QUANTITY_RE = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?([eEinumkKMGTP]*[-+]?\d*)")


def parse_quantity(text: str) -> tuple[Fraction, str]:
    """Parse like resource.ParseQuantity: the exact value (rounded up to 1n) and its format."""
    if not text:
        raise ValueError(_QUANTITY_FORMAT)
    match = _QUANTITY_RE.fullmatch(text)
    if not match:
        raise ValueError(_QUANTITY_FORMAT)
    sign, whole, frac, suffix = match.groups()
    if suffix in _BINARY:
        scale, fmt = Fraction(2) ** _BINARY[suffix], "BinarySI"
    elif suffix in _DECIMAL:
        scale, fmt = Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    elif len(suffix) > 1 and suffix[0] in "eE" and re.fullmatch(r"[-+]?\d+", suffix[1:]):
        scale, fmt = Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    elif re.fullmatch(r"[eEinumkKMGTP]*[-+]?\d*", suffix):
        raise ValueError(_QUANTITY_SUFFIX)
    else:
        raise ValueError(_QUANTITY_FORMAT)
    number = Fraction(int(whole or "0")) + (Fraction(int(frac), 10 ** len(frac)) if frac else 0)
    value = number * scale
    nanos = value * 10**9
    # The server rounds away from zero to nano precision.
    rounded = Fraction(math.ceil(nanos) if nanos >= 0 else math.floor(nanos), 10**9)
    return (-rounded if sign == "-" else rounded), fmt


def canonical_quantity(text: str) -> str:
    """The form the server writes a quantity back in (`0.5` -> `500m`, `1024Mi` -> `1Gi`)."""
    if text == "0":
        return "0"
    return format_quantity(*parse_quantity(text))


def format_quantity(value: Fraction, fmt: str) -> str:
    """Quantity.String(): the canonical text of an exact value in a format (BinarySI, DecimalSI...)."""
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (abs(value) < 1024 or value.denominator != 1):
        fmt = "DecimalSI"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if fmt == "BinarySI":
        mantissa, power = int(value), 0
        while mantissa % 1024 == 0 and power < 6:
            mantissa //= 1024
            power += 1
        return f"{sign}{mantissa}{_BINARY_SUFFIX.get(power, '')}"
    mantissa, exponent = int(value * 10**9), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX.get(exponent, f'e{exponent}')}"


def quantity_value(text: str) -> Fraction:
    """The exact value of a quantity string, for comparisons such as requests <= limits."""
    return parse_quantity(text)[0]


# --- metav1.Time ------------------------------------------------------------------------------------------

_RFC3339 = "2006-01-02T15:04:05Z07:00"
_RFC3339_MICRO = "2006-01-02T15:04:05.000000Z07:00"
# Layout elements as Go's time.Parse walks them: (layout text, value pattern, range name, low, high).
_LAYOUT = [
    ("2006", r"\d{4}", "", 0, 9999),
    ("-", "-", "", 0, 0),
    ("01", r"\d{2}", "month", 1, 12),
    ("-", "-", "", 0, 0),
    ("02", r"\d{2}", "day", 1, 31),
    ("T", "T", "", 0, 0),
    ("15", r"\d{1,2}", "hour", 0, 23),
    (":", ":", "", 0, 0),
    ("04", r"\d{2}", "minute", 0, 59),
    (":", ":", "", 0, 0),
    ("05", r"\d{2}", "second", 0, 59),
]


def parse_time(text: str, micro: bool = False) -> dt.datetime:
    """Parse as metav1.Time (RFC 3339) or MicroTime does, with Go's time.Parse error text."""
    layout = _RFC3339_MICRO if micro else _RFC3339
    rest = text

    def cannot(elem: str) -> ValueError:
        return ValueError(f'parsing time "{text}" as "{layout}": cannot parse "{rest}" as "{elem}"')

    for elem, pattern, unit, low, high in _LAYOUT:
        match = re.match(pattern, rest)
        if not match:
            raise cannot(elem)
        if unit and not low <= int(match.group()) <= high:
            raise ValueError(f'parsing time "{text}": {unit} out of range')
        rest = rest[match.end() :]
    # Go accepts a fraction the RFC 3339 layout does not name; the MicroTime layout wants exactly six digits.
    fraction = re.match(r"[.,]\d{6}" if micro else r"[.,]\d+", rest)
    if micro and not fraction:
        raise cannot(".000000")
    if fraction:
        rest = rest[fraction.end() :]
    zone = re.match(r"Z|[+-]\d{2}:\d{2}", rest)
    if not zone:
        raise cannot("Z07:00")
    if zone.end() < len(rest):
        raise ValueError(f'parsing time "{text}": extra text: "{rest[zone.end() :]}"')
    stamp = text[: len(text) - len(rest)].replace(",", ".")
    try:
        parsed = dt.datetime.fromisoformat(stamp[:26] if fraction else stamp)
    except ValueError:
        raise ValueError(f'parsing time "{text}": day out of range') from None
    offset = dt.timedelta(0) if rest == "Z" else dt.timedelta(hours=int(rest[1:3]), minutes=int(rest[4:6]))
    return parsed.replace(tzinfo=dt.timezone(-offset if rest[0] == "-" else offset))


def format_time(value: dt.datetime, micro: bool = False) -> str:
    """metav1.Time marshals as UTC RFC 3339 in whole seconds; MicroTime keeps microseconds."""
    utc = value.astimezone(dt.UTC)
    if micro:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- []byte -----------------------------------------------------------------------------------------------

_B64 = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def base64_error(text: str) -> str | None:
    """Go's base64.StdEncoding error for a []byte field, or None when the text decodes."""
    src = text.encode()
    si, n = 0, len(src)
    while True:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return f"illegal base64 data at input byte {si - j}"
            char = src[si]
            si += 1
            if char in _B64:
                j += 1
                continue
            if char in b"\r\n":
                continue
            if char != ord("="):
                return f"illegal base64 data at input byte {si - 1}"
            if j in (0, 1):
                return f"illegal base64 data at input byte {si - 1}"
            if j == 2:
                while si < n and src[si] in b"\r\n":
                    si += 1
                if si == n:
                    return f"illegal base64 data at input byte {n}"
                if src[si] != ord("="):
                    return f"illegal base64 data at input byte {si - 1}"
                si += 1
            while si < n and src[si] in b"\r\n":
                si += 1
            if si < n:
                return f"illegal base64 data at input byte {si}"
            return None


# --- OpenAPI v3 -------------------------------------------------------------------------------------------

_PRIMITIVE_SCHEMAS = {
    _META + "Time": {
        "description": "Time is a wrapper around time.Time which supports correct marshaling to YAML and "
        "JSON.  Wrappers are provided for many of the factory methods that the time package offers.",
        "format": "date-time",
        "type": "string",
    },
    _META + "MicroTime": {
        "description": "MicroTime is version of Time with microsecond level precision.",
        "format": "date-time",
        "type": "string",
    },
    _META + "FieldsV1": {
        "description": "FieldsV1 stores a set of fields in a data structure like a Trie, in JSON format.\n\n"
        "Each key is either a '.' representing the field itself, and will always map to an empty set, or a "
        "string representing a sub-field or item. The string will follow one of these four formats: "
        "'f:<name>', where <name> is the name of a field in a struct, or key in a map 'v:<value>', where "
        "<value> is the exact json formatted value of a list item 'i:<index>', where <index> is position of "
        "a item in a list 'k:<keys>', where <keys> is a map of  a list item's key fields to their unique "
        "values If a key maps to an empty Fields value, the field that key represents is part of the set.\n\n"
        "The exact format is defined in sigs.k8s.io/structured-merge-diff",
        "type": "object",
    },
    _META + "Patch": {
        "description": "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.",
        "type": "object",
    },
    QUANTITY: {
        "description": "Quantity is a fixed-point representation of a number. It provides convenient "
        "marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors.\n\n"
        "The serialization format is:\n\n``` <quantity>        ::= <signedNumber><suffix>\n\n\t(Note that "
        '<suffix> may be empty, from the "" case in <decimalSI>.)\n\n<digit>           ::= 0 | 1 | ... | 9 '
        "<digits>          ::= <digit> | <digit><digits> <number>          ::= <digits> | "
        "<digits>.<digits> | "
        '<digits>. | .<digits> <sign>            ::= "+" | "-" <signedNumber>    ::= <number> | '
        "<sign><number> <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI> <binarySI>        "
        "::= Ki | Mi | Gi | Ti | Pi | Ei\n\n\t(International System of units; See: "
        'http://physics.nist.gov/cuu/Units/binary.html)\n\n<decimalSI>       ::= m | "" | k | M | G | T | '
        "P | E\n\n\t(Note that 1024 = 1Ki but 1000 = 1k; I didn't choose the capitalization.)\n\n"
        '<decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber> ```\n\nNo matter which of the three '
        "exponent forms is used, no quantity may represent a number greater than 2^63-1 in magnitude, nor "
        "may it have more than 3 decimal places. Numbers larger or more precise will be capped or rounded "
        "up. (E.g.: 0.1m will rounded up to 1m.) This may be extended in the future if we require larger or "
        "smaller quantities.",
        "oneOf": [{"type": "string"}, {"type": "number"}],
    },
    INT_OR_STRING: {
        "description": "IntOrString is a type that can hold an int32 or a string.  When used in JSON or "
        "YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to "
        "have, for example, a JSON field that can accept a name or number.",
        "format": "int-or-string",
        "oneOf": [{"type": "integer"}, {"type": "string"}],
    },
}
_SCALAR_REFS = {
    "quantity": QUANTITY,
    "intorstring": INT_OR_STRING,
    "time": _META + "Time",
    "microtime": _META + "MicroTime",
    "raw": _META + "FieldsV1",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": "#/components/schemas/" + name}


def _schema(node: Node, required: bool, found: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """A property schema as the real document writes it: named types behind allOf, with defaults."""
    if isinstance(node, Struct):
        name = definition_name(node.model)
        found.setdefault(name, node.model)
        return {"allOf": [_ref(name)], "default": {}} if required else {"allOf": [_ref(name)]}
    if isinstance(node, Array):
        return {"type": "array", "items": _schema(node.item, True, found)}
    if isinstance(node, Map):
        return {"type": "object", "additionalProperties": _schema(node.value, True, found)}
    if node.kind in _SCALAR_REFS:
        return {"allOf": [_ref(_SCALAR_REFS[node.kind])]} if node.kind != "quantity" else _ref(QUANTITY)
    out: dict[str, Any]
    if node.kind == "bool":
        out = {"type": "boolean"}
    elif node.kind in ("int32", "int64"):
        out = {"type": "integer", "format": node.kind}
    elif node.kind == "bytes":
        out = {"type": "string", "format": "byte"}
    else:
        out = {"type": "string"}
    if required:
        out["default"] = {"boolean": False, "integer": 0, "string": ""}[out["type"]]
    return out


def _model_schema(model: type[BaseModel], found: dict[str, type[BaseModel]]) -> dict[str, Any]:
    owner = go_name(model)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, spec in sorted(fields(model).items()):
        prop = _schema(spec.node, spec.required, found)
        if "$ref" in prop and spec.description:
            prop = {"allOf": [prop]}
        if spec.description:
            prop["description"] = spec.description
        markers = _LIST_MARKERS.get((owner, name))
        if markers:
            strategy, merge_key, list_type, map_keys = markers
            if map_keys:
                prop["x-kubernetes-list-map-keys"] = list(map_keys)
            prop["x-kubernetes-list-type"] = list_type
            if merge_key:
                prop["x-kubernetes-patch-merge-key"] = merge_key
            if strategy:
                prop["x-kubernetes-patch-strategy"] = strategy
        properties[name] = dict(sorted(prop.items()))
        if spec.required:
            required.append(name)
    schema: dict[str, Any] = {"description": _model_description(model), "properties": properties}
    if required:
        schema["required"] = required
    schema["type"] = "object"
    if owner in MODELS and owner not in ("Status", "DeleteOptions"):
        schema["x-kubernetes-group-version-kind"] = [{"group": "", "kind": owner, "version": "v1"}]
    return schema


def _parameter(name: str, where: str, description: str, required: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"description": description, "in": where, "name": name}
    if required:
        param["required"] = True
    param["schema"] = {"type": "string", "uniqueItems": True}
    return param


_QUERY = {
    "pretty": "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
    "indicates a browser or command-line HTTP tool (curl and wget).",
    "dryRun": "When present, indicates that modifications should not be persisted. An invalid or "
    "unrecognized dryRun directive will result in an error response and no further processing of the "
    "request. "
    "Valid values are: - All: all dry run stages will be processed",
    "fieldManager": "fieldManager is a name associated with the actor or entity that is making these "
    "changes. The value must be less than or 128 characters long, and only contain printable characters, as "
    "defined by https://golang.org/pkg/unicode/#IsPrint.",
    "fieldValidation": "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore "
    "any unknown fields that are silently dropped from the object, and will ignore all but the last "
    "duplicate "
    "field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send "
    "a warning via the standard warning response header for each unknown field that is dropped from the "
    "object, and for each duplicate field that is encountered. The request will still succeed if there are "
    "no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ "
    "- Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped "
    "from "
    "the object, or if any duplicate fields are present. The error returned from the server will contain all "
    "unknown and duplicate fields encountered.",
    "force": 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields '
    "owned by other people. Force flag must be unset for non-apply patch requests.",
    "gracePeriodSeconds": "The duration in seconds before the object should be deleted. Value must be "
    "non-negative integer. The value zero indicates delete immediately.",
    "propagationPolicy": "Whether and how garbage collection will be performed.",
    "labelSelector": "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    "fieldSelector": "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    "limit": "limit is a maximum number of responses to return for a list call.",
    "continue": "The continue option should be set when retrieving more results from the server.",
    "resourceVersion": "resourceVersion sets a constraint on what resource versions a request may be served from.",
    "watch": "Watch for changes to the described resources and return them as a stream of add, update, "
    "and remove notifications. Specify resourceVersion.",
}


def _query(*names: str) -> list[dict[str, Any]]:
    return [_parameter(n, "query", _QUERY[n]) for n in names]


def _content(name: str) -> dict[str, Any]:
    schema = {"schema": _ref(name)}
    return {
        "application/json": schema,
        "application/vnd.kubernetes.protobuf": schema,
        "application/yaml": schema,
    }


def _op(
    verb: str,
    action: str,
    kind: str,
    op_id: str,
    response: str,
    params: list[dict[str, Any]],
    codes: list[str],
) -> dict[str, Any]:
    responses = {code: {"description": _CODE_TEXT[code], "content": _content(response)} for code in codes}
    responses["401"] = {"description": "Unauthorized"}
    return {
        "description": f"{verb} {kind}",
        "operationId": op_id,
        "parameters": params,
        "responses": responses,
        "tags": ["core_v1"],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": "", "kind": kind, "version": "v1"},
    }


_CODE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


def _with_body(op: dict[str, Any], name: str, content_types: Iterable[str] = ("*/*",)) -> dict[str, Any]:
    op["requestBody"] = {"content": {t: {"schema": _ref(name)} for t in content_types}, "required": True}
    return op


def _paths(kind: str, collection: str, namespaced: bool) -> dict[str, Any]:
    scope = "Namespaced" if namespaced else ""
    ident = f"CoreV1{scope}{kind}"
    item_def, list_def = _CORE + kind, _CORE + kind + "List"
    write = _query("dryRun", "fieldManager", "fieldValidation")
    name = _parameter("name", "path", f"name of the {kind}", required=True)
    scope_params = _query("pretty")
    if namespaced:
        namespace = "object name and auth scope, such as for teams and projects"
        scope_params.insert(0, _parameter("namespace", "path", namespace, required=True))
    created = ["200", "201", "202"]
    if kind == "Binding":
        # Bindings are only ever created: at /bindings, or as the pods/binding subresource.
        post = _with_body(_op("create a", "post", kind, f"create{ident}", item_def, write, created), item_def)
        sub = _with_body(
            _op(
                "create binding of a",
                "post",
                kind,
                f"createCoreV1{scope}PodBinding",
                item_def,
                write,
                created,
            ),
            item_def,
        )
        pods = collection.rsplit("/", 1)[0] + "/pods/{name}/binding"
        return {
            collection: {"parameters": scope_params, "post": post},
            pods: {"parameters": [name, *scope_params], "post": sub},
        }
    listing = _query("continue", "fieldSelector", "labelSelector", "limit", "resourceVersion", "watch")
    deleting = _query("dryRun", "gracePeriodSeconds", "propagationPolicy")
    patch = _op("partially update the specified", "patch", kind, f"patch{ident}", item_def, write, ["200", "201"])
    patch["parameters"] = [*patch["parameters"], *_query("force")]
    patch_types = (
        "application/apply-patch+yaml",
        "application/apply-patch+cbor",
        "application/json-patch+json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    )
    return {
        collection: {
            "delete": _op(
                "delete collection of",
                "deletecollection",
                kind,
                f"deleteCoreV1Collection{scope}{kind}",
                _META + "Status",
                [*deleting, *listing],
                ["200"],
            ),
            "get": _op("list or watch objects of kind", "list", kind, f"list{ident}", list_def, listing, ["200"]),
            "parameters": scope_params,
            "post": _with_body(_op("create a", "post", kind, f"create{ident}", item_def, write, created), item_def),
        },
        collection + "/{name}": {
            "delete": _with_body(
                _op("delete a", "delete", kind, f"delete{ident}", item_def, deleting, ["200", "202"]),
                _META + "DeleteOptions",
            ),
            "get": _op("read the specified", "get", kind, f"read{ident}", item_def, [], ["200"]),
            "parameters": [name, *scope_params],
            "patch": _with_body(patch, _META + "Patch", patch_types),
            "put": _with_body(
                _op("replace the specified", "put", kind, f"replace{ident}", item_def, write, ["200", "201"]),
                item_def,
            ),
        },
    }


def openapi_v3(kinds: Iterable[tuple[Any, ...]], version: str = "v1.37.1") -> dict[str, Any]:
    """The OpenAPI v3 document for core/v1 (served at /openapi/v3/api/v1).

    Each entry is (kind, plural, namespaced) or (kind, plural, collection path, namespaced); an empty or
    missing collection path means the usual one (`/api/v1/namespaces/{namespace}/<plural>` or
    `/api/v1/<plural>`). The result is cached and shared, so callers must not modify it.
    """
    entries = tuple((k[0], k[1], "", k[2]) if len(k) == 3 else tuple(k) for k in kinds)
    return _openapi_v3(entries, version)


@functools.cache
def _openapi_v3(kinds: tuple[tuple[str, str, str, bool], ...], version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for kind, plural, collection, namespaced in kinds:
        if not collection:
            collection = f"/api/v1/namespaces/{{namespace}}/{plural}" if namespaced else f"/api/v1/{plural}"
        elif not collection.startswith("/"):
            collection = "/api/v1/" + collection
        paths.update(_paths(kind, collection, namespaced))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "BearerToken": {
                    "description": "Bearer Token authentication",
                    "in": "header",
                    "name": "authorization",
                    "type": "apiKey",
                }
            },
        },
    }


@functools.cache
def component_schemas() -> dict[str, Any]:
    """Every schema reachable from the served kinds, by definition name."""
    pending: dict[str, type[BaseModel]] = {definition_name(m): m for m in MODELS.values()}
    schemas: dict[str, Any] = dict(_PRIMITIVE_SCHEMAS)
    while pending:
        name, model = pending.popitem()
        if name in schemas:
            continue
        found: dict[str, type[BaseModel]] = {}
        schemas[name] = _model_schema(model, found)
        pending.update({k: v for k, v in found.items() if k not in schemas})
    return dict(sorted(schemas.items()))
