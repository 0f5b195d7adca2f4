"""PersistentVolumeClaims: the claim spec, and what may change once a claim exists or is bound."""

from __future__ import annotations

import json

from sandbox.api.validation.fields import Errors, Object, immutable, keyed, mapping, spec_diff, strings, text
from sandbox.api.validation.metadata import (
    name_is_dns_subdomain,
    validate_labels,
    validate_object_meta,
    validate_object_meta_update,
)
from sandbox.api.validation.quantities import quantity, quantity_text
from sandbox.errors import forbidden, invalid_value, not_supported, required

_ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]


def _access_modes(spec: Object, path: str) -> Errors:
    modes = strings(spec, "accessModes")
    errs = [not_supported(f"{path}.accessModes", mode, _ACCESS_MODES) for mode in modes if mode not in _ACCESS_MODES]
    if "ReadWriteOncePod" in modes and any(m in _ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
        errs.append(forbidden(f"{path}.accessModes", "may not use ReadWriteOncePod with other access modes"))
    return errs


def validate_pvc_spec(spec: Object, path: str = "spec") -> Errors:
    """ValidatePersistentVolumeClaimSpec: access modes, storage request, class and volume mode."""
    errs: Errors = []
    if not strings(spec, "accessModes"):
        errs.append(required(f"{path}.accessModes", "at least 1 access mode is required"))
    selector = mapping(spec, "selector")
    if selector:
        errs += validate_labels(mapping(selector, "matchLabels"), f"{path}.selector.matchLabels")
    errs += _access_modes(spec, path)
    requests = mapping(mapping(spec, "resources"), "requests")
    storage_path = keyed(f"{path}.resources", "storage")
    if "storage" not in requests:
        errs.append(required(storage_path))
    elif quantity(requests["storage"]) <= 0:
        errs.append(invalid_value(storage_path, quantity_text(requests["storage"]), "must be greater than zero"))
    storage_class = spec.get("storageClassName")
    if isinstance(storage_class, str) and storage_class:
        at = f"{path}.storageClassName"
        errs += [invalid_value(at, storage_class, m) for m in name_is_dns_subdomain(storage_class, False)]
    mode = spec.get("volumeMode")
    if mode is not None and mode not in ("Block", "Filesystem"):
        errs.append(not_supported(f"{path}.volumeMode", mode, ["Block", "Filesystem"]))
    return errs


def validate_pvc(pvc: Object) -> Errors:
    errs = validate_object_meta(mapping(pvc, "metadata"), True, name_is_dns_subdomain)
    return errs + validate_pvc_spec(mapping(pvc, "spec"))


def _spec_unchanged(new: Object, old: Object) -> Errors:
    """The spec is immutable, except that a claim gets its volume, and a bound claim may be resized."""
    new_spec: Object = json.loads(json.dumps(mapping(new, "spec")))
    old_spec: Object = json.loads(json.dumps(mapping(old, "spec")))
    if not old_spec.get("volumeName"):
        old_spec.pop("volumeName", None)
        if "volumeName" in new_spec:
            old_spec["volumeName"] = new_spec["volumeName"]
    if text(mapping(new, "status"), "phase") == "Bound":
        new_requests = mapping(mapping(new_spec, "resources"), "requests")
        old_storage = mapping(mapping(old_spec, "resources"), "requests").get("storage")
        if new_requests and old_storage is not None:
            new_requests["storage"] = old_storage
        new_spec.pop("volumeAttributesClassName", None)
        if "volumeAttributesClassName" in old_spec:
            new_spec["volumeAttributesClassName"] = old_spec["volumeAttributesClassName"]
    if new_spec == old_spec:
        return []
    detail = (
        "spec is immutable after creation except resources.requests and volumeAttributesClassName "
        "for bound claims\n" + spec_diff(old_spec, new_spec, "core.PersistentVolumeClaimSpec")
    )
    return [forbidden("spec", detail)]


def _storage_request(obj: Object) -> object:
    return mapping(mapping(mapping(obj, "spec"), "resources"), "requests").get("storage", "0")


def validate_pvc_update(new: Object, old: Object) -> Errors:
    """ValidatePersistentVolumeClaimUpdate: the spec is fixed but for resizing, never below the capacity."""
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    errs += validate_pvc(new)
    errs += _spec_unchanged(new, old)
    new_size, old_size = quantity(_storage_request(new)), quantity(_storage_request(old))
    capacity = quantity(mapping(mapping(old, "status"), "capacity").get("storage", "0"))
    if new_size < old_size and new_size <= capacity:
        errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    errs += immutable(mapping(new, "spec").get("volumeMode"), mapping(old, "spec").get("volumeMode"), "volumeMode")
    return errs
