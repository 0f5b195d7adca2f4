"""Who a request comes from and what it may do, decided as kube-apiserver's authorizers decide it.

The sandbox has two users. The admin (the kubeconfig's default context) may do anything, as a member of
`system:masters` may. The viewer (the `viewer` context) may get, list and watch, and ask what it may do
through a SelfSubjectAccessReview; nothing else. Requests are described by the attributes kube-apiserver's
RequestInfoFactory derives from method, path and query, so a refusal reads as a real cluster's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox import errors

REVIEW_GROUP, REVIEW_VERSION = "authorization.k8s.io", "v1"
REVIEW_RESOURCE, REVIEW_KIND = "selfsubjectaccessreviews", "SelfSubjectAccessReview"
READ_VERBS = frozenset({"get", "list", "watch"})
# Subresources that open a connection into a pod. They are authorized as "create" whatever the method, even
# for a GET WebSocket upgrade (kube-apiserver's AuthorizePodWebsocketUpgradeCreatePermission), and the viewer
# never gets them, just as the built-in `view` ClusterRole leaves them out.
CREATE_SUBRESOURCES = frozenset({"attach", "exec", "portforward"})
CONNECT_SUBRESOURCES = CREATE_SUBRESOURCES | {"proxy"}
# RequestInfoFactory: these follow a namespace's name instead of naming a resource in it.
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
SPECIAL_VERBS = frozenset({"proxy", "watch"})
METHOD_VERBS = {"POST": "create", "GET": "get", "HEAD": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
# system:basic-user's rules: every authenticated user may create these, to learn who it is and what it may do.
SELF_REVIEWS = frozenset(
    {
        (REVIEW_GROUP, REVIEW_RESOURCE),
        (REVIEW_GROUP, "selfsubjectrulesreviews"),
        ("authentication.k8s.io", "selfsubjectreviews"),
    }
)
NO_MATCH = "no RBAC policy matched"
_RESOURCE_FIELDS = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
_SELECTOR_FIELDS = ("fieldSelector", "labelSelector")
_NON_RESOURCE_FIELDS = ("path", "verb")


@dataclass(frozen=True)
class User:
    """An authenticated user: its name and whether it may do anything (system:masters) or only read."""

    name: str
    admin: bool = False


ADMIN = User("admin", admin=True)
VIEWER = User("viewer")


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (authorizer.Attributes): a resource request, or a verb on a plain path."""

    verb: str
    path: str = ""
    resource_request: bool = False
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def _is_true(value: str) -> bool:
    # Go's strconv.ParseBool, which decodes the `watch` list option.
    return value in ("1", "t", "T", "true", "TRUE", "True")


