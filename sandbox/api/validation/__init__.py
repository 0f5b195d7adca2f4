"""Create and update validation for the core/v1 kinds, with the API server's own messages and order.

Objects are validated as the server validates them: after decoding (see `schema.decode`), after
defaulting and admission (see `defaults.apply_defaults`), with the name already generated and
metadata.namespace set from the request path. Kind-specific rules run first; only when they pass does
the generic metadata check (path-segment names) run, as in apiserver's rest.BeforeCreate.

The modules follow kube-apiserver's split: `formats` (apimachinery's util/validation), `metadata`
(its api/validation), and one module per group of kinds from pkg/apis/core/validation.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.api.validation import cluster, config, events, pods, services, storage
from sandbox.api.validation.fields import Errors, Object, mapping, text
from sandbox.api.validation.metadata import path_segment_name, validate_object_meta
from sandbox.api.validation.pods import pod_warnings
from sandbox.errors import aggregate, invalid

__all__ = ["pod_warnings", "validate_create", "validate_update"]

_CREATE: dict[str, Callable[[Object], Errors]] = {
    "Pod": pods.validate_pod,
    "ConfigMap": config.validate_config_map,
    "Secret": config.validate_secret,
    "ServiceAccount": config.validate_service_account,
    "Namespace": cluster.validate_namespace,
    "Node": cluster.validate_node,
    "PersistentVolumeClaim": storage.validate_pvc,
    "Service": services.validate_service,
    "Event": events.validate_event,
}
_UPDATE: dict[str, Callable[[Object, Object], Errors]] = {
    "Pod": pods.validate_pod_update,
    "ConfigMap": config.validate_config_map_update,
    "Secret": config.validate_secret_update,
    "ServiceAccount": config.validate_service_account_update,
    "Namespace": cluster.validate_namespace_update,
    "Node": cluster.validate_node_update,
    "PersistentVolumeClaim": storage.validate_pvc_update,
    "Service": services.validate_service_update,
    "Event": events.validate_event_update,
}
_CLUSTER_SCOPED = {"Namespace", "Node"}


def _generic_meta(kind: str, obj: Object) -> Errors:
    """The check every create and update gets after the kind's own: names usable as a URL path segment."""
    return validate_object_meta(mapping(obj, "metadata"), kind not in _CLUSTER_SCOPED, path_segment_name)


def _raise(kind: str, obj: Object, errs: Errors) -> None:
    if errs:
        raise invalid(kind, text(mapping(obj, "metadata"), "name"), errs)


def validate_create(kind: str, obj: Object) -> None:
    """Raise the server's 422 Invalid listing every error in a new object of this kind."""
    if kind == "Binding":
        # The binding REST returns a bare aggregate error, which the server answers as a 500.
        errs = pods.validate_binding(obj)
        if errs:
            raise aggregate(errs)
        return
    _raise(kind, obj, _CREATE[kind](obj))
    _raise(kind, obj, _generic_meta(kind, obj))


def validate_update(kind: str, new: Object, old: Object) -> None:
    """Raise the server's 422 Invalid listing every error in replacing `old` with `new`."""
    _raise(kind, new, _UPDATE[kind](new, old))
    _raise(kind, new, _generic_meta(kind, new))
