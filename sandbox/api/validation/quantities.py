"""Resource names and quantities: container requests and limits, pod overhead, claim sizes."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from kubetext.formats import is_qualified_name
from sandbox.api.schema import canonical_quantity, quantity_value
from sandbox.api.validation.fields import Errors, Object, keyed, mapping
from sandbox.errors import forbidden, invalid_value, required

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


def quantity(value: Any) -> Fraction:
    """A quantity's value, 0 when it does not parse (decoding has reported that already)."""
    try:
        return quantity_value(str(value))
    except ValueError:
        return Fraction(0)


def quantity_text(value: Any) -> str:
    """A quantity as the server prints it in messages (its canonical form)."""
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
    amount = quantity(value)
    errs: Errors = []
    if amount < 0:
        errs.append(invalid_value(path, quantity_text(value), "must be greater than or equal to 0"))
    if _is_extended(name) and (amount * 1000) % 1000:
        errs.append(invalid_value(path, quantity_text(value), "must be an integer"))
    return errs


def _request_within_limit(name: str, value: Any, limits: Object, path: str) -> Errors:
    if name not in limits:
        if _overcommit_allowed(name):
            return []
        return [required(f"{path}.limits", "Limit must be set for non overcommitable resources")]
    request, limit = quantity(value), quantity(limits[name])
    shown, limit_text = quantity_text(value), quantity_text(limits[name])
    if request != limit and not _overcommit_allowed(name):
        return [invalid_value(f"{path}.requests", shown, f"must be equal to {name} limit of {limit_text}")]
    if request > limit:
        return [invalid_value(f"{path}.requests", shown, f"must be less than or equal to {name} limit of {limit_text}")]
    return []


def validate_resource_requirements(resources: Object, path: str) -> Errors:
    """Container resource names, non-negative quantities, and requests within limits."""
    errs: Errors = []
    limits, requests = mapping(resources, "limits"), mapping(resources, "requests")
    for name, value in limits.items():
        at = keyed(f"{path}.limits", name)
        errs += _container_resource_name(name, at) + _quantity_value_errors(name, value, at)
    for name, value in requests.items():
        at = keyed(f"{path}.requests", name)
        errs += _container_resource_name(name, at) + _quantity_value_errors(name, value, at)
        errs += _request_within_limit(name, value, limits, path)
    compute = {"cpu", "memory"}
    if not (compute & (set(limits) | set(requests))) and any(map(_is_hugepages, [*limits, *requests])):
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs
