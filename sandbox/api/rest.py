"""The REST verbs on stored resources: get, list, create, update, patch, delete, deletecollection.

Watches live in watch.py; pod logs, exec and port-forward belong to the node agent. Each function
takes the parsed request (`Call`) and returns the object to answer with, raising `ApiError` otherwise.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from sandbox import errors
from sandbox.api import managedfields, patch, protobuf, schema, strategy, tables, validation
from sandbox.api.resources import Resource
from sandbox.api.selectors import parse_field_selector, parse_label_selector
from sandbox.store import Store, now_rfc3339

JSON = "application/json"
READABLE = frozenset({"application/json", "application/yaml", protobuf.MEDIA_TYPE})
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


@dataclass
class Call:
    """One parsed request on a resource: target, query, headers and body."""

    resource: Resource
    namespace: str
    name: str
    subresource: str
    query: dict[str, str]
    accept: str = JSON
    content_type: str = JSON
    user_agent: str = ""
    body: bytes = b""
    warnings: list[str] = field(default_factory=list)

    def flag(self, key: str) -> bool:
        return self.query.get(key, "").lower() in ("true", "1")

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun") == "All"

    def field_manager(self, verb: str) -> str:
        """The manager a write is recorded under: explicit, or the user agent's product name."""
        manager = self.query.get("fieldManager", "")
        if manager:
            return manager
        product = self.user_agent.split("/", 1)[0] or "unknown"
        # kubectl's own default manager names carry the verb (kubectl-create, kubectl-patch ...).
        return f"{product}-{verb}" if product == "kubectl" else product


# -- decoding ------------------------------------------------------------------------------------


def decode_body(call: Call, kind: str = "") -> Any:
    """Parse a JSON, YAML or protobuf request body (of `kind`, the resource's by default) into Python data."""
    if not call.body:
        raise errors.bad_request("the body of the request was empty")
    if call.content_type not in READABLE and call.content_type not in PATCH_TYPES:
        raise errors.unsupported_media_type(call.content_type, sorted(READABLE))
    if call.content_type == protobuf.MEDIA_TYPE:
        r = call.resource
        expected_version = r.api_version if not kind else ("meta.k8s.io/v1" if kind == "DeleteOptions" else "v1")
        return protobuf.decode(call.body, expected_kind=kind or r.kind, expected_api_version=expected_version)
    try:
        if "yaml" in call.content_type:
            return yaml.safe_load(call.body)
        return json.loads(call.body)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def decode_object(call: Call, verb: str) -> dict[str, Any]:
    """The request body as an object of the resource's kind, checked against the schema."""
    obj = decode_body(call)
    r = call.resource
    if not isinstance(obj, dict):
        raise errors.bad_request(f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: invalid body')
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != r.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version ({r.api_version})"
        )
    if kind and kind != r.kind:
        raise errors.bad_request(
            f'{r.kind} in version "{r.version}" cannot be handled as a {r.kind}: '
            f'the kind in the data ("{kind}") does not match the expected kind ("{r.kind}")'
        )
    obj["apiVersion"], obj["kind"] = r.api_version, r.kind
    call.warnings = schema.decode(r.kind, obj, call.query.get("fieldValidation", ""), verb=verb)
    obj.setdefault("metadata", {})
    return obj


