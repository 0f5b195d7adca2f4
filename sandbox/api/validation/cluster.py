"""The cluster-scoped kinds: Namespaces and Nodes."""

from __future__ import annotations

from kubetext.formats import is_label_value, is_qualified_name
from sandbox.api.validation.fields import Errors, Object, mapping, objects, strings, text
from sandbox.api.validation.metadata import (
    STANDARD_FINALIZERS,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_object_meta,
    validate_object_meta_update,
)
from sandbox.errors import invalid_value, not_supported, required

_TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def validate_namespace(namespace: Object) -> Errors:
    """ValidateNamespace: a DNS label name, and finalizers that are standard or fully qualified."""
    errs = validate_object_meta(mapping(namespace, "metadata"), False, name_is_dns_label)
    for finalizer in strings(mapping(namespace, "spec"), "finalizers"):
        errs += [invalid_value("spec.finalizers", finalizer, m) for m in is_qualified_name(finalizer)]
        if "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            errs.append(invalid_value("spec.finalizers", finalizer, detail))
    return errs


def validate_namespace_update(new: Object, old: Object) -> Errors:
    return validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))


def _taint(taint: Object, at: str) -> Errors:
    key, value = text(taint, "key"), text(taint, "value")
    errs = [invalid_value(f"{at}.key", key, m) for m in is_qualified_name(key)]
    errs += [invalid_value(f"{at}.value", value, m) for m in is_label_value(value)]
    effect = text(taint, "effect")
    if not effect:
        errs.append(required(f"{at}.effect"))
    elif effect not in _TAINT_EFFECTS:
        errs.append(not_supported(f"{at}.effect", effect, _TAINT_EFFECTS))
    return errs


def validate_node(node: Object) -> Errors:
    """ValidateNode: the name, and taints with qualified keys, label values and a known effect."""
    errs = validate_object_meta(mapping(node, "metadata"), False, name_is_dns_subdomain)
    for i, taint in enumerate(objects(mapping(node, "spec"), "taints")):
        errs += _taint(taint, f"spec.taints[{i}]")
    return errs


def validate_node_update(new: Object, old: Object) -> Errors:
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    return errs + validate_node(new)