def api_path(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """Split /api/v1/... or /apis/<group>/<version>/... into group, version and the rest; None for other paths."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def resource_path(parts: list[str]) -> tuple[str, str, str, str]:
    """Namespace, resource, name and subresource of the (non-empty) rest of a resource path, as RequestInfoFactory
    splits it: a namespace's own subresources (status, finalize) follow its name."""
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    return namespace, parts[0], parts[1] if len(parts) > 1 else "", parts[2] if len(parts) > 2 else ""


def request_attributes(method: str, path: str, query: Mapping[str, str]) -> Attributes:
    """The attributes of an HTTP request, as kube-apiserver's RequestInfoFactory derives them."""
    method = method.upper()
    target = api_path([p for p in path.split("/") if p])
    if target is None or not target[2]:
        return Attributes(verb=method.lower(), path=path)
    group, version, parts = target
    if parts[0] in SPECIAL_VERBS and len(parts) > 1:
        verb, parts = parts[0], parts[1:]
    else:
        verb = METHOD_VERBS.get(method, "")
    namespace, resource, name, subresource = resource_path(parts)
    if verb == "proxy":
        subresource = ""
    if not name and verb == "get":
        verb = "watch" if _is_true(query.get("watch", "")) else "list"
    if not name and verb == "delete":
        verb = "deletecollection"
    if resource == "pods" and subresource in CREATE_SUBRESOURCES:
        verb = "create"
    return Attributes(verb, path, True, group, version, resource, subresource, namespace, name)


def decide(user: User, attributes: Attributes) -> tuple[bool, str]:
    """Whether `user` may do this, and the reason given when it may not."""
    if user.admin:
        return True, ""
    a = attributes
    if not a.resource_request:
        allowed = a.verb == "get"
    elif (a.group, a.resource) in SELF_REVIEWS and not a.subresource:
        allowed = a.verb == "create"
    else:
        allowed = a.verb in READ_VERBS and a.subresource not in CONNECT_SUBRESOURCES
    return allowed, "" if allowed else NO_MATCH


def forbidden(user: User, attributes: Attributes) -> errors.ApiError:
    """403 Forbidden worded as responsewriters.Forbidden and apierrors.NewForbidden word it."""
    a = attributes
    if not a.resource_request:
        text = f'User "{user.name}" cannot {a.verb} path "{a.path}"'
        return errors.ApiError(403, "Forbidden", f"forbidden: {text}", {})
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    text = f'User "{user.name}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'
    qualified = errors.qualified(a.resource, a.group)
    message = f'{qualified} "{a.name}" is forbidden: {text}' if a.name else f"{qualified} is forbidden: {text}"
    # Go leaves empty StatusDetails fields out.
    details = {key: value for key, value in (("name", a.name), ("group", a.group), ("kind", a.resource)) if value}
    return errors.ApiError(403, "Forbidden", message, details)


def authorize(user: User, method: str, path: str, query: Mapping[str, str]) -> None:
    """Raise 403 Forbidden unless `user` may make this request."""
    attributes = request_attributes(method, path, query)
    allowed, _ = decide(user, attributes)
    if not allowed:
        raise forbidden(user, attributes)


def _strings(value: Any, fields: tuple[str, ...], path: str) -> dict[str, str]:
    """The string fields of one attributes object, empty ones left out as Go's omitempty does."""
    if not isinstance(value, dict):
        raise errors.bad_request(f"{path} must be an object")
    out = {}
    for key in fields:
        item = value.get(key)
        if item is None or item == "":
            continue
        if not isinstance(item, str):
            raise errors.bad_request(f"{path}.{key} must be a string")
        out[key] = item
    return out


def review(user: User, body: Any) -> dict[str, Any]:
    """Answer a SelfSubjectAccessReview for `user`: the review with its status filled in, or 422 Invalid."""
    if not isinstance(body, dict):
        raise errors.bad_request(f"a {REVIEW_KIND} object is required")
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if kind and kind != REVIEW_KIND:
        raise errors.bad_request(
            f'{REVIEW_KIND} in version "{REVIEW_VERSION}" cannot be handled as a {REVIEW_KIND}: '
            f'the kind in the data ("{kind}") does not match the expected kind ("{REVIEW_KIND}")'
        )
    if api_version and api_version != f"{REVIEW_GROUP}/{REVIEW_VERSION}":
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({REVIEW_GROUP}/{REVIEW_VERSION})"
        )
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    problems = []
    if resource is not None and non_resource is not None:
        problems.append(
            errors.invalid_value(
                "spec.nonResourceAttributes", non_resource, "cannot be specified in combination with resourceAttributes"
            )
        )
    if resource is None and non_resource is None:
        problems.append(
            errors.invalid_value(
                "spec.resourceAttributes",
                None,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict) or any(v not in (None, "", {}, []) for k, v in meta.items() if k != "managedFields"):
        problems.append(errors.invalid_value("metadata", meta, "must be empty"))
    if problems:
        raise errors.invalid(REVIEW_KIND, "", problems, REVIEW_GROUP)

    answered: dict[str, Any]
    if resource is not None:
        fields = _strings(resource, _RESOURCE_FIELDS, "spec.resourceAttributes")
        selectors = {key: resource[key] for key in _SELECTOR_FIELDS if resource.get(key)}
        answered = {"resourceAttributes": {**fields, **selectors}}
        attributes = Attributes(
            verb=fields.get("verb", ""),
            resource_request=True,
            group=fields.get("group", ""),
            version=fields.get("version", ""),
            resource=fields.get("resource", ""),
            subresource=fields.get("subresource", ""),
            namespace=fields.get("namespace", ""),
            name=fields.get("name", ""),
        )
    else:
        fields = _strings(non_resource, _NON_RESOURCE_FIELDS, "spec.nonResourceAttributes")
        answered = {"nonResourceAttributes": fields}
        attributes = Attributes(verb=fields.get("verb", ""), path=fields.get("path", ""))
    allowed, reason = decide(user, attributes)
    status: dict[str, Any] = {"allowed": allowed}
    if reason:
        status["reason"] = reason
    return {
        "kind": REVIEW_KIND,
        "apiVersion": f"{REVIEW_GROUP}/{REVIEW_VERSION}",
        "metadata": {},
        "spec": answered,
        "status": status,
    }
