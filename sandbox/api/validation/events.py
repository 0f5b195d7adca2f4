"""Events, core/v1 as written by old and new reporters alike (ValidateEventCreate and Update)."""

from __future__ import annotations

from kubetext.formats import is_dns1123_subdomain, is_qualified_name
from sandbox.api.validation.fields import Errors, Object, mapping, text
from sandbox.errors import invalid_value, required

_LIMITS = (("reportingInstance", 128), ("action", 128), ("reason", 128))
_NAMESPACE_MISMATCH = "does not match event.namespace"


def _reporter(event: Object) -> Errors:
    """The fields an event with an eventTime (the events.k8s.io shape) must carry."""
    controller = text(event, "reportingComponent")
    errs = [] if controller else [required("reportingComponent")]
    errs += [invalid_value("reportingComponent", controller, m) for m in is_qualified_name(controller)]
    for name, limit in _LIMITS:
        value = text(event, name)
        if not value:
            errs.append(required(name))
        if len(value) > limit:
            errs.append(invalid_value(name, "", f"can have at most {limit} characters"))
    if len(text(event, "message")) > 1024:
        errs.append(invalid_value("message", "", "can have at most 1024 characters"))
    return errs


def _involved_namespace(event: Object, namespace: str) -> Errors:
    involved_ns = text(mapping(event, "involvedObject"), "namespace")
    if event.get("eventTime"):
        mismatch = not involved_ns and namespace not in ("default", "kube-system")
    elif not involved_ns:
        mismatch = namespace not in ("", "default")
    else:
        mismatch = namespace != involved_ns
    return [invalid_value("involvedObject.namespace", involved_ns, _NAMESPACE_MISMATCH)] if mismatch else []


def validate_event(event: Object) -> Errors:
    """An event's namespace matches its object's, and new-style events name their reporter."""
    namespace = text(mapping(event, "metadata"), "namespace")
    errs = _involved_namespace(event, namespace)
    if event.get("eventTime"):
        errs += _reporter(event)
    return errs + [invalid_value("namespace", namespace, m) for m in is_dns1123_subdomain(namespace)]


def validate_event_update(new: Object, old: Object) -> Errors:
    return validate_event(new)