def with_type(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """Objects are stored without relying on TypeMeta; answers always carry it first."""
    body = {"kind": resource.kind, "apiVersion": resource.api_version}
    body.update({k: v for k, v in obj.items() if k not in ("kind", "apiVersion")})
    return body


# -- reads ---------------------------------------------------------------------------------------


def wants_table(accept: str) -> bool:
    return "as=Table" in accept


def get(store: Store, call: Call) -> dict[str, Any]:
    obj = store.get(call.resource.key, call.namespace, call.name)
    if wants_table(call.accept):
        return tables.table(
            call.resource.kind,
            [with_type(call.resource, obj)],
            datetime.now(UTC),
            include_object=call.query.get("includeObject", "Metadata"),
            resource_version=obj["metadata"]["resourceVersion"],
        )
    return with_type(call.resource, obj)


def selected(store: Store, call: Call) -> list[dict[str, Any]]:
    """The objects of the collection that match the label and field selectors."""
    labels = parse_label_selector(call.query.get("labelSelector", ""))
    fields = parse_field_selector(call.query.get("fieldSelector", ""), call.resource.kind)
    items = store.list(call.resource.key, call.namespace)
    return [o for o in items if labels.matches(o["metadata"].get("labels") or {}) and fields.matches(o)]


def _continue_token(last: dict[str, Any], rv: str) -> str:
    key = [last["metadata"].get("namespace", ""), last["metadata"]["name"]]
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": key}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _parse_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["start"]
        return str(ns), str(name)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise errors.bad_request("continue key is not valid: invalid continue token") from None


def _positive_int(call: Call, key: str) -> int | None:
    raw = call.query.get(key)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise errors.bad_request(f"invalid value for {key}: {raw!r} is not an integer") from None


def list_(store: Store, call: Call) -> dict[str, Any]:
    """A list (or Table) honouring selectors and limit/continue, sorted by namespace and name."""
    rv = store.resource_version
    items = selected(store, call)
    token = call.query.get("continue")
    if token:
        start = _parse_continue(token)
        items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
    limit = _positive_int(call, "limit") or 0
    meta: dict[str, Any] = {"resourceVersion": rv}
    remaining = None
    if 0 < limit < len(items):
        remaining = len(items) - limit
        items = items[:limit]
        meta["continue"] = _continue_token(items[-1], rv)
        if not call.query.get("labelSelector") and not call.query.get("fieldSelector"):
            meta["remainingItemCount"] = remaining
    if wants_table(call.accept):
        return tables.table(
            call.resource.kind,
            [with_type(call.resource, o) for o in items],
            datetime.now(UTC),
            include_object=call.query.get("includeObject", "Metadata"),
            resource_version=rv,
            continue_token=meta.get("continue", ""),
            remaining=meta.get("remainingItemCount"),
        )
    return {
        "kind": call.resource.list_kind,
        "apiVersion": call.resource.api_version,
        "metadata": meta,
        "items": [with_type(call.resource, o) for o in items],
    }


# -- writes --------------------------------------------------------------------------------------


def require_namespace(store: Store, call: Call) -> None:
    """NamespaceLifecycle: no new objects in a missing or terminating namespace."""
    if not call.resource.namespaced:
        return
    ns = store.find("namespaces", "", call.namespace)
    if ns is None:
        raise errors.not_found("namespaces", call.namespace)
    if ns["metadata"].get("deletionTimestamp"):
        raise errors.forbidden_request(
            f'{call.resource.plural} "{call.name}" is forbidden: unable to create new content in namespace '
            f"{call.namespace} because it is being terminated"
        )


def _cluster_ips(store: Store) -> set[str]:
    return {ip for s in store.list("services") for ip in s.get("spec", {}).get("clusterIPs", [])}


def set_managed_fields(obj: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    """Store the managers' field sets; with none left, the field is absent, as the apiserver leaves it."""
    if entries:
        obj["metadata"]["managedFields"] = entries
    else:
        obj["metadata"].pop("managedFields", None)


def create_object(store: Store, call: Call, obj: dict[str, Any], manager: str) -> dict[str, Any]:
    """Name, default, validate, record the manager and store a new object (shared by POST and apply)."""
    r = call.resource
    meta = obj["metadata"]
    if r.namespaced:
        if meta.get("namespace") and meta["namespace"] != call.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = call.namespace
    else:
        meta.pop("namespace", None)
    strategy.assign_name(obj)
    call.name = meta.get("name", "")
    require_namespace(store, call)
    account = None
    if r.kind == "Pod":
        wanted = obj.get("spec", {}).get("serviceAccountName") or obj.get("spec", {}).get("serviceAccount") or "default"
        account = store.find("serviceaccounts", call.namespace, wanted)
    strategy.prepare_create(r, obj, _cluster_ips(store), service_account=account)
    validation.validate_create(r.kind, obj)
    if store.find(r.key, call.namespace, call.name) is not None:
        raise errors.already_exists(r.plural, call.name, r.group)
    now = now_rfc3339()
    if "managedFields" not in meta:
        set_managed_fields(obj, managedfields.record_update(None, obj, manager, r.kind, now))
    if call.dry_run:
        meta["uid"] = meta.get("uid") or "00000000-0000-0000-0000-000000000000"
        meta["creationTimestamp"] = now
        return with_type(r, obj)
    created = store.create(r.key, obj)
    if r.kind == "Namespace":
        # The service account controller is quick enough on a real cluster that a pod created right
        # after its namespace finds `default`; doing it here keeps that true without a race.
        strategy.furnish_namespace(store, call.name)
    return with_type(r, created)


def create(store: Store, call: Call) -> dict[str, Any]:
    obj = decode_object(call, "create")
    return create_object(store, call, obj, call.field_manager("create"))


def _check_identity(call: Call, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    if meta.get("name") and meta["name"] != call.name:
        raise errors.bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({call.name})"
        )
    meta["name"] = call.name
    if call.resource.namespaced:
        if meta.get("namespace") and meta["namespace"] != call.namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        meta["namespace"] = call.namespace


def write_update(
    store: Store, call: Call, new: dict[str, Any], old: dict[str, Any], manager: str, *, check_version: bool
) -> dict[str, Any]:
    """Validate and store a replacement of `old` (shared by PUT and every kind of PATCH)."""
    r = call.resource
    strategy.prepare_update(r, new, old, call.subresource)
    validation.validate_update(r.kind, new, old)
    set_managed_fields(new, managedfields.record_update(old, new, manager, r.kind, now_rfc3339(), call.subresource))
    if call.dry_run:
        return with_type(r, new)
    stored = store.update(r.key, new, check_version=check_version)
    finish_if_released(store, r, stored)
    return with_type(r, stored)


def finish_if_released(store: Store, r: Resource, obj: dict[str, Any]) -> None:
    """An object being deleted goes away once its last finalizer is removed."""
    meta = obj["metadata"]
    if meta.get("deletionTimestamp") and not meta.get("finalizers") and r.kind != "Pod":
        store.delete(r.key, meta.get("namespace", ""), meta["name"])


def update(store: Store, call: Call) -> dict[str, Any]:
    new = decode_object(call, "update")
    _check_identity(call, new)
    old = store.get(call.resource.key, call.namespace, call.name)
    return write_update(store, call, new, old, call.field_manager("update"), check_version=True)


def patch_object(store: Store, call: Call) -> tuple[dict[str, Any], int]:
    """Apply a PATCH of any supported type; server-side apply may create (201)."""
    r = call.resource
    kind = PATCH_TYPES.get(call.content_type)
    if kind is None:
        raise errors.unsupported_media_type(call.content_type, list(PATCH_TYPES))
    body = decode_body(call)
    live = store.find(r.key, call.namespace, call.name)
    if kind == "apply":
        return _server_side_apply(store, call, body, live)
    if live is None:
        raise errors.not_found(r.plural, call.name, r.group)
    if kind == "json":
        if not isinstance(body, list):
            raise errors.bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        new = patch.json_patch(live, body)
    elif not isinstance(body, dict):
        raise errors.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
    elif kind == "merge":
        new = patch.merge_patch(live, body)
    else:
        new = patch.strategic_merge_patch(live, body, r.kind)
    shown = errors.go_value(body) if kind == "strategic" else None
    call.warnings = schema.decode(r.kind, new, call.query.get("fieldValidation", ""), verb="patch", patch=shown)
    new.setdefault("metadata", {})
    _check_identity(call, new)
    sent_rv = new["metadata"].get("resourceVersion")
    check = bool(sent_rv) and sent_rv != live["metadata"]["resourceVersion"]
    if not check:
        new["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    return write_update(store, call, new, live, call.field_manager("patch"), check_version=True), 200


def _server_side_apply(
    store: Store, call: Call, intent: Any, live: dict[str, Any] | None
) -> tuple[dict[str, Any], int]:
    r = call.resource
    manager = call.query.get("fieldManager", "")
    if not manager:
        raise errors.invalid(
            "PatchOptions",
            "",
            [errors.required("fieldManager", "is required for apply patch")],
            group="meta.k8s.io",
        )
    if not isinstance(intent, dict):
        raise errors.bad_request("error decoding YAML: the apply patch must be an object")
    call.warnings = schema.decode(r.kind, intent, call.query.get("fieldValidation", ""), verb="patch")
    force = call.flag("force")
    now = now_rfc3339()
    if live is None:
        intent.setdefault("metadata", {})
        _check_identity(call, intent)
        obj = managedfields.apply(None, intent, manager, r.kind, now, force)
        return create_object(store, call, obj, manager), 201
    merged = managedfields.apply(live, intent, manager, r.kind, now, force)
    _check_identity(call, merged)
    merged["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
    strategy.prepare_update(r, merged, live, call.subresource)
    validation.validate_update(r.kind, merged, live)
    if call.dry_run:
        return with_type(r, merged), 200
    stored = store.update(r.key, merged)
    finish_if_released(store, r, stored)
    return with_type(r, stored), 200


# -- deletes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteOptions:
    grace: int | None = None
    propagation: str = "Background"
    uid: str | None = None
    resource_version: str | None = None
    dry_run: bool = False


def delete_options(call: Call) -> DeleteOptions:
    """DeleteOptions from the body (kubectl) or the query string (the Python client may use either)."""
    data: dict[str, Any] = {}
    if call.body.strip():
        parsed = decode_body(call, "DeleteOptions")
        if isinstance(parsed, dict):
            data = parsed
    grace = data.get("gracePeriodSeconds", call.query.get("gracePeriodSeconds"))
    propagation = data.get("propagationPolicy") or call.query.get("propagationPolicy") or "Background"
    if propagation not in ("Orphan", "Background", "Foreground"):
        raise errors.invalid(
            "DeleteOptions",
            "",
            [errors.not_supported("propagationPolicy", propagation, ["Foreground", "Background", "Orphan", "nil"])],
        )
    pre = data.get("preconditions") or {}
    dry = data.get("dryRun") == ["All"] or call.dry_run
    try:
        grace_value = None if grace in (None, "") else int(grace)
    except (TypeError, ValueError):
        raise errors.bad_request(f"invalid value for gracePeriodSeconds: {grace!r}") from None
    return DeleteOptions(grace_value, propagation, pre.get("uid"), pre.get("resourceVersion"), dry)


def delete_object(store: Store, r: Resource, namespace: str, name: str, options: DeleteOptions) -> dict[str, Any]:
    """Delete one object with the real semantics: preconditions, finalizers, graceful pods, namespaces."""
    strategy.check_deletable(r, name)
    obj = store.get(r.key, namespace, name)
    meta = obj["metadata"]
    if options.uid and options.uid != meta["uid"]:
        raise errors.conflict(
            r.plural,
            name,
            f"Precondition failed: UID in precondition: {options.uid}, UID in object meta: {meta['uid']}",
        )
    if options.resource_version and options.resource_version != meta["resourceVersion"]:
        raise errors.conflict(
            r.plural,
            name,
            f"Precondition failed: ResourceVersion in precondition: {options.resource_version}, "
            f"ResourceVersion in object meta: {meta['resourceVersion']}",
        )
    if options.dry_run:
        return with_type(r, obj)
    if r.kind == "Namespace":
        return with_type(r, _terminate_namespace(store, obj))
    grace = strategy.grace_period(r, obj, options.grace)
    if meta.get("deletionTimestamp"):
        # Deleting again may only shorten the grace period.
        current = meta.get("deletionGracePeriodSeconds", 0)
        if grace < current:
            stamp = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
            obj = store.mark_deleting(r.key, obj, stamp, grace)
        if grace == 0 and not meta.get("finalizers"):
            return with_type(r, store.delete(r.key, namespace, name))
        return with_type(r, obj)
    if grace > 0 or meta.get("finalizers"):
        stamp = (datetime.now(UTC) + timedelta(seconds=grace)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return with_type(r, store.mark_deleting(r.key, obj, stamp, grace))
    return with_type(r, store.delete(r.key, namespace, name))


def _terminate_namespace(store: Store, obj: dict[str, Any]) -> dict[str, Any]:
    """A namespace goes Terminating; the namespace controller empties and then removes it."""
    if obj["metadata"].get("deletionTimestamp"):
        return obj
    obj["status"] = {**obj.get("status", {}), "phase": "Terminating"}
    obj = store.update("namespaces", obj, check_version=False)
    return store.mark_deleting("namespaces", obj, now_rfc3339(), 0)


def deleted_answer(r: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """Pods and namespaces answer with the object; other registries with a Success Status."""
    if r.kind in ("Pod", "Namespace") or obj["metadata"].get("deletionTimestamp"):
        return obj
    details: dict[str, Any] = {
        "name": obj["metadata"]["name"],
        "kind": r.plural,
        "uid": obj["metadata"]["uid"],
    }
    if r.group:
        details["group"] = r.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def delete(store: Store, call: Call) -> dict[str, Any]:
    options = delete_options(call)
    return deleted_answer(call.resource, delete_object(store, call.resource, call.namespace, call.name, options))


def delete_collection(store: Store, call: Call) -> dict[str, Any]:
    """Delete every selected object; answers with the list of what was deleted."""
    options = delete_options(call)
    victims = [copy.deepcopy(o) for o in selected(store, call)]
    done = []
    for obj in victims:
        meta = obj["metadata"]
        try:
            done.append(delete_object(store, call.resource, meta.get("namespace", ""), meta["name"], options))
        except errors.ApiError as exc:
            if exc.code != 404:
                raise
    return {
        "kind": call.resource.list_kind,
        "apiVersion": call.resource.api_version,
        "metadata": {"resourceVersion": store.resource_version},
        "items": done,
    }
