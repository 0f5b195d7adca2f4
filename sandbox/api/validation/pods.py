"""Pods: create and update (what an update may change), the binding subresource, and the pod warnings."""

from __future__ import annotations

import json
import re

from kubetext.formats import inclusive_range
from sandbox.api.validation.containers import image_whitespace
from sandbox.api.validation.fields import Errors, Object, keyed, mapping, objects, spec_diff, text
from sandbox.api.validation.metadata import name_is_dns_subdomain, validate_object_meta, validate_object_meta_update
from sandbox.api.validation.pod_spec import validate_pod_spec, validate_tolerations
from sandbox.errors import forbidden, invalid_value, not_supported, required

_UPDATABLE_POD_FIELDS = ",".join(
    [
        "`spec.containers[*].image`",
        "`spec.initContainers[*].image`",
        "`spec.activeDeadlineSeconds`",
        "`spec.tolerations` (only additions to existing tolerations)",
        "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
    ]
)
_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def _pod_annotations(annotations: Object, path: str) -> Errors:
    cost = annotations.get(_DELETION_COST)
    if cost is None:
        return []
    if re.fullmatch(r"[+-]?\d+", cost.strip() if isinstance(cost, str) else "") and -(2**31) <= int(cost) < 2**31:
        return []
    return [invalid_value(keyed(path, _DELETION_COST), cost, "must be a 32bit integer")]


def _token_volumes_need_account(spec: Object) -> Errors:
    if text(spec, "serviceAccountName"):
        return []
    errs: Errors = []
    for vi, volume in enumerate(objects(spec, "volumes")):
        for si, source in enumerate(objects(mapping(volume, "projected"), "sources")):
            if "serviceAccountToken" in source:
                at = f"spec.volumes[{vi}].projected.sources[{si}].serviceAccountToken"
                errs.append(forbidden(at, "must not be specified when serviceAccountName is not set"))
    return errs


def _pod_metadata_and_spec(pod: Object) -> Errors:
    meta, spec = mapping(pod, "metadata"), mapping(pod, "spec")
    errs = validate_object_meta(meta, True, name_is_dns_subdomain)
    errs += _pod_annotations(mapping(meta, "annotations"), "metadata.annotations")
    errs += validate_pod_spec(spec, text(meta, "name"))
    errs += _token_volumes_need_account(spec)
    for kind in ("containers", "initContainers"):
        for i, container in enumerate(objects(spec, kind)):
            errs += image_whitespace(container, f"spec.{kind}[{i}]")
    return errs


def validate_pod(pod: Object) -> Errors:
    """ValidatePodCreate: the whole pod, and what only a new pod may not have."""
    errs = _pod_metadata_and_spec(pod)
    spec = mapping(pod, "spec")
    if objects(spec, "ephemeralContainers"):
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if text(spec, "nodeName") and objects(spec, "schedulingGates"):
        errs.append(forbidden("spec.nodeName", "cannot be set until all schedulingGates have been cleared"))
    return errs


# --- updates -----------------------------------------------------------------------------------------------


def _container_updates(new: list[Object], old: list[Object], path: str) -> tuple[Errors, bool]:
    if len(new) != len(old):
        return [forbidden(path, "pod updates may not add or remove containers")], True
    errs: Errors = []
    for i, container in enumerate(new):
        if not text(container, "image"):
            errs.append(required(f"{path}[{i}].image"))
        errs += image_whitespace(container, f"{path}[{i}]")
    return errs, False


def _deadline_update(new_spec: Object, old_spec: Object) -> tuple[Errors, bool]:
    """activeDeadlineSeconds may only shrink, and not be unset; a bad one ends the update checks."""
    deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is None:
        if old_deadline is None:
            return [], False
        detail = "must not update from a positive integer to nil value"
        return [invalid_value("spec.activeDeadlineSeconds", None, detail)], False
    if not 0 <= deadline <= 2**31 - 1:
        return [invalid_value("spec.activeDeadlineSeconds", deadline, inclusive_range(0, 2147483647))], True
    if old_deadline is not None and old_deadline < deadline:
        detail = "must be less than or equal to previous value"
        return [invalid_value("spec.activeDeadlineSeconds", deadline, detail)], True
    return [], False


def _only_added_tolerations(new: list[Object], old: list[Object], path: str) -> Errors:
    for existing in old:
        stripped = {k: v for k, v in existing.items() if k != "tolerationSeconds"}
        if not any({k: v for k, v in t.items() if k != "tolerationSeconds"} == stripped for t in new):
            return [forbidden(path, "existing toleration can not be modified except its tolerationSeconds")]
    return validate_tolerations(new, path)


def _only_removed_scheduling_gates(new_spec: Object, old_spec: Object) -> Errors:
    errs: Errors = []
    old_gates = {text(g, "name") for g in objects(old_spec, "schedulingGates")}
    new_gates = {text(g, "name"): i for i, g in enumerate(objects(new_spec, "schedulingGates"))}
    for gate, i in new_gates.items():
        if gate not in old_gates:
            detail = f"only deletion is allowed, but found new scheduling gate '{gate}'"
            errs.append(forbidden(f"spec.schedulingGates[{i}].name", detail))
    return errs


def _with_updatable_fields_reverted(new_spec: Object, old_spec: Object) -> Object:
    """The new spec with every field an update may change put back as it was."""
    munged: Object = json.loads(json.dumps(new_spec))
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
    return munged


def _other_fields_unchanged(new_spec: Object, old_spec: Object) -> Errors:
    if new_spec == old_spec:
        return []
    munged = _with_updatable_fields_reverted(new_spec, old_spec)
    if munged == old_spec:
        return []
    detail = f"pod updates may not change fields other than {_UPDATABLE_POD_FIELDS}\n" + spec_diff(
        old_spec, munged, "core.PodSpec"
    )
    return [forbidden("spec", detail)]


def validate_pod_update(new: Object, old: Object) -> Errors:
    """ValidatePodUpdate: the new pod is valid, and only images, deadline, tolerations and gates changed."""
    errs = validate_object_meta_update(mapping(new, "metadata"), mapping(old, "metadata"))
    errs += _pod_metadata_and_spec(new)
    new_spec, old_spec = mapping(new, "spec"), mapping(old, "spec")
    for kind in ("containers", "initContainers"):
        update_errs, stop = _container_updates(objects(new_spec, kind), objects(old_spec, kind), f"spec.{kind}")
        errs += update_errs
        if stop:
            return errs
    deadline_errs, stop = _deadline_update(new_spec, old_spec)
    errs += deadline_errs
    if stop:
        return errs
    errs += _only_added_tolerations(
        objects(new_spec, "tolerations"), objects(old_spec, "tolerations"), "spec.tolerations"
    )
    errs += _only_removed_scheduling_gates(new_spec, old_spec)
    return errs + _other_fields_unchanged(new_spec, old_spec)


# --- the binding subresource and warnings ------------------------------------------------------------------


def validate_binding(binding: Object) -> Errors:
    """A Binding targets a Node by name."""
    target = mapping(binding, "target")
    errs: Errors = []
    kind = text(target, "kind")
    if kind and kind != "Node":
        errs.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not text(target, "name"):
        errs.append(required("target.name"))
    return errs


def pod_warnings(pod: Object) -> list[str]:
    """Warnings the server attaches to a pod it accepts (the one from pkg/api/pod/warnings.go we mirror)."""
    grace = mapping(pod, "spec").get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        return [
            "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
        ]
    return []
