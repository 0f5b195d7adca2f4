"""ObjectMeta validation (apimachinery's api/validation): name rules, labels, annotations, owners, finalizers."""

from __future__ import annotations

from collections.abc import Callable

from kubetext.formats import (
    byte_length,
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_value,
    is_qualified_name,
)
from sandbox.api.validation.fields import (
    Errors,
    Object,
    go_string_slice,
    immutable,
    mapping,
    nonnegative,
    objects,
    strings,
    text,
)
from sandbox.errors import forbidden, go_invalid, invalid_value, required, too_long

# A kind's name rule: the name (or generateName, when the flag is set) to the server's messages.
NameCheck = Callable[[str, bool], list[str]]

STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}
_ANNOTATIONS_LIMIT = 256 * 1024


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


def validate_labels(labels: Object, path: str) -> Errors:
    """ValidateLabels: every key a qualified name, every value a label value."""
    errs: Errors = []
    for key, value in labels.items():
        errs += [invalid_value(path, key, m) for m in is_qualified_name(key)]
        errs += [invalid_value(path, value, m) for m in is_label_value(value if isinstance(value, str) else "")]
    return errs


def validate_annotations(annotations: Object, path: str) -> Errors:
    """ValidateAnnotations: qualified keys (any case) and 256 KiB in all."""
    errs: Errors = []
    for key in annotations:
        errs += [invalid_value(path, key, m) for m in is_qualified_name(key.lower())]
    size = sum(byte_length(k) + byte_length(v if isinstance(v, str) else "") for k, v in annotations.items())
    if size > _ANNOTATIONS_LIMIT:
        errs.append(too_long(path, _ANNOTATIONS_LIMIT))
    return errs


def _owner_reference(ref: Object, path: str) -> Errors:
    errs: Errors = []
    api_version = text(ref, "apiVersion")
    if not api_version.rsplit("/", 1)[-1]:
        errs.append(invalid_value(f"{path}.apiVersion", api_version, "version must not be empty"))
    for name in ("kind", "name", "uid"):
        if not text(ref, name):
            errs.append(invalid_value(f"{path}.{name}", text(ref, name), "must not be empty"))
    if api_version == "v1" and text(ref, "kind") == "Event":
        errs.append(invalid_value(path, ref, "/v1, Kind=Event is disallowed from being an owner"))
    return errs


def _owner_references(refs: list[Object], path: str) -> Errors:
    errs: Errors = []
    controller = ""
    for ref in refs:
        errs += _owner_reference(ref, path)
        if ref.get("controller") is True:
            current = f"{text(ref, 'kind')}/{text(ref, 'name')}"
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
        errs.append(go_invalid(path, go_string_slice(finalizers), detail))
    return errs


def _kube_finalizers(finalizers: list[str], path: str) -> Errors:
    errs: Errors = []
    for i, finalizer in enumerate(finalizers):
        if "/" not in finalizer and finalizer not in STANDARD_FINALIZERS:
            detail = "name is neither a standard finalizer name nor is it fully qualified"
            errs.append(invalid_value(f"{path}[{i}]", finalizer, detail))
    return errs


def _names(meta: Object, namespaced: bool, name_fn: NameCheck, path: str) -> Errors:
    errs: Errors = []
    generate_name = text(meta, "generateName")
    if generate_name:
        errs += [invalid_value(f"{path}.generateName", generate_name, m) for m in name_fn(generate_name, True)]
    name = text(meta, "name")
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs += [invalid_value(f"{path}.name", name, m) for m in name_fn(name, False)]
    namespace = text(meta, "namespace")
    if namespaced:
        if not namespace:
            errs.append(required(f"{path}.namespace"))
        else:
            errs += [invalid_value(f"{path}.namespace", namespace, m) for m in name_is_dns_label(namespace, False)]
    elif namespace:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    return errs


def _labels_to_finalizers(meta: Object, path: str) -> Errors:
    """What creates and updates check alike: labels, annotations, owner references and finalizers."""
    errs = validate_labels(mapping(meta, "labels"), f"{path}.labels")
    errs += validate_annotations(mapping(meta, "annotations"), f"{path}.annotations")
    errs += _owner_references(objects(meta, "ownerReferences"), f"{path}.ownerReferences")
    finalizers = strings(meta, "finalizers")
    errs += _finalizers(finalizers, f"{path}.finalizers")
    return errs + _kube_finalizers(finalizers, f"{path}.finalizers")


def validate_object_meta(meta: Object, namespaced: bool, name_fn: NameCheck, path: str = "metadata") -> Errors:
    """ValidateObjectMeta: generateName, name, namespace, labels, annotations, owners, finalizers."""
    errs = _names(meta, namespaced, name_fn, path)
    generation = meta.get("generation")
    if isinstance(generation, int):
        errs += nonnegative(generation, f"{path}.generation")
    return errs + _labels_to_finalizers(meta, path)


def _no_finalizers_while_deleting(new: Object, old: Object, path: str) -> Errors:
    if not old.get("deletionTimestamp"):
        return []
    added = sorted(set(strings(new, "finalizers")) - set(strings(old, "finalizers")))
    if not added:
        return []
    detail = "no new finalizers can be added if the object is being deleted, found new finalizers " + go_string_slice(
        added
    )
    return [forbidden(f"{path}.finalizers", detail)]


def validate_object_meta_update(new: Object, old: Object, path: str = "metadata") -> Errors:
    """ValidateObjectMetaUpdate: identity fields are immutable; labels and the rest stay valid."""
    errs = _no_finalizers_while_deleting(new, old, path)
    if not text(new, "resourceVersion"):
        errs.append(invalid_value(f"{path}.resourceVersion", "", "must be specified for an update"))
    new_generation, old_generation = new.get("generation") or 0, old.get("generation") or 0
    if new_generation < old_generation:
        errs.append(invalid_value(f"{path}.generation", new_generation, "must not be decremented"))
    for name in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp"):
        errs += immutable(new.get(name) or "", old.get(name) or "", f"{path}.{name}")
    errs += immutable(
        new.get("deletionGracePeriodSeconds"),
        old.get("deletionGracePeriodSeconds"),
        f"{path}.deletionGracePeriodSeconds",
    )
    return errs + _labels_to_finalizers(new, path)
