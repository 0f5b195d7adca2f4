"""Create and update validation for the core/v1 kinds, with the API server's own messages and order.

Objects are validated as the server validates them: after decoding (see `schema.decode`), after
defaulting and admission (see `defaults.apply_defaults`), with the name already generated and
metadata.namespace set from the request path. Kind-specific rules run first; only when they pass does
the generic metadata check (path-segment names) run, as in apiserver's rest.BeforeCreate.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from sandbox.api.schema import canonical_quantity, quantity_value
from sandbox.errors import (
    FieldError,
    aggregate,
    duplicate,
    forbidden,
    go_duplicate,
    go_invalid,
    invalid,
    invalid_value,
    not_found_value,
    not_supported,
    required,
    too_long,
)

Errors = list[FieldError]
NameCheck = Callable[[str, bool], list[str]]


# --- apimachinery string formats (k8s.io/apimachinery/pkg/util/validation and api/validate/content) -------


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError: the message, the examples and the regex, as the server words them."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _max_len(length: int) -> str:
    return f"must be no more than {length} characters"


def _max_bytes(length: int) -> str:
    return f"must be no more than {length} bytes"


def _byte_len(value: str) -> int:
    return len(value.encode())


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character"
)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_CONFIG_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
_RELAXED_ENV_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='"


def is_dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: at most 63 characters of [a-z0-9-], alphanumeric at both ends."""
    errs = []
    if _byte_len(value) > 63:
        errs.append(_max_len(63))
    if not re.fullmatch(_DNS1123_LABEL_FMT, value):
        if re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
            errs.append("must not contain dots")
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: dot-separated DNS labels, at most 253 characters."""
    errs = []
    if _byte_len(value) > 253:
        errs.append(_max_len(253))
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: a DNS label that starts with a letter (Service names)."""
    errs = []
    if _byte_len(value) > 63:
        errs.append(_max_len(63))
    if not re.fullmatch(_DNS1035_LABEL_FMT, value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, _DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label key: optional DNS-subdomain prefix and '/', then a name of at most 63 bytes."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in _content_dns1123_subdomain(prefix))
    else:
        return [
            "a valid label key "
            + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > 63:
        errs.append("name part " + _max_bytes(63))
    if not re.fullmatch(_LABEL_KEY_FMT, name):
        errs.append("name part " + regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc"))
    return errs


def _content_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if _byte_len(value) > 253:
        errs.append(_max_bytes(253))
    if not re.fullmatch(_DNS1123_SUBDOMAIN_FMT, value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or at most 63 bytes of [A-Za-z0-9-_.] alphanumeric at both ends."""
    errs = []
    if _byte_len(value) > 63:
        errs.append(_max_bytes(63))
    if not re.fullmatch(_LABEL_VALUE_FMT, value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def _chdir_prefix(value: str) -> list[str]:
    if value == ".":
        return ["must not be '.'"]
    if value == "..":
        return ["must not be '..'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    """IsConfigMapKey: the rule for ConfigMap and Secret data keys."""
    errs = []
    if _byte_len(value) > 253:
        errs.append(_max_len(253))
    if not re.fullmatch(_CONFIG_KEY_FMT, value):
        errs.append(regex_error(_CONFIG_KEY_MSG, _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    return errs + _chdir_prefix(value)


def is_port_name(port: str) -> list[str]:
    """IsValidPortName: an IANA_SVC_NAME."""
    errs = []
    if _byte_len(port) > 15:
        errs.append(_max_len(15))
    if not re.fullmatch("[-a-z0-9]+", port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def is_port_num(port: int) -> list[str]:
    """IsValidPortNum: 1 to 65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range(1, 65535)]


def inclusive_range(low: int, high: int) -> str:
    """InclusiveRangeError's wording."""
    return f"must be between {low} and {high}, inclusive"


def is_relaxed_env_var_name(value: str) -> list[str]:
    """IsRelaxedEnvVarName: printable ASCII without '=' (the rule since env var validation relaxed)."""
    errs = []
    if not value:
        errs.append("environment variable name must be non-empty")
    if any(ord(c) > 127 or not c.isprintable() or c == "=" for c in value):
        errs.append(_RELAXED_ENV_MSG)
    return errs


def _mask_trailing_dash(name: str) -> str:
    # generateName prefixes may end in '-': the generated suffix will follow it.
    return name[:-1] + "a" if len(name) > 1 and name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool) -> list[str]:
    """NameIsDNSSubdomain: the name rule of most kinds (prefix: a generateName)."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool) -> list[str]:
    """NameIsDNSLabel: the name rule of Namespaces."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool) -> list[str]:
    """NameIsDNS1035Label: the name rule of Services."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


def path_segment_name(name: str, prefix: bool) -> list[str]:
    """ValidatePathSegmentName: what any name needs to be usable in a URL path."""
    if name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


# --- paths and small helpers ------------------------------------------------------------------------------


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


def _go_string_slice(values: Iterable[str]) -> str:
    return "[]string{" + ", ".join(json.dumps(v) for v in values) + "}"


def _nonnegative(value: int, path: str) -> Errors:
    return [invalid_value(path, value, "must be greater than or equal to 0")] if value < 0 else []


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _valid_ip(path: str, value: str) -> Errors:
    if _is_ip(value):
        return []
    return [invalid_value(path, value, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")]


def _str(obj: dict, key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def _dict(obj: Any, key: str) -> dict:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}


def _list(obj: Any, key: str) -> list:
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v if isinstance(v, dict) else {} for v in value] if isinstance(value, list) else []


def _strings(obj: Any, key: str) -> list[str]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


# --- metadata -------------------------------------------------------------------------------------------

_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
_ANNOTATIONS_LIMIT = 256 * 1024


def validate_labels(labels: dict, path: str) -> Errors:
    """ValidateLabels: every key a qualified name, every value a label value."""
    errs: Errors = []
    for key, value in labels.items():
        errs += [invalid_value(path, key, m) for m in is_qualified_name(key)]
        errs += [invalid_value(path, value, m) for m in is_label_value(value if isinstance(value, str) else "")]
    return errs


def validate_annotations(annotations: dict, path: str) -> Errors:
    """ValidateAnnotations: qualified keys (any case) and 256 KiB in all."""
    errs: Errors = []
    for key in annotations:
        errs += [invalid_value(path, key, m) for m in is_qualified_name(key.lower())]
    size = sum(_byte_len(k) + _byte_len(v if isinstance(v, str) else "") for k, v in annotations.items())
    if size > _ANNOTATIONS_LIMIT:
        errs.append(too_long(path, _ANNOTATIONS_LIMIT))
    return errs


def _owner_references(refs: list[dict], path: str) -> Errors:
    errs: Errors = []
    controller = ""
    for ref in refs:
        api_version = _str(ref, "apiVersion")
        if not api_version.rsplit("/", 1)[-1]:
            errs.append(invalid_value(f"{path}.apiVersion", api_version, "version must not be empty"))
        for name in ("kind", "name", "uid"):
            if not _str(ref, name):
                errs.append(invalid_value(f"{path}.{name}", _str(ref, name), "must not be empty"))
        if api_version == "v1" and _str(ref, "kind") == "Event":
            errs.append(invalid_value(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{_str(ref, 'kind')}/{_str(ref, 'name')}"
            if controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in references for '
                    f"{controller} and {current}"
                )
                errs.append(invalid_value(path, refs, detail))
            else:
                controller = current
    return errs


def _finalizers(finalizers: list[str], path: str) -> Errors:
    errs: Errors = []
    for finalizer in finalizers:
        errs += [invalid_value(path, finalizer, m) for m in is_qualified_name(finalizer)]
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        detail = "finalizer orphan and foregroundDeletion cannot be both set"
        errs.append(go_invalid(path, _go_string_slice(finalizers), detail))
    return errs


def _kube_finalizers(finalizers: list[str], path: str) -> Errors:
    errs: Errors = []
    for i, finalizer in enumerate(finalizers):
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            errs.append(invalid_value(f"{path}[{i}]", finalizer, detail))
    return errs


def validate_object_meta(meta: dict, namespaced: bool, name_fn: NameCheck, path: str = "metadata") -> Errors:
    """ValidateObjectMeta: generateName, name, namespace, labels, annotations, owners, finalizers."""
    errs: Errors = []
    generate_name = _str(meta, "generateName")
    if generate_name:
        errs += [invalid_value(f"{path}.generateName", generate_name, m) for m in name_fn(generate_name, True)]
    name = _str(meta, "name")
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [invalid_value(f"{path}.name", name, m) for m in name_fn(name, False)]
    namespace = _str(meta, "namespace")
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += [invalid_value(f"{path}.namespace", namespace, m) for m in name_is_dns_label(namespace, False)]
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = meta.get("generation")
    if isinstance(generation, int):
        errs += _nonnegative(generation, f"{path}.generation")
    errs += validate_labels(_dict(meta, "labels"), f"{path}.labels")
    errs += validate_annotations(_dict(meta, "annotations"), f"{path}.annotations")
    errs += _owner_references(_list(meta, "ownerReferences"), f"{path}.ownerReferences")
    finalizers = _strings(meta, "finalizers")
    errs += _finalizers(finalizers, f"{path}.finalizers")
    return errs + _kube_finalizers(finalizers, f"{path}.finalizers")


def _immutable(new: Any, old: Any, path: str) -> Errors:
    return [] if new == old else [invalid_value(path, new, "field is immutable")]


def validate_object_meta_update(new: dict, old: dict, path: str = "metadata") -> Errors:
    """ValidateObjectMetaUpdate: identity fields are immutable; labels and the rest stay valid."""
    errs: Errors = []
    if old.get("deletionTimestamp"):
        added = sorted(set(_strings(new, "finalizers")) - set(_strings(old, "finalizers")))
        if added:
            detail = (
                "no new finalizers can be added if the object is being deleted, found new finalizers "
                + _go_string_slice(added)
            )
            errs.append(forbidden(f"{path}.finalizers", detail))
    if not _str(new, "resourceVersion"):
        errs.append(invalid_value(f"{path}.resourceVersion", "", "must be specified for an update"))
    new_generation, old_generation = new.get("generation") or 0, old.get("generation") or 0
    if new_generation < old_generation:
        errs.append(invalid_value(f"{path}.generation", new_generation, "must not be decremented"))
    for name in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
        errs += _immutable(new.get(name) or "", old.get(name) or "", f"{path}.{name}")
    errs += _immutable(
        new.get("deletionGracePeriodSeconds"),
        old.get("deletionGracePeriodSeconds"),
        f"{path}.deletionGracePeriodSeconds",
    )
    errs += validate_labels(_dict(new, "labels"), f"{path}.labels")
    errs += validate_annotations(_dict(new, "annotations"), f"{path}.annotations")
    errs += _owner_references(_list(new, "ownerReferences"), f"{path}.ownerReferences")
    finalizers = _strings(new, "finalizers")
    return errs + _finalizers(finalizers, f"{path}.finalizers") + _kube_finalizers(finalizers, f"{path}.finalizers")


# --- quantities -----------------------------------------------------------------------------------------

_STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}
_STANDARD_RESOURCES = _STANDARD_CONTAINER_RESOURCES | {
    "storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "services.nodeports",
    "services.loadbalancers",
}


def _quantity(value: Any) -> Fraction:
    try:
        return quantity_value(str(value))
    except ValueError:
        return Fraction(0)


def _quantity_text(value: Any) -> str:
    try:
        return canonical_quantity(str(value))
    except ValueError:
        return str(value)


def _is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def _is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def _is_extended(name: str) -> bool:
    if _is_native(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def _overcommit_allowed(name: str) -> bool:
    return _is_native(name) and not _is_hugepages(name)


def _container_resource_name(name: str, path: str) -> Errors:
    errs = [invalid_value(path, name, m) for m in is_qualified_name(name)]
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_RESOURCES and not _is_hugepages(name):
            return [invalid_value(path, name, "must be a standard resource type or fully qualified")]
        if name not in _STANDARD_CONTAINER_RESOURCES and not _is_hugepages(name):
            return [invalid_value(path, name, "must be a standard resource for containers")]
    elif not _is_native(name) and not _is_extended(name):
        return [invalid_value(path, name, "doesn't follow extended resource name standard")]
    return []


def _quantity_value_errors(name: str, value: Any, path: str) -> Errors:
    amount = _quantity(value)
    errs: Errors = []
    if amount < 0:
        errs.append(invalid_value(path, _quantity_text(value), "must be greater than or equal to 0"))
    if _is_extended(name) and (amount * 1000) % 1000:
        errs.append(invalid_value(path, _quantity_text(value), "must be an integer"))
    return errs


def validate_resource_requirements(resources: dict, path: str) -> Errors:
    """Container resource names, non-negative quantities, and requests within limits."""
    errs: Errors = []
    limits, requests = _dict(resources, "limits"), _dict(resources, "requests")
    for name, value in limits.items():
        at = _key(f"{path}.limits", name)
        errs += _container_resource_name(name, at) + _quantity_value_errors(name, value, at)
    for name, value in requests.items():
        at = _key(f"{path}.requests", name)
        errs += _container_resource_name(name, at) + _quantity_value_errors(name, value, at)
        if name in limits:
            request, limit = _quantity(value), _quantity(limits[name])
            shown, limit_text = _quantity_text(value), _quantity_text(limits[name])
            if request != limit and not _overcommit_allowed(name):
                detail = f"must be equal to {name} limit of {limit_text}"
                errs.append(invalid_value(f"{path}.requests", shown, detail))
            elif request > limit:
                detail = f"must be less than or equal to {name} limit of {limit_text}"
                errs.append(invalid_value(f"{path}.requests", shown, detail))
        elif not _overcommit_allowed(name):
            errs.append(required(f"{path}.limits", "Limit must be set for non overcommitable resources"))
    compute = {"cpu", "memory"}
    if not (compute & (set(limits) | set(requests))) and any(map(_is_hugepages, [*limits, *requests])):
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs


# --- pods -----------------------------------------------------------------------------------------------

_VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)
# The "more than 1 volume type" error names a few sources differently from their JSON field.
_VOLUME_ERROR_NAMES = {"cephfs": "cephFS", "downwardAPI": "downwarAPI"}
_HOST_PATH_TYPES = [
    "",
    "BlockDevice",
    "CharDevice",
    "Directory",
    "DirectoryOrCreate",
    "File",
    "FileOrCreate",
    "Socket",
]
_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"
_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
_VOLUME_FIELD_PATHS = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
]
_ENV_FIELD_PATHS = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
]
_RESOURCE_FIELD_PATHS = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
]
_UPDATABLE_POD_FIELDS = ",".join(
    [
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    ]
)


def _path_no_backsteps(target: str, path: str) -> Errors:
    if ".." in target.replace("\\", "/").split("/"):
        return [invalid_value(path, target, "must not contain '..'")]
    return []


def _local_descending_path(target: str, path: str) -> Errors:
    errs = [invalid_value(path, target, "must be a relative path")] if target.startswith("/") else []
    return errs + _path_no_backsteps(target, path)


def _local_non_reserved_path(target: str, path: str) -> Errors:
    errs = _local_descending_path(target, path)
    if target.startswith("..") and not target.startswith("../"):
        errs.append(invalid_value(path, target, "must not start with '..'"))
    return errs


def _file_mode(value: Any, path: str) -> Errors:
    if isinstance(value, int) and not 0 <= value <= 0o777:
        return [invalid_value(path, value, _FILE_MODE)]
    return []


def _key_to_path(item: dict, path: str) -> Errors:
    errs: Errors = []
    if not _str(item, "key"):
        errs.append(required(f"{path}.key"))
    if not _str(item, "path"):
        errs.append(required(f"{path}.path"))
    errs += _local_non_reserved_path(_str(item, "path"), f"{path}.path")
    return errs + _file_mode(item.get("mode"), f"{path}.mode")


def _object_field_selector(selector: dict, allowed: list[str], path: str) -> Errors:
    if not _str(selector, "apiVersion"):
        return [required(f"{path}.apiVersion")]
    field_path = _str(selector, "fieldPath")
    if not field_path:
        return [required(f"{path}.fieldPath")]
    match = re.fullmatch(r"(metadata\.(?:annotations|labels))\['(.*)'\]", field_path)
    if match:
        key = match.group(2).lower() if match.group(1).endswith("annotations") else match.group(2)
        return [invalid_value(path, key, m) for m in is_qualified_name(key)]
    if field_path not in allowed:
        return [not_supported(f"{path}.fieldPath", field_path, allowed)]
    return []


def _resource_field_selector(selector: dict, path: str, volume: bool) -> Errors:
    resource = _str(selector, "resource")
    if volume and not _str(selector, "containerName"):
        return [required(f"{path}.containerName")]
    if not resource:
        return [required(f"{path}.resource")]
    if resource not in _RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(f"{path}.resource", resource, _RESOURCE_FIELD_PATHS)]
    return []


def _downward_api_file(item: dict, path: str) -> Errors:
    errs: Errors = []
    if not _str(item, "path"):
        errs.append(required(f"{path}.path"))
    errs += _local_non_reserved_path(_str(item, "path"), f"{path}.path")
    if "fieldRef" in item:
        errs += _object_field_selector(_dict(item, "fieldRef"), _VOLUME_FIELD_PATHS, f"{path}.fieldRef")
        if "resourceFieldRef" in item:
            detail = "fieldRef and resourceFieldRef can not be specified simultaneously"
            errs.append(invalid_value(path, "resource", detail))
    elif "resourceFieldRef" in item:
        errs += _resource_field_selector(_dict(item, "resourceFieldRef"), f"{path}.resourceFieldRef", True)
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    return errs + _file_mode(item.get("mode"), f"{path}.mode")


def _projected(source: dict, path: str) -> Errors:
    errs = _file_mode(source.get("defaultMode"), f"{path}.defaultMode")
    seen: set[str] = set()

    def claim(file_path: str, value: Any) -> None:
        if file_path in seen:
            errs.append(invalid_value(path, value, "conflicting duplicate paths"))
        seen.add(file_path)

    for i, projection in enumerate(_list(source, "sources")):
        at = f"{path}.sources[{i}]"
        count = 0
        for kind in ("secret", "configMap"):
            if kind in projection:
                count += 1
                body = _dict(projection, kind)
                if not _str(body, "name"):
                    errs.append(required(f"{at}.{kind}.name"))
                for j, item in enumerate(_list(body, "items")):
                    errs += _key_to_path(item, f"{at}.{kind}.items[{j}]")
                    if _str(item, "path"):
                        claim(_str(item, "path"), _str(body, "name"))
        if "downwardAPI" in projection:
            count += 1
            for item in _list(_dict(projection, "downwardAPI"), "items"):
                errs += _downward_api_file(item, f"{at}.downwardAPI")
                if _str(item, "path"):
                    claim(_str(item, "path"), _str(item, "path"))
        if "serviceAccountToken" in projection:
            count += 1
            token = _dict(projection, "serviceAccountToken")
            seconds = token.get("expirationSeconds", 3600)
            if isinstance(seconds, int) and seconds < 600:
                detail = "may not specify a duration less than 10 minutes"
                errs.append(invalid_value(f"{at}.serviceAccountToken.expirationSeconds", seconds, detail))
            if isinstance(seconds, int) and seconds > 1 << 32:
                detail = "may not specify a duration larger than 2^32 seconds"
                errs.append(invalid_value(f"{at}.serviceAccountToken.expirationSeconds", seconds, detail))
            if not _str(token, "path"):
                errs.append(required(f"{path}.path"))
            else:
                errs += _local_non_reserved_path(_str(token, "path"), f"{path}.path")
        if "clusterTrustBundle" in projection:
            count += 1
        if "podCertificate" in projection:
            count += 1
        if count > 1:
            errs.append(forbidden(at, "may not specify more than 1 volume type per source"))
    return errs


def _volume_source(volume: dict, path: str, pod_name: str) -> Errors:
    errs: Errors = []
    count = 0
    for kind in _VOLUME_SOURCES:
        if kind not in volume:
            continue
        at = f"{path}.{kind}"
        if count:
            name = _VOLUME_ERROR_NAMES.get(kind, kind)
            errs.append(forbidden(f"{path}.{name}", "may not specify more than 1 volume type"))
            continue
        count += 1
        body = _dict(volume, kind)
        if kind == "emptyDir" and "sizeLimit" in body and _quantity(body["sizeLimit"]) < 0:
            errs.append(forbidden(f"{at}.sizeLimit", "SizeLimit field must be a valid resource quantity"))
        elif kind == "hostPath":
            if not _str(body, "path"):
                errs.append(required(f"{at}.path"))
                continue
            errs += _path_no_backsteps(_str(body, "path"), f"{at}.path")
            if "type" in body and body["type"] not in _HOST_PATH_TYPES:
                errs.append(not_supported(f"{at}.type", body["type"], _HOST_PATH_TYPES))
        elif kind in ("secret", "configMap"):
            name_field = "secretName" if kind == "secret" else "name"
            if not _str(body, name_field):
                errs.append(required(f"{at}.{name_field}"))
            errs += _file_mode(body.get("defaultMode"), f"{at}.defaultMode")
            for i, item in enumerate(_list(body, "items")):
                errs += _key_to_path(item, f"{at}.items[{i}]")
        elif kind == "nfs":
            if not _str(body, "server"):
                errs.append(required(f"{at}.server"))
            if not _str(body, "path"):
                errs.append(required(f"{at}.path"))
            if not _str(body, "path").startswith("/"):
                errs.append(invalid_value(f"{at}.path", _str(body, "path"), "must be an absolute path"))
        elif kind == "persistentVolumeClaim" and not _str(body, "claimName"):
            errs.append(required(f"{at}.claimName"))
        elif kind == "downwardAPI":
            errs += _file_mode(body.get("defaultMode"), f"{at}.defaultMode")
            for item in _list(body, "items"):
                errs += _downward_api_file(item, at)
        elif kind == "projected":
            errs += _projected(body, at)
        elif kind == "csi" and not _str(body, "driver"):
            errs.append(required(f"{at}.driver"))
        elif kind == "ephemeral":
            if "volumeClaimTemplate" not in body:
                errs.append(required(f"{at}.volumeClaimTemplate"))
            elif pod_name and volume.get("name"):
                claim = f"{pod_name}-{volume['name']}"
                for message in name_is_dns_subdomain(claim, False):
                    errs.append(invalid_value(f"{path}.name", volume["name"], f'PVC name "{claim}": {message}'))
        elif kind == "image" and not _str(body, "reference"):
            errs.append(required(f"{at}.reference"))
    if not count:
        errs.append(required(path, "must specify a volume type"))
    return errs


def validate_volumes(volumes: list[dict], path: str, pod_name: str) -> tuple[dict[str, dict], Errors]:
    """ValidateVolumes: returns the volumes that passed (by name) and the errors of the others."""
    errs: Errors = []
    good: dict[str, dict] = {}
    for i, volume in enumerate(volumes):
        at = f"{path}[{i}]"
        volume_errs = _volume_source(volume, at, pod_name)
        name = _str(volume, "name")
        if not name:
            volume_errs.append(required(f"{at}.name"))
        else:
            volume_errs += [invalid_value(f"{at}.name", name, m) for m in is_dns1123_label(name)]
        if name in good:
            volume_errs.append(duplicate(f"{at}.name", name))
        if volume_errs:
            errs += volume_errs
        else:
            good[name] = volume
    return good, errs


def _container_ports(ports: list[dict], path: str) -> Errors:
    errs: Errors = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        at = f"{path}[{i}]"
        name = _str(port, "name")
        if name:
            messages = is_port_name(name)
            if messages:
                errs += [invalid_value(f"{at}.name", name, m) for m in messages]
            elif name in names:
                errs.append(duplicate(f"{at}.name", name))
            else:
                names.add(name)
        container_port = port.get("containerPort") or 0
        if container_port == 0:
            errs.append(required(f"{at}.containerPort"))
        else:
            errs += [invalid_value(f"{at}.containerPort", container_port, m) for m in is_port_num(container_port)]
        host_port = port.get("hostPort") or 0
        if host_port:
            errs += [invalid_value(f"{at}.hostPort", host_port, m) for m in is_port_num(host_port)]
        protocol = _str(port, "protocol")
        if not protocol:
            errs.append(required(f"{at}.protocol"))
        elif protocol not in ("SCTP", "TCP", "UDP"):
            errs.append(not_supported(f"{at}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    return errs


def _env(env: list[dict], path: str) -> Errors:
    errs: Errors = []
    for i, var in enumerate(env):
        at = f"{path}[{i}]"
        name = _str(var, "name")
        if not name:
            errs.append(required(f"{at}.name"))
        else:
            errs += [invalid_value(f"{at}.name", name, m) for m in is_relaxed_env_var_name(name)]
        if "valueFrom" not in var:
            continue
        source, at = _dict(var, "valueFrom"), f"{at}.valueFrom"
        count = 0
        if "fieldRef" in source:
            count += 1
            errs += _object_field_selector(_dict(source, "fieldRef"), _ENV_FIELD_PATHS, f"{at}.fieldRef")
        if "resourceFieldRef" in source:
            count += 1
            errs += _resource_field_selector(_dict(source, "resourceFieldRef"), f"{at}.resourceFieldRef", False)
        for kind in ("configMapKeyRef", "secretKeyRef"):
            if kind in source:
                count += 1
                ref = _dict(source, kind)
                errs += [
                    invalid_value(f"{at}.{kind}.name", _str(ref, "name"), m)
                    for m in name_is_dns_subdomain(_str(ref, "name"), False)
                ]
                key = _str(ref, "key")
                if not key:
                    errs.append(required(f"{at}.{kind}.key"))
                else:
                    errs += [invalid_value(f"{at}.{kind}.key", key, m) for m in is_config_map_key(key)]
        if "fileKeyRef" in source:
            count += 1
        if count == 0:
            detail = "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            errs.append(invalid_value(at, "", detail))
        elif _str(var, "value"):
            errs.append(invalid_value(at, "", "may not be specified when `value` is not empty"))
        elif count > 1:
            errs.append(invalid_value(at, "", "may not have more than one field specified at a time"))
    return errs


def _env_from(sources: list[dict], path: str) -> Errors:
    errs: Errors = []
    for i, source in enumerate(sources):
        at = f"{path}[{i}]"
        prefix = _str(source, "prefix")
        if prefix:
            errs += [invalid_value(f"{at}.prefix", prefix, m) for m in is_relaxed_env_var_name(prefix)]
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if kind in source:
                count += 1
                name = _str(_dict(source, kind), "name")
                if not name:
                    errs.append(required(f"{at}.{kind}.name"))
                else:
                    errs += [invalid_value(f"{at}.{kind}.name", name, m) for m in name_is_dns_subdomain(name, True)]
        if count == 0:
            errs.append(invalid_value(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid_value(path, "", "may not have more than one field specified at a time"))
    return errs


def _volume_mounts(container: dict, volumes: dict[str, dict], path: str) -> Errors:
    errs: Errors = []
    mount_paths: set[str] = set()
    devices = {_str(d, "name"): _str(d, "devicePath") for d in _list(container, "volumeDevices")}
    privileged = _dict(container, "securityContext").get("privileged") is True
    for i, mount in enumerate(_list(container, "volumeMounts")):
        at = f"{path}[{i}]"
        name, mount_path = _str(mount, "name"), _str(mount, "mountPath")
        if not name:
            errs.append(required(f"{at}.name"))
        if name not in volumes:
            errs.append(not_found_value(f"{at}.name", name))
        if not mount_path:
            errs.append(required(f"{at}.mountPath"))
        if mount_path in mount_paths:
            errs.append(invalid_value(f"{at}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        if name in devices:
            errs.append(invalid_value(f"{at}.name", name, "must not already exist in volumeDevices"))
        if mount_path in devices.values():
            detail = "must not already exist as a path in volumeDevices"
            errs.append(invalid_value(f"{at}.mountPath", mount_path, detail))
        sub_path, sub_expr = _str(mount, "subPath"), _str(mount, "subPathExpr")
        if "image" in volumes.get(name, {}):
            if sub_path:
                errs.append(invalid_value(f"{at}.subPath", sub_path, "not allowed in image volume sources"))
            if sub_expr:
                errs.append(invalid_value(f"{at}.subPathExpr", sub_expr, "not allowed in image volume sources"))
        if sub_path:
            errs += _local_descending_path(sub_path, f"{path}.subPath")
        if sub_expr:
            if sub_path:
                detail = "subPathExpr and subPath are mutually exclusive"
                errs.append(invalid_value(f"{at}.subPathExpr", sub_expr, detail))
            errs += _local_descending_path(sub_expr, f"{path}.subPathExpr")
        propagation = mount.get("mountPropagation")
        if propagation is not None:
            supported = ["Bidirectional", "HostToContainer", "None"]
            if propagation not in supported:
                errs.append(not_supported(f"{path}.mountPropagation", propagation, supported))
            if propagation == "Bidirectional" and not privileged:
                detail = "Bidirectional mount propagation is available only to privileged containers"
                errs.append(forbidden(f"{path}.mountPropagation", detail))
        recursive = mount.get("recursiveReadOnly")
        if recursive in ("Enabled", "IfPossible"):
            if not mount.get("readOnly"):
                errs.append(forbidden(f"{path}.recursiveReadOnly", "may only be specified when readOnly is true"))
            if propagation not in (None, "None"):
                detail = "may only be specified when mountPropagation is None or not specified"
                errs.append(forbidden(f"{path}.recursiveReadOnly", detail))
        elif recursive not in (None, "Disabled"):
            supported = ["Disabled", "Enabled", "IfPossible"]
            errs.append(not_supported(f"{path}.recursiveReadOnly", recursive, supported))
    return errs


def _int_or_string_port(port: Any, path: str) -> Errors:
    if isinstance(port, str):
        return [invalid_value(path, port, m) for m in is_port_name(port)]
    if isinstance(port, int):
        return [invalid_value(path, port, m) for m in is_port_num(port)]
    return [invalid_value(path, 0, m) for m in is_port_num(0)]


def _handler(handler: dict, grace: int | None, path: str, kinds: tuple[str, ...]) -> Errors:
    errs: Errors = []
    count = 0
    for kind in kinds:
        if kind not in handler:
            continue
        at = f"{path}.{kind}"
        if count:
            errs.append(forbidden(at, "may not specify more than 1 handler type"))
            continue
        count += 1
        body = _dict(handler, kind)
        if kind == "exec" and not _strings(body, "command"):
            errs.append(required(f"{at}.command"))
        elif kind == "httpGet":
            if not _str(body, "path"):
                errs.append(required(f"{at}.path"))
            errs += _int_or_string_port(body.get("port"), f"{at}.port")
            scheme = _str(body, "scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(not_supported(f"{at}.scheme", scheme, ["HTTP", "HTTPS"]))
            for header in _list(body, "httpHeaders"):
                if not re.fullmatch("[-A-Za-z0-9]+", _str(header, "name")):
                    message = regex_error(
                        "a valid HTTP header must consist of alphanumeric characters or '-'",
                        "[-A-Za-z0-9]+",
                        "X-Header-Name",
                    )
                    errs.append(invalid_value(f"{at}.httpHeaders", _str(header, "name"), message))
        elif kind in ("tcpSocket", "grpc"):
            errs += _int_or_string_port(body.get("port"), f"{at}.port")
        elif kind == "sleep":
            seconds = body.get("seconds", 0)
            if grace is not None and not 0 <= seconds <= grace:
                detail = f"must be non-negative and less than terminationGracePeriodSeconds ({grace})"
                errs.append(invalid_value(at, seconds, detail))
    if not count:
        errs.append(required(path, "must specify a handler type"))
    return errs


_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def _probe(probe: dict, grace: int | None, path: str, kind: str) -> Errors:
    errs = _handler(probe, grace, path, _PROBE_HANDLERS)
    for name in (
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ):
        errs += _nonnegative(probe.get(name, 0), f"{path}.{name}")
    probe_grace = probe.get("terminationGracePeriodSeconds")
    if probe_grace is not None and probe_grace <= 0:
        errs.append(invalid_value(f"{path}.terminationGracePeriodSeconds", probe_grace, "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe") and probe.get("successThreshold", 1) != 1:
        errs.append(invalid_value(f"{path}.successThreshold", probe.get("successThreshold"), "must be 1"))
    if kind == "readinessProbe" and probe_grace is not None:
        detail = "must not be set for readinessProbes"
        errs.append(invalid_value(f"{path}.terminationGracePeriodSeconds", probe_grace, detail))
    return errs


def _probes_and_lifecycle(container: dict, grace: int | None, path: str) -> Errors:
    errs: Errors = []
    if "lifecycle" in container:
        lifecycle = _dict(container, "lifecycle")
        for hook in ("postStart", "preStop"):
            if hook in lifecycle:
                errs += _handler(_dict(lifecycle, hook), grace, f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in container:
            errs += _probe(_dict(container, kind), grace, f"{path}.{kind}", kind)
    return errs


def _security_context(context: dict, path: str) -> Errors:
    errs: Errors = []
    for name in ("runAsUser", "runAsGroup"):
        value = context.get(name)
        if isinstance(value, int) and not 0 <= value <= 0xFFFFFFFF:
            errs.append(invalid_value(f"{path}.{name}", value, inclusive_range(0, 4294967295)))
    mount = context.get("procMount")
    if mount is not None and mount not in ("Default", "Unmasked"):
        errs.append(not_supported(f"{path}.procMount", mount, ["Default", "Unmasked"]))
    seccomp = _dict(context, "seccompProfile")
    if seccomp:
        errs += _seccomp(seccomp, f"{path}.seccompProfile")
    if context.get("allowPrivilegeEscalation") is False and context.get("privileged") is True:
        detail = "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
        errs.append(invalid_value(path, context, detail))
    return errs


def _seccomp(profile: dict, path: str) -> Errors:
    kind = _str(profile, "type")
    supported = ["Localhost", "RuntimeDefault", "Unconfined"]
    errs: Errors = []
    if not kind:
        errs.append(required(f"{path}.type"))
    elif kind not in supported:
        errs.append(not_supported(f"{path}.type", kind, supported))
    if kind == "Localhost":
        if "localhostProfile" not in profile:
            errs.append(required(f"{path}.localhostProfile", "must be set when seccomp type is Localhost"))
        else:
            errs += _local_descending_path(_str(profile, "localhostProfile"), f"{path}.localhostProfile")
    elif "localhostProfile" in profile:
        detail = "can only be set when seccomp type is Localhost"
        errs.append(invalid_value(f"{path}.localhostProfile", profile, detail))
    return errs


def _container_common(container: dict, volumes: dict[str, dict], path: str, restart_policy: str) -> Errors:
    errs: Errors = []
    name = _str(container, "name")
    if not name:
        errs.append(required(f"{path}.name"))
    else:
        errs += [invalid_value(f"{path}.name", name, m) for m in is_dns1123_label(name)]
    if not _str(container, "image"):
        errs.append(required(f"{path}.image"))
    policy = _str(container, "terminationMessagePolicy")
    if not policy:
        errs.append(required(f"{path}.terminationMessagePolicy"))
    elif policy not in ("File", "FallbackToLogsOnError"):
        errs.append(not_supported(f"{path}.terminationMessagePolicy", policy, ["File", "FallbackToLogsOnError"]))
    errs += _container_ports(_list(container, "ports"), f"{path}.ports")
    errs += _env(_list(container, "env"), f"{path}.env")
    errs += _env_from(_list(container, "envFrom"), f"{path}.envFrom")
    errs += _volume_mounts(container, volumes, f"{path}.volumeMounts")
    pull = _str(container, "imagePullPolicy")
    if not pull:
        errs.append(required(f"{path}.imagePullPolicy"))
    elif pull not in ("Always", "IfNotPresent", "Never"):
        errs.append(not_supported(f"{path}.imagePullPolicy", pull, ["Always", "IfNotPresent", "Never"]))
    errs += validate_resource_requirements(_dict(container, "resources"), f"{path}.resources")
    errs += _resize_policy(_list(container, "resizePolicy"), f"{path}.resizePolicy", restart_policy)
    return errs + _security_context(_dict(container, "securityContext"), f"{path}.securityContext")


def _resize_policy(policies: list[dict], path: str, restart_policy: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for i, policy in enumerate(policies):
        resource, restart = _str(policy, "resourceName"), _str(policy, "restartPolicy")
        if resource in seen:
            errs.append(duplicate(f"{path}[{i}]", resource))
        seen.add(resource)
        if not resource:
            errs.append(required(path))
        elif resource not in ("cpu", "memory"):
            errs.append(not_supported(path, resource, ["cpu", "memory"]))
        if not restart:
            errs.append(required(path))
        elif restart not in ("NotRequired", "RestartContainer"):
            errs.append(not_supported(path, restart, ["NotRequired", "RestartContainer"]))
        if restart_policy == "Never" and restart != "NotRequired":
            errs.append(invalid_value(path, restart, "must be 'NotRequired' when `restartPolicy` is 'Never'"))
    return errs


def _host_port_conflicts(containers: list[dict], path: str) -> Errors:
    errs: Errors = []
    seen: set[str] = set()
    for ci, container in enumerate(containers):
        for pi, port in enumerate(_list(container, "ports")):
            host_port = port.get("hostPort") or 0
            if not host_port:
                continue
            key = f"{_str(port, 'protocol')}/{_str(port, 'hostIP')}/{host_port}"
            if key in seen:
                errs.append(duplicate(f"{path}[{ci}].ports[{pi}].hostPort", key))
            seen.add(key)
    return errs


def _containers(spec: dict, volumes: dict[str, dict], grace: int | None, path: str) -> Errors:
    containers = _list(spec, "containers")
    if not containers:
        return [required(path)]
    restart_policy = _str(spec, "restartPolicy")
    errs: Errors = []
    names: set[str] = set()
    for i, container in enumerate(containers):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, restart_policy)
        name = _str(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        names.add(name)
        errs += _probes_and_lifecycle(container, grace, at)
        if "restartPolicy" in container:
            errs.append(forbidden(f"{at}.restartPolicy", "may not be set for non-init containers"))
    return errs + _host_port_conflicts(containers, path)


def _init_containers(spec: dict, volumes: dict[str, dict], grace: int | None, path: str) -> Errors:
    errs: Errors = []
    names = {_str(c, "name") for c in _list(spec, "containers")}
    restart_policy = _str(spec, "restartPolicy")
    for i, container in enumerate(_list(spec, "initContainers")):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, restart_policy)
        restart_always = False
        if "restartPolicy" in container:
            policy = container.get("restartPolicy")
            if policy != "Always":
                errs.append(not_supported(f"{at}.restartPolicy", policy, ["Always"]))
            restart_always = policy == "Always"
        name = _str(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        elif name:
            names.add(name)
        errs += _host_port_conflicts([container], path)
        if restart_always:
            errs += _probes_and_lifecycle(container, grace, at)
        else:
            for kind in ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe"):
                if kind in container:
                    detail = "may not be set for init containers without restartPolicy=Always"
                    errs.append(forbidden(f"{at}.{kind}", detail))
    return errs


_EPHEMERAL_FORBIDDEN = ("ports", "resources", "lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def _ephemeral_containers(spec: dict, volumes: dict[str, dict], path: str) -> Errors:
    errs: Errors = []
    others = {_str(c, "name") for c in [*_list(spec, "containers"), *_list(spec, "initContainers")]}
    names = set(others)
    for i, container in enumerate(_list(spec, "ephemeralContainers")):
        at = f"{path}[{i}]"
        errs += _container_common(container, volumes, at, _str(spec, "restartPolicy"))
        errs += _image_whitespace(container, at)
        name = _str(container, "name")
        if name in names:
            errs.append(duplicate(f"{at}.name", name))
        names.add(name)
        target = _str(container, "targetContainerName")
        if target and target not in others:
            errs.append(not_found_value(f"{at}.targetContainerName", target))
        for field in _EPHEMERAL_FORBIDDEN:
            if container.get(field) not in (None, {}, []):
                errs.append(forbidden(f"{at}.{field}", "cannot be set for an Ephemeral Container"))
        for j, mount in enumerate(_list(container, "volumeMounts")):
            for field in ("subPath", "subPathExpr"):
                if _str(mount, field):
                    detail = "cannot be set for an Ephemeral Container"
                    errs.append(forbidden(f"{at}.volumeMounts[{j}].{field}", detail))
    return errs


def _image_whitespace(container: dict, path: str) -> Errors:
    image = _str(container, "image")
    if image != image.strip():
        return [invalid_value(f"{path}.image", image, "must not have leading or trailing whitespace")]
    return []


def _tolerations(tolerations: list[dict], path: str) -> Errors:
    errs: Errors = []
    for i, toleration in enumerate(tolerations):
        at = f"{path}[{i}]"
        key, operator, effect = (
            _str(toleration, "key"),
            _str(toleration, "operator"),
            _str(toleration, "effect"),
        )
        value = _str(toleration, "value")
        if key:
            errs += [invalid_value(f"{at}.key", key, m) for m in is_qualified_name(key)]
        if not key and operator != "Exists":
            detail = 'operator must be Exists when `key` is empty, which means "match all values and all keys"'
            errs.append(invalid_value(f"{at}.operator", operator, detail))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            detail = "effect must be 'NoExecute' when `tolerationSeconds` is set"
            errs.append(invalid_value(f"{at}.effect", effect, detail))
        if operator in ("Equal", ""):
            messages = is_label_value(value)
            if messages:
                errs.append(invalid_value(f"{at}.operator", value, ";".join(messages)))
        elif operator == "Exists":
            if value:
                detail = "value must be empty when `operator` is 'Exists'"
                errs.append(invalid_value(f"{at}.operator", value, detail))
        else:
            errs.append(not_supported(f"{at}.operator", operator, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{at}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def _pod_security_context(context: dict, path: str) -> Errors:
    errs: Errors = []
    for name in ("fsGroup", "runAsUser", "runAsGroup"):
        value = context.get(name)
        if isinstance(value, int) and not 0 <= value <= 0xFFFFFFFF:
            errs.append(invalid_value(f"{path}.{name}", value, inclusive_range(0, 4294967295)))
    for i, gid in enumerate(context.get("supplementalGroups") or []):
        if isinstance(gid, int) and not 0 <= gid <= 0xFFFFFFFF:
            errs.append(invalid_value(f"{path}.supplementalGroups[{i}]", gid, inclusive_range(0, 4294967295)))
    policy = context.get("fsGroupChangePolicy")
    if policy is not None and policy not in ("Always", "OnRootMismatch"):
        errs.append(not_supported(f"{path}.fsGroupChangePolicy", policy, ["Always", "OnRootMismatch"]))
    seccomp = _dict(context, "seccompProfile")
    if seccomp:
        errs += _seccomp(seccomp, f"{path}.seccompProfile")
    return errs


def _dns_config(spec: dict, path: str) -> Errors:
    policy = _str(spec, "dnsPolicy")
    config = spec.get("dnsConfig")
    if policy == "None":
        if not isinstance(config, dict):
            return [required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not _strings(config, "nameservers"):
            detail = "must provide at least one DNS nameserver when `dnsPolicy` is None"
            return [required(f"{path}.nameservers", detail)]
    if not isinstance(config, dict):
        return []
    errs: Errors = []
    servers = _strings(config, "nameservers")
    if len(servers) > 3:
        errs.append(
            go_invalid(f"{path}.nameservers", _go_string_slice(servers), "must not have more than 3 nameservers")
        )
    for i, server in enumerate(servers):
        errs += _valid_ip(f"{path}.nameservers[{i}]", server)
    searches = _strings(config, "searches")
    if len(searches) > 32:
        detail = "must not have more than 32 search paths"
        errs.append(go_invalid(f"{path}.searches", _go_string_slice(searches), detail))
    for i, search in enumerate(searches):
        if search != ".":
            errs += [
                invalid_value(f"{path}.searches[{i}]", search.removesuffix("."), m)
                for m in _dns_subdomain_with_underscore(search.removesuffix("."))
            ]
    for i, option in enumerate(_list(config, "options")):
        if not _str(option, "name"):
            errs.append(required(f"{path}.options[{i}]", "must not be empty"))
    return errs


def _dns_subdomain_with_underscore(value: str) -> list[str]:
    label = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
    fmt = label + "(\\." + label + ")*"
    errs = [_max_len(253)] if _byte_len(value) > 253 else []
    if not re.fullmatch(fmt, value):
        msg = (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' "
            "or '.', "
            "and must start and end with an alphanumeric character"
        )
        errs.append(regex_error(msg, fmt, "example.com"))
    return errs


def validate_pod_spec(spec: dict, pod_name: str, path: str = "spec") -> Errors:
    """ValidatePodSpec, in the order the server checks the fields."""
    errs: Errors = []
    if spec.get("terminationGracePeriodSeconds") is None:
        errs.append(required(f"{path}.terminationGracePeriodSeconds"))
    grace = spec.get("terminationGracePeriodSeconds")
    volumes, volume_errs = validate_volumes(_list(spec, "volumes"), f"{path}.volumes", pod_name)
    errs += volume_errs
    errs += _containers(spec, volumes, grace, f"{path}.containers")
    errs += _init_containers(spec, volumes, grace, f"{path}.initContainers")
    errs += _ephemeral_containers(spec, volumes, f"{path}.ephemeralContainers")
    if spec.get("hostNetwork") is True:
        for ci, container in enumerate(_list(spec, "containers")):
            for pi, port in enumerate(_list(container, "ports")):
                if (port.get("hostPort") or 0) != (port.get("containerPort") or 0):
                    errs.append(
                        invalid_value(
                            f"{path}.containers[{ci}].ports[{pi}].hostPort",
                            port.get("hostPort") or 0,
                            "must match `containerPort` when `hostNetwork` is true",
                        )
                    )
    restart = _str(spec, "restartPolicy")
    if not restart:
        errs.append(required(f"{path}.restartPolicy"))
    elif restart not in ("Always", "OnFailure", "Never"):
        errs.append(not_supported(f"{path}.restartPolicy", restart, ["Always", "OnFailure", "Never"]))
    dns = _str(spec, "dnsPolicy")
    dns_policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]
    if not dns:
        errs.append(required(f"{path}.dnsPolicy"))
    elif dns not in dns_policies:
        errs.append(not_supported(f"{path}.dnsPolicy", dns, dns_policies))
    errs += validate_labels(_dict(spec, "nodeSelector"), f"{path}.nodeSelector")
    errs += _pod_security_context(_dict(spec, "securityContext"), f"{path}.securityContext")
    for i, secret in enumerate(_list(spec, "imagePullSecrets")):
        if set(secret) - {"name"}:
            errs.append(invalid_value(f"{path}.imagePullSecrets[{i}]", secret, "only name may be set"))
    errs += _dns_config(spec, f"{path}.dnsConfig")
    for i, gate in enumerate(_list(spec, "readinessGates")):
        condition = _str(gate, "conditionType")
        at = f"{path}.readinessGates[{i}].conditionType"
        errs += [invalid_value(at, condition, m) for m in is_qualified_name(condition)]
    seen_gates: set[str] = set()
    for i, gate in enumerate(_list(spec, "schedulingGates")):
        name = _str(gate, "name")
        errs += [invalid_value(f"{path}.schedulingGates[{i}]", name, m) for m in is_qualified_name(name)]
        if name in seen_gates:
            errs.append(duplicate(f"{path}.schedulingGates[{i}]", name))
        seen_gates.add(name)
    account = _str(spec, "serviceAccountName")
    if account:
        errs += [invalid_value(f"{path}.serviceAccountName", account, m) for m in name_is_dns_subdomain(account, False)]
    node = _str(spec, "nodeName")
    if node:
        errs += [invalid_value(f"{path}.nodeName", node, m) for m in name_is_dns_subdomain(node, False)]
    deadline = spec.get("activeDeadlineSeconds")
    if isinstance(deadline, int) and not 1 <= deadline <= 2**31 - 1:
        errs.append(invalid_value(f"{path}.activeDeadlineSeconds", deadline, inclusive_range(1, 2147483647)))
    for name in ("hostname", "subdomain"):
        value = _str(spec, name)
        if value:
            errs += [invalid_value(f"{path}.{name}", value, m) for m in is_dns1123_label(value)]
    errs += _tolerations(_list(spec, "tolerations"), f"{path}.tolerations")
    for i, alias in enumerate(_list(spec, "hostAliases")):
        errs += _valid_ip(f"{path}.hostAliases[{i}].ip", _str(alias, "ip"))
        for j, host in enumerate(_strings(alias, "hostnames")):
            at = f"{path}.hostAliases[{i}].hostnames[{j}]"
            errs += [invalid_value(at, host, m) for m in is_dns1123_subdomain(host)]
    priority_class = _str(spec, "priorityClassName")
    if priority_class:
        at = f"{path}.priorityClassName"
        errs += [invalid_value(at, priority_class, m) for m in name_is_dns_subdomain(priority_class, False)]
    runtime_class = spec.get("runtimeClassName")
    if isinstance(runtime_class, str):
        at = f"{path}.runtimeClassName"
        errs += [invalid_value(at, runtime_class, m) for m in name_is_dns_subdomain(runtime_class, False)]
    preemption = spec.get("preemptionPolicy")
    if preemption is not None:
        if preemption == "":
            errs.append(required(f"{path}.preemptionPolicy"))
        elif preemption not in ("PreemptLowerPriority", "Never"):
            errs.append(not_supported(f"{path}.preemptionPolicy", preemption, ["PreemptLowerPriority", "Never"]))
    if "overhead" in spec:
        errs += validate_resource_requirements({"limits": _dict(spec, "overhead")}, f"{path}.overhead")
    if "os" in spec:
        os_name = _str(_dict(spec, "os"), "name")
        if not os_name:
            errs.append(required(f"{path}.os.name"))
        elif os_name not in ("linux", "windows"):
            errs.append(not_supported(f"{path}.os.name", os_name, ["linux", "windows"]))
    return errs


def _pod_annotations(annotations: dict, path: str) -> Errors:
    cost = annotations.get("controller.kubernetes.io/pod-deletion-cost")
    if cost is None:
        return []
    if re.fullmatch(r"[+-]?\d+", cost.strip() if isinstance(cost, str) else "") and -(2**31) <= int(cost) < 2**31:
        return []
    return [invalid_value(_key(path, "controller.kubernetes.io/pod-deletion-cost"), cost, "must be a 32bit integer")]


def _pod_metadata_and_spec(pod: dict) -> Errors:
    meta, spec = _dict(pod, "metadata"), _dict(pod, "spec")
    errs = validate_object_meta(meta, True, name_is_dns_subdomain)
    errs += _pod_annotations(_dict(meta, "annotations"), "metadata.annotations")
    errs += validate_pod_spec(spec, _str(meta, "name"))
    if not _str(spec, "serviceAccountName"):
        for vi, volume in enumerate(_list(spec, "volumes")):
            for si, source in enumerate(_list(_dict(volume, "projected"), "sources")):
                if "serviceAccountToken" in source:
                    at = f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"
                    errs.append(forbidden(at, "must not be specified when serviceAccountName is not set"))
    for kind in ("containers", "initContainers"):
        for i, container in enumerate(_list(spec, kind)):
            errs += _image_whitespace(container, f"spec.{kind}[{i}]")
    return errs


def _validate_pod(pod: dict) -> Errors:
    errs = _pod_metadata_and_spec(pod)
    spec = _dict(pod, "spec")
    if _list(spec, "ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if _str(spec, "nodeName") and _list(spec, "schedulingGates"):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


def _container_updates(new: list[dict], old: list[dict], path: str) -> tuple[Errors, bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: Errors = []
    for i, container in enumerate(new):
        if not _str(container, "image"):
            errs.append(required(f"{path}[{i}].image"))
        errs += _image_whitespace(container, f"{path}[{i}]")
    return errs, False


def _only_added_tolerations(new: list[dict], old: list[dict], path: str) -> Errors:
    for existing in old:
        stripped = {k: v for k, v in existing.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == stripped for t in new):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return _tolerations(new, path)


def spec_diff(old: dict, new: dict, go_type: str) -> str:
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


def _validate_pod_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    errs += _pod_metadata_and_spec(new)
    new_spec, old_spec = _dict(new, "spec"), _dict(old, "spec")
    for kind in ("containers", "initContainers"):
        update_errs, stop = _container_updates(_list(new_spec, kind), _list(old_spec, kind), f"spec.{kind}")
        errs += update_errs
        if stop:
            return errs
    deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is not None:
        if not 0 <= deadline <= 2**31 - 1:
            errs.append(invalid_value("spec.activeDeadlineSeconds", deadline, inclusive_range(0, 2147483647)))
            return errs
        if old_deadline is not None and old_deadline < deadline:
            detail = "must be less than or equal to previous value"
            errs.append(invalid_value("spec.activeDeadlineSeconds", deadline, detail))
            return errs
    elif old_deadline is not None:
        detail = "must not update from a positive integer to nil value"
        errs.append(invalid_value("spec.activeDeadlineSeconds", None, detail))
    errs += _only_added_tolerations(_list(new_spec, "tolerations"), _list(old_spec, "tolerations"), "spec.tolerations")
    new_gates = {_str(g, "name"): i for i, g in enumerate(_list(new_spec, "schedulingGates"))}
    for gate, i in new_gates.items():
        if gate not in {_str(g, "name") for g in _list(old_spec, "schedulingGates")}:
            detail = f"only deletion is allowed, but found new scheduling gate '{gate}'"
            errs.append(forbidden(f"spec.schedulingGates[{i}].name", detail))
    if new_spec == old_spec:
        return errs
    munged = json.loads(json.dumps(new_spec))
    for kind in ("containers", "initContainers"):
        for container, previous in zip(munged.get(kind) or [], old_spec.get(kind) or [], strict=False):
            if isinstance(container, dict) and isinstance(previous, dict):
                if "image" in previous:
                    container["image"] = previous["image"]
                else:
                    container.pop("image", None)
    for name in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        munged.pop(name, None)
        if name in old_spec:
            munged[name] = old_spec[name]
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if munged != old_spec:
        detail = f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n" + spec_diff(
            old_spec, munged, "core.PodSpec"
        )
        errs.append(forbidden("spec", detail))
    return errs


# --- other kinds ----------------------------------------------------------------------------------------

_MAX_SECRET_SIZE = 1024 * 1024


def _decoded_length(value: Any) -> int:
    try:
        return len(base64.b64decode(value if isinstance(value, str) else "", validate=False))
    except (binascii.Error, ValueError):
        return 0


def _validate_config_map(cm: dict) -> Errors:
    errs = validate_object_meta(_dict(cm, "metadata"), True, name_is_dns_subdomain)
    data, binary = _dict(cm, "data"), _dict(cm, "binaryData")
    size = 0
    for key, value in data.items():
        errs += [invalid_value(_key("data", key), key, m) for m in is_config_map_key(key)]
        if key in binary:
            errs.append(invalid_value(_key("data", key), key, "duplicate of key present in binaryData"))
        size += _byte_len(value if isinstance(value, str) else "")
    for key, value in binary.items():
        errs += [invalid_value(_key("binaryData", key), key, m) for m in is_config_map_key(key)]
        size += _decoded_length(value)
    if size > _MAX_SECRET_SIZE:
        errs.append(too_long("", _MAX_SECRET_SIZE))
    return errs


def _immutable_data(new: dict, old: dict, fields: tuple[str, ...]) -> Errors:
    errs: Errors = []
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        for name in fields:
            if (new.get(name) or {}) != (old.get(name) or {}):
                errs.append(forbidden(name, "field is immutable when `immutable` is set"))
    return errs


def _validate_config_map_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    errs += _immutable_data(new, old, ("data", "binaryData"))
    return errs + _validate_config_map(new)


_SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def _validate_secret(secret: dict) -> Errors:
    meta = _dict(secret, "metadata")
    errs = validate_object_meta(meta, True, name_is_dns_subdomain)
    data = _dict(secret, "data")
    size = 0
    for key, value in data.items():
        errs += [invalid_value(_key("data", key), key, m) for m in is_config_map_key(key)]
        size += _decoded_length(value)
    if size > _MAX_SECRET_SIZE:
        errs.append(too_long("data", _MAX_SECRET_SIZE))
    kind = _str(secret, "type")
    if kind == "kubernetes.io/service-account-token":
        if not _str(_dict(meta, "annotations"), "kubernetes.io/service-account.name"):
            errs.append(required(_key("metadata.annotations", "kubernetes.io/service-account.name")))
    elif kind in ("kubernetes.io/dockercfg", "kubernetes.io/dockerconfigjson"):
        key = _SECRET_REQUIRED_KEYS[kind][0]
        if key not in data:
            errs.append(required(_key("data", key)))
        else:
            try:
                parsed = json.loads(base64.b64decode(data[key]))
            except (ValueError, binascii.Error) as err:
                errs.append(invalid_value(_key("data", key), "<secret contents redacted>", str(err)))
            else:
                if not isinstance(parsed, dict):
                    kind_name = "array" if isinstance(parsed, list) else type(parsed).__name__
                    detail = f"json: cannot unmarshal {kind_name} into Go value of type map[string]interface {{}}"
                    errs.append(invalid_value(_key("data", key), "<secret contents redacted>", detail))
    elif kind == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs += [required(_key("data", "username")), required(_key("data", "password"))]
    elif kind == "kubernetes.io/ssh-auth":
        if not _decoded_length(data.get("ssh-privatekey")):
            errs.append(required(_key("data", "ssh-privatekey")))
    elif kind == "kubernetes.io/tls":
        errs += [required(_key("data", key)) for key in _SECRET_REQUIRED_KEYS[kind] if key not in data]
    return errs


def _validate_secret_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    errs += _immutable(_str(new, "type"), _str(old, "type"), "type")
    errs += _immutable_data(new, old, ("data",))
    return errs + _validate_secret(new)


def _validate_service_account(account: dict) -> Errors:
    return validate_object_meta(_dict(account, "metadata"), True, name_is_dns_subdomain)


def _validate_service_account_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    return errs + _validate_service_account(new)


def _validate_namespace(namespace: dict) -> Errors:
    errs = validate_object_meta(_dict(namespace, "metadata"), False, name_is_dns_label)
    for finalizer in _strings(_dict(namespace, "spec"), "finalizers"):
        errs += [invalid_value("spec.finalizers", finalizer, m) for m in is_qualified_name(finalizer)]
        if "/" not in finalizer and finalizer not in _STANDARD_FINALIZERS:
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            errs.append(invalid_value("spec.finalizers", finalizer, detail))
    return errs


def _validate_namespace_update(new: dict, old: dict) -> Errors:
    return validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))


def _validate_node(node: dict) -> Errors:
    errs = validate_object_meta(_dict(node, "metadata"), False, name_is_dns_subdomain)
    spec = _dict(node, "spec")
    for i, taint in enumerate(_list(spec, "taints")):
        at = f"spec.taints[{i}]"
        key = _str(taint, "key")
        errs += [invalid_value(f"{at}.key", key, m) for m in is_qualified_name(key)]
        errs += [invalid_value(f"{at}.value", _str(taint, "value"), m) for m in is_label_value(_str(taint, "value"))]
        effect = _str(taint, "effect")
        if not effect:
            errs.append(required(f"{at}.effect"))
        elif effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errs.append(not_supported(f"{at}.effect", effect, ["NoSchedule", "PreferNoSchedule", "NoExecute"]))
    return errs


def _validate_node_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    return errs + _validate_node(new)


_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def validate_pvc_spec(spec: dict, path: str = "spec") -> Errors:
    """ValidatePersistentVolumeClaimSpec: access modes, storage request, class and volume mode."""
    errs: Errors = []
    modes = _strings(spec, "accessModes")
    if not modes:
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    selector = _dict(spec, "selector")
    if selector:
        errs += validate_labels(_dict(selector, "matchLabels"), f"{path}.selector.matchLabels")
    for mode in modes:
        if mode not in _ACCESS_MODES:
            errs.append(not_supported(f"{path}.accessModes", mode, _ACCESS_MODES))
    if "ReadWriteOncePod" in modes and any(m in _ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
        errs.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    requests = _dict(_dict(spec, "resources"), "requests")
    storage_path = _key(f"{path}.resources", "storage")
    if "storage" not in requests:
        errs.append(required(storage_path))
    elif _quantity(requests["storage"]) <= 0:
        errs.append(invalid_value(storage_path, _quantity_text(requests["storage"]), "must be greater than zero"))
    storage_class = spec.get("storageClassName")
    if isinstance(storage_class, str) and storage_class:
        at = f"{path}.storageClassName"
        errs += [invalid_value(at, storage_class, m) for m in name_is_dns_subdomain(storage_class, False)]
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{path}.volumeMode", mode, ["Block", "Filesystem"]))
    return errs


def _validate_pvc(pvc: dict) -> Errors:
    errs = validate_object_meta(_dict(pvc, "metadata"), True, name_is_dns_subdomain)
    return errs + validate_pvc_spec(_dict(pvc, "spec"))


def _validate_pvc_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    errs += _validate_pvc(new)
    new_spec = json.loads(json.dumps(_dict(new, "spec")))
    old_spec = json.loads(json.dumps(_dict(old, "spec")))
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        if "volumeName" in new_spec:
            old_spec["volumeName"] = new_spec["volumeName"]
    bound = _str(_dict(new, "status"), "phase") == "Bound"
    if bound:
        new_requests = _dict(_dict(new_spec, "resources"), "requests")
        old_storage = _dict(_dict(old_spec, "resources"), "requests").get("storage")
        if new_requests and old_storage is not None:
            new_requests["storage"] = old_storage
        new_spec.pop("volumeAttributesClassName", None)
        if "volumeAttributesClassName" in old_spec:
            new_spec["volumeAttributesClassName"] = old_spec["volumeAttributesClassName"]
    if new_spec != old_spec:
        detail = (
            "spec is immutable after creation except resources.requests and volumeAttributesClassName "
            "for bound claims\n" + spec_diff(old_spec, new_spec, "core.PersistentVolumeClaimSpec")
        )
        errs.append(forbidden("spec", detail))
    new_size = _quantity(_dict(_dict(_dict(new, "spec"), "resources"), "requests").get("storage", "0"))
    old_size = _quantity(_dict(_dict(_dict(old, "spec"), "resources"), "requests").get("storage", "0"))
    capacity = _quantity(_dict(_dict(old, "status"), "capacity").get("storage", "0"))
    if new_size < old_size and new_size <= capacity:
        errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    errs += _immutable(_dict(new, "spec").get("volumeMode"), _dict(old, "spec").get("volumeMode"), "volumeMode")
    return errs


def _is_headless(service: dict) -> bool:
    spec = _dict(service, "spec")
    return _str(spec, "clusterIP") == "None"


def _go_service_port(protocol: str, port: int) -> str:
    return (
        f'core.ServicePort{{Name:"", Protocol:{json.dumps(protocol)}, AppProtocol:(*string)(nil), '
        f"Port:{port}, "
        'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
    )


def _service_port(port: dict, require_name: bool, names: set[str], path: str) -> Errors:
    errs: Errors = []
    name = _str(port, "name")
    if require_name and not name:
        errs.append(required(f"{path}.name"))
    elif name:
        errs += [invalid_value(f"{path}.name", name, m) for m in is_dns1123_label(name)]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(name)
    number = port.get("port") or 0
    errs += [invalid_value(f"{path}.port", number, m) for m in is_port_num(number)]
    protocol = _str(port, "protocol")
    if not protocol:
        errs.append(required(f"{path}.protocol"))
    elif protocol not in ("SCTP", "TCP", "UDP"):
        errs.append(not_supported(f"{path}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
    errs += _int_or_string_port(port.get("targetPort", 0), f"{path}.targetPort")
    app_protocol = port.get("appProtocol")
    if isinstance(app_protocol, str):
        errs += [invalid_value(f"{path}.appProtocol", app_protocol, m) for m in is_qualified_name(app_protocol)]
    return errs


_SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]


def _validate_service(service: dict) -> Errors:
    errs = validate_object_meta(_dict(service, "metadata"), True, name_is_dns1035_label)
    spec = _dict(service, "spec")
    kind = _str(spec, "type")
    ports = _list(spec, "ports")
    headless = _is_headless(service)
    if not ports and not headless and kind != "ExternalName":
        errs.append(required("spec.ports"))
    cluster_ips = _strings(spec, "clusterIPs")
    if kind in ("LoadBalancer", "NodePort") and headless and cluster_ips:
        detail = f"may not be set to 'None' for {kind} services"
        errs.append(invalid_value("spec.clusterIPs[0]", cluster_ips[0], detail))
    elif kind == "ExternalName":
        if cluster_ips:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
        if _strings(spec, "ipFamilies"):
            errs.append(forbidden("spec.ipFamilies", "may not be set for ExternalName services"))
        if spec.get("ipFamilyPolicy") is not None:
            errs.append(forbidden("spec.ipFamilyPolicy", "may not be set for ExternalName services"))
        cname = _str(spec, "externalName").removesuffix(".")
        if cname:
            errs += [invalid_value("spec.externalName", cname, m) for m in is_dns1123_subdomain(cname)]
        else:
            errs.append(required("spec.externalName"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _service_port(port, len(ports) > 1, names, f"spec.ports[{i}]")
    if "selector" in spec:
        errs += validate_labels(_dict(spec, "selector"), "spec.selector")
    affinity = _str(spec, "sessionAffinity")
    if not affinity:
        errs.append(required("spec.sessionAffinity"))
    elif affinity not in ("ClientIP", "None"):
        errs.append(not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    if affinity == "ClientIP":
        timeout = _dict(_dict(spec, "sessionAffinityConfig"), "clientIP").get("timeoutSeconds")
        if timeout is None:
            at = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            errs.append(required(at, "when session affinity type is ClientIP"))
        elif not 0 < timeout <= 86400:
            at = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
            errs.append(invalid_value(at, timeout, "must be greater than 0 and less than 86400"))
    elif affinity == "None" and spec.get("sessionAffinityConfig") is not None:
        errs.append(forbidden("spec.sessionAffinityConfig", "must not be set when session affinity is None"))
    for i, ip in enumerate(cluster_ips):
        if ip != "None" and not _is_ip(ip):
            detail = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            errs.append(invalid_value(f"spec.clusterIPs[{i}]", ip, detail))
    for i, ip in enumerate(_strings(spec, "externalIPs")):
        errs += _valid_ip(f"spec.externalIPs[{i}]", ip)
    if not kind:
        errs.append(required("spec.type"))
    elif kind not in _SERVICE_TYPES:
        errs.append(not_supported("spec.type", kind, _SERVICE_TYPES))
    if kind == "ClusterIP":
        for i, port in enumerate(ports):
            if port.get("nodePort"):
                errs.append(forbidden(f"spec.ports[{i}].nodePort", "may not be used when `type` is 'ClusterIP'"))
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        if port.get("nodePort"):
            key = (_str(port, "protocol"), port["nodePort"])
            if key in node_ports:
                errs.append(duplicate(f"spec.ports[{i}].nodePort", port["nodePort"]))
            node_ports.add(key)
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (_str(port, "protocol"), port.get("port") or 0)
        if key in seen:
            errs.append(go_duplicate(f"spec.ports[{i}]", _go_service_port(*key)))
        seen.add(key)
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        detail = "may only be used when `type` is 'LoadBalancer'"
        errs.append(forbidden("spec.allocateLoadBalancerNodePorts", detail))
    if kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        errs.append(required("allocateLoadBalancerNodePorts"))
    external = kind in ("NodePort", "LoadBalancer") or bool(_strings(spec, "externalIPs"))
    policy = _str(spec, "externalTrafficPolicy")
    if not external and policy:
        detail = "may only be set for externally-accessible services"
        errs.append(invalid_value("spec.externalTrafficPolicy", policy, detail))
    elif external and not policy:
        errs.append(required("spec.externalTrafficPolicy"))
    elif external and policy not in ("Cluster", "Local"):
        errs.append(not_supported("spec.externalTrafficPolicy", policy, ["Cluster", "Local"]))
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(required("spec.internalTrafficPolicy"))
    if internal is not None and internal not in ("Cluster", "Local"):
        errs.append(not_supported("spec.internalTrafficPolicy", internal, ["Cluster", "Local"]))
    return errs


def _validate_service_update(new: dict, old: dict) -> Errors:
    errs = validate_object_meta_update(_dict(new, "metadata"), _dict(old, "metadata"))
    new_spec, old_spec = _dict(new, "spec"), _dict(old, "spec")
    if "ExternalName" not in (_str(new_spec, "type"), _str(old_spec, "type")) and not (
        _is_headless(new) and _is_headless(old)
    ):
        new_ips, old_ips = _strings(new_spec, "clusterIPs"), _strings(old_spec, "clusterIPs")
        rendered = _go_string_slice(new_ips)
        if len(new_ips) == len(old_ips):
            for i, ip in enumerate(old_ips):
                if ip != new_ips[i]:
                    errs.append(go_invalid(f"spec.clusterIPs[{i}]", rendered, "may not change once set"))
        elif not new_ips:
            errs.append(go_invalid("spec.clusterIPs[0]", "[]string(nil)", "primary clusterIP can not be unset"))
        elif old_ips and new_ips[0] != old_ips[0]:
            errs.append(go_invalid("spec.clusterIPs[0]", rendered, "may not change once set"))
    return errs + _validate_service(new)


def _validate_event(event: dict) -> Errors:
    meta = _dict(event, "metadata")
    namespace = _str(meta, "namespace")
    involved = _dict(event, "involvedObject")
    involved_ns = _str(involved, "namespace")
    errs: Errors = []
    if not event.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(invalid_value("involvedObject.namespace", involved_ns, "does not match event.namespace"))
        elif namespace != involved_ns:
            errs.append(invalid_value("involvedObject.namespace", involved_ns, "does not match event.namespace"))
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(invalid_value("involvedObject.namespace", involved_ns, "does not match event.namespace"))
        controller = _str(event, "reportingComponent")
        if not controller:
            errs.append(required("reportingComponent"))
        errs += [invalid_value("reportingComponent", controller, m) for m in is_qualified_name(controller)]
        limits = (("reportingInstance", 128), ("action", 128), ("reason", 128))
        for name, limit in limits:
            value = _str(event, name)
            if not value:
                errs.append(required(name))
            if len(value) > limit:
                errs.append(invalid_value(name, "", f"can have at most {limit} characters"))
        if len(_str(event, "message")) > 1024:
            errs.append(invalid_value("message", "", "can have at most 1024 characters"))
    errs += [invalid_value("namespace", namespace, m) for m in is_dns1123_subdomain(namespace)]
    return errs


def _validate_event_update(new: dict, old: dict) -> Errors:
    return _validate_event(new)


def _validate_binding(binding: dict) -> Errors:
    target = _dict(binding, "target")
    errs: Errors = []
    kind = _str(target, "kind")
    if kind and kind != "Node":
        errs.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not _str(target, "name"):
        errs.append(required("target.name"))
    return errs


_CREATE: dict[str, Callable[[dict], Errors]] = {
    "Pod": _validate_pod,
    "ConfigMap": _validate_config_map,
    "Secret": _validate_secret,
    "ServiceAccount": _validate_service_account,
    "Namespace": _validate_namespace,
    "Node": _validate_node,
    "PersistentVolumeClaim": _validate_pvc,
    "Service": _validate_service,
    "Event": _validate_event,
}
_UPDATE: dict[str, Callable[[dict, dict], Errors]] = {
    "Pod": _validate_pod_update,
    "ConfigMap": _validate_config_map_update,
    "Secret": _validate_secret_update,
    "ServiceAccount": _validate_service_account_update,
    "Namespace": _validate_namespace_update,
    "Node": _validate_node_update,
    "PersistentVolumeClaim": _validate_pvc_update,
    "Service": _validate_service_update,
    "Event": _validate_event_update,
}
_CLUSTER_SCOPED = {"Namespace", "Node"}


def _generic_meta(kind: str, obj: dict) -> Errors:
    """The check every create and update gets after the kind's own: names usable as a URL path segment."""
    return validate_object_meta(_dict(obj, "metadata"), kind not in _CLUSTER_SCOPED, path_segment_name)


def _raise(kind: str, obj: dict, errs: Errors) -> None:
    if errs:
        raise invalid(kind, _str(_dict(obj, "metadata"), "name"), errs)


def validate_create(kind: str, obj: dict) -> None:
    """Raise the server's 422 Invalid listing every error in a new object of this kind."""
    if kind == "Binding":
        _raise_binding(_validate_binding(obj))
        return
    _raise(kind, obj, _CREATE[kind](obj))
    _raise(kind, obj, _generic_meta(kind, obj))


def validate_update(kind: str, new: dict, old: dict) -> None:
    """Raise the server's 422 Invalid listing every error in replacing `old` with `new`."""
    _raise(kind, new, _UPDATE[kind](new, old))
    _raise(kind, new, _generic_meta(kind, new))


def _raise_binding(errs: Errors) -> None:
    # The binding REST returns a bare aggregate error, which the server answers as a 500.
    if errs:
        raise aggregate(errs)


def pod_warnings(pod: dict) -> list[str]:
    """Warnings the server attaches to a pod it accepts (the one from pkg/api/pod/warnings.go we mirror)."""
    grace = _dict(pod, "spec").get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        return [
            "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
        ]
    return []
