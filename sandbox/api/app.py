"""The aiohttp application: authentication, routing of Kubernetes API paths, Status errors and request metrics."""

from __future__ import annotations

import hmac
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, astuple, dataclass
from typing import Any, Protocol

from aiohttp import web

from sandbox import errors
from sandbox.api import authorization, discovery, pods, rest, watch
from sandbox.api.resources import Resource, lookup
from sandbox.store import Store

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version"})
STREAMING = frozenset({"log", "exec", "attach", "portforward"})
# Subresources kube-apiserver counts as long-running (its metrics call requests to CONNECT_SUBRESOURCES CONNECT).
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "log", "portforward", "proxy"})
APPLY_PATCH = "application/apply-patch+yaml"
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class NodeServices(Protocol):
    """What the node agent offers the API: the streaming pod subresources and live metrics."""

    async def stream(self, request: web.Request, call: rest.Call, pod: dict[str, Any]) -> web.StreamResponse: ...

    def metrics(self, call: rest.Call) -> dict[str, Any]: ...


@dataclass
class ApiConfig:
    """Settings of one API server instance."""

    token: str
    server_address: str = "127.0.0.1"
    bookmark_interval: float = 60.0
    viewer_token: str = ""

    def user(self, presented: str) -> authorization.User | None:
        """The user a bearer token belongs to, or None if it is nobody's."""
        given = presented.encode()
        if hmac.compare_digest(given, self.token.encode()):
            return authorization.ADMIN
        if self.viewer_token and hmac.compare_digest(given, self.viewer_token.encode()):
            return authorization.VIEWER
        return None


@dataclass(frozen=True)
class RequestLabels:
    """What kube-apiserver's request metrics say about one request (its RequestInfo, as metric labels)."""

    verb: str
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    scope: str = ""
    component: str = "apiserver"
    dry_run: str = ""

    @property
    def long_running(self) -> bool:
        return self.verb == "WATCH" or (bool(self.resource) and self.subresource in LONG_RUNNING_SUBRESOURCES)


def request_labels(request: web.Request) -> RequestLabels:
    """Labels as apiserver/pkg/endpoints/metrics reports them: GET of a collection is LIST, and so on."""
    method = request.method.upper()
    target = authorization.api_path([p for p in request.path.split("/") if p])
    if target is None or not target[2]:
        # Discovery, health, /metrics: non-resource requests carry their path in the subresource label.
        return RequestLabels(verb="GET" if method == "HEAD" else method, subresource=request.path)
    group, version, parts = target
    namespace, resource, name, sub = authorization.resource_path(parts)
    # A create is about one object even though its path names the collection.
    creates = method == "POST" and not sub
    scope = "resource" if name or creates else ("namespace" if namespace else "cluster")
    verb = method
    if method in ("GET", "HEAD"):
        verb = "GET" if scope == "resource" else "LIST"
        if verb == "LIST" and request.query.get("watch", "").lower() not in ("", "0", "false"):
            verb = "WATCH"
    elif method == "PATCH" and request.headers.get("Content-Type", "").split(";")[0].strip() == APPLY_PATCH:
        verb = "APPLY"
    if sub in authorization.CONNECT_SUBRESOURCES:
        verb = "CONNECT"
    dry_run = ",".join(sorted(request.query.getall("dryRun", [])))
    return RequestLabels(verb, group, version, resource, sub, scope, dry_run=dry_run)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(name: str, labels: dict[str, str], value: int) -> str:
    # Sorted label names, as the Prometheus Go client writes them.
    text = ",".join(f'{key}="{_escape(labels[key])}"' for key in sorted(labels))
    return f"{name}{{{text}}} {value}"


class RequestMetrics:
    """apiserver_request_total and apiserver_longrunning_requests, kept as kube-apiserver keeps them."""

    def __init__(self) -> None:
        self.total: Counter[tuple[RequestLabels, str]] = Counter()
        self.long_running: Counter[RequestLabels] = Counter()

    def render(self) -> str:
        """The metrics in the Prometheus text format."""
        out = [
            "# HELP apiserver_request_total [STABLE] Counter of apiserver requests broken out for each verb, "
            "dry run value, group, version, resource, scope, component, and HTTP response code.",
            "# TYPE apiserver_request_total counter",
        ]
        for (labels, code), count in sorted(self.total.items(), key=lambda item: (astuple(item[0][0]), item[0][1])):
            out.append(_series("apiserver_request_total", {**asdict(labels), "code": code}, count))
        out += [
            "# HELP apiserver_longrunning_requests [ALPHA] Gauge of all active long-running apiserver requests "
            "broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.",
            "# TYPE apiserver_longrunning_requests gauge",
        ]
        for labels, count in sorted(self.long_running.items(), key=lambda item: astuple(item[0])):
            values = asdict(labels)
            del values["dry_run"]
            out.append(_series("apiserver_longrunning_requests", values, count))
        return "\n".join(out) + "\n"


STORE = web.AppKey("store", Store)
CONFIG = web.AppKey("config", ApiConfig)
# Parametrised rather than given the type: mypy takes no Protocol where a concrete class is expected.
NODE = web.AppKey[NodeServices]("node")
METRICS = web.AppKey("metrics", RequestMetrics)
# The status a response was sent with, recorded when its headers go out (a stream may fail after that).
SENT_STATUS = web.RequestKey("sent_status", int)
USER = web.RequestKey("user", authorization.User)


def status_response(exc: errors.ApiError) -> web.Response:
    return web.json_response(exc.status(), status=exc.code)


def object_response(request: web.Request, body: dict[str, Any], status: int = 200) -> web.Response:
    pretty = request.query.get("pretty", "").lower() in ("true", "1")
    text = json.dumps(body, indent=2 if pretty else None, separators=None if pretty else (",", ":"))
    return web.Response(text=text + ("\n" if pretty else ""), status=status, content_type="application/json")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every request once it is over, with the code it was answered with, as kube-apiserver does."""
    metrics = request.app[METRICS]
    labels = request_labels(request)
    if labels.long_running:
        metrics.long_running[labels] += 1
    code = "0"  # what the real server records for a request that ended before any answer
    try:
        response = await handler(request)
        code = str(response.status)
        return response
    except web.HTTPException as exc:
        code = str(exc.status)
        raise
    except Exception:
        code = "500"
        raise
    finally:
        if SENT_STATUS in request:
            code = str(request[SENT_STATUS])
        metrics.total[labels, code] += 1
        if labels.long_running:
            metrics.long_running[labels] -= 1


async def _record_status(request: web.Request, response: web.StreamResponse) -> None:
    request[SENT_STATUS] = response.status


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as a Status object; an unexpected one is logged, not shown."""
    try:
        return await handler(request)
    except errors.ApiError as exc:
        return status_response(exc)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path)
        return status_response(errors.internal("an unexpected error occurred; see the sandbox log"))


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer-token authentication, then authorization; health and version stay readable without credentials."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, presented = header.partition(" ")
        user = request.app[CONFIG].user(presented.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            raise errors.unauthorized()
        # Before any handler runs, so a refused exec or port-forward is answered before any upgrade.
        authorization.authorize(user, request.method, request.path, request.query)
        request[USER] = user
    elif request.path not in PUBLIC_PATHS:
        raise errors.unauthorized()
    return await handler(request)


def _call(request: web.Request, resource: Resource, namespace: str, name: str, sub: str, body: bytes) -> rest.Call:
    content_type = request.headers.get("Content-Type", rest.JSON).split(";")[0].strip().lower()
    return rest.Call(
        resource=resource,
        namespace=namespace,
        name=name,
        subresource=sub,
        query=dict(request.query),
        accept=request.headers.get("Accept", rest.JSON),
        content_type=content_type,
        user_agent=request.headers.get("User-Agent", ""),
        body=body,
    )


def _resolve(group: str, version: str, rest_: list[str]) -> tuple[Resource, str, str, str]:
    """(resource, namespace, name, subresource) for a resource path, or 404."""
    ns = ""
    if len(rest_) >= 3 and rest_[0] == "namespaces":
        namespaces = lookup("", "v1", "namespaces")
        if len(rest_) == 3 and group == "" and namespaces is not None and namespaces.subresource(rest_[2]):
            return namespaces, "", rest_[1], rest_[2]
        ns, rest_ = rest_[1], rest_[2:]
    if not 1 <= len(rest_) <= 3:
        raise errors.unknown_path()
    resource = lookup(group, version, rest_[0])
    if resource is None or (ns and not resource.namespaced):
        raise errors.unknown_path()
    name = rest_[1] if len(rest_) > 1 else ""
    sub = rest_[2] if len(rest_) > 2 else ""
    if sub and resource.subresource(sub) is None:
        raise errors.unknown_path()
    return resource, ns, name, sub


async def _discovery(request: web.Request, parts: list[str]) -> web.StreamResponse | None:
    """Answer discovery, version, health and OpenAPI paths; None for anything else."""
    accept = request.headers.get("Accept", "")
    path = "/" + "/".join(parts)
    if path in ("/healthz", "/livez", "/readyz"):
        return web.Response(text="ok", content_type="text/plain")
    if path == "/version":
        return object_response(request, discovery.version())
    if path == "/metrics":
        return web.Response(text=request.app[METRICS].render(), headers={"Content-Type": PROMETHEUS_TEXT})
    if path in ("/api", "/apis"):
        core = path == "/api"
        if discovery.wants_aggregated(accept):
            body = json.dumps(discovery.aggregated(core), separators=(",", ":"))
            return web.Response(text=body, headers={"Content-Type": discovery.AGGREGATED})
        address = request.app[CONFIG].server_address
        return object_response(request, discovery.api_versions(address) if core else discovery.api_group_list())
    target = authorization.api_path(parts)
    if target is not None and not target[2]:
        listed = discovery.resource_list(target[0], target[1])
        if listed is None:
            raise errors.unknown_path()
        return object_response(request, listed)
    if path == "/openapi/v3":
        return object_response(request, discovery.openapi_root())
    if path.startswith("/openapi/v3/"):
        document = discovery.openapi_documents().get(path.removeprefix("/openapi/v3/"))
        if document is None:
            raise errors.unknown_path()
        return web.Response(body=document[0], content_type="application/json")
    return None


async def dispatch(request: web.Request) -> web.StreamResponse:
    """Route one request by method and Kubernetes path."""
    parts = [p for p in request.path.split("/") if p]
    if request.method == "GET":
        answered = await _discovery(request, parts)
        if answered is not None:
            return answered
    target = authorization.api_path(parts)
    if target is None:
        raise errors.unknown_path()
    resource, ns, name, sub = _resolve(*target)
    store = request.app[STORE]
    method = request.method
    is_upgrade = request.headers.get("Upgrade", "").lower() in ("websocket", "spdy/3.1")
    body = b"" if is_upgrade else await request.read()
    call = _call(request, resource, ns, name, sub, body)
    special = await _special(request, call, store)
    if special is not None:
        return special
    if method == "GET":
        if not name:
            if call.flag("watch"):
                return await watch.serve(request, store, call, request.app[CONFIG].bookmark_interval)
            return object_response(request, rest.list_(store, call))
        return object_response(request, rest.get(store, call))
    answer, status = await _write(store, call, method)
    response = object_response(request, answer, status)
    for warning in call.warnings:
        response.headers.add("Warning", f'299 - "{warning}"')
    return response


async def _special(request: web.Request, call: rest.Call, store: Store) -> web.StreamResponse | None:
    """The answer to a path that is not plain REST on stored objects: streams, metrics, reviews, bindings."""
    resource, name, sub, method = call.resource, call.name, call.subresource, request.method
    if sub in STREAMING:
        pod = store.get("pods", call.namespace, name)
        node = request.app.get(NODE)
        if node is None:
            raise errors.bad_request(f"pod {name} does not have a host assigned")
        return await node.stream(request, call, pod)
    if resource.group == "metrics.k8s.io":
        node = request.app.get(NODE)
        if method != "GET" or node is None:
            raise errors.method_not_allowed(method) if node is not None else errors.unknown_path()
        return object_response(request, node.metrics(call))
    if resource.group == authorization.REVIEW_GROUP:
        if method != "POST" or name:
            raise errors.method_not_allowed(method)
        return object_response(request, authorization.review(request[USER], rest.decode_body(call)), status=201)
    if resource.plural == "bindings" or sub == "binding":
        if method != "POST":
            raise errors.method_not_allowed()
        return object_response(request, _bind(store, call), status=201)
    return None


async def _write(store: Store, call: rest.Call, method: str) -> tuple[dict[str, Any], int]:
    if method == "POST" and not call.name:
        return rest.create(store, call), 201
    if method == "PUT" and call.name:
        return rest.update(store, call), 200
    if method == "PATCH" and call.name:
        return rest.patch_object(store, call)
    if method == "DELETE" and call.name and not call.subresource:
        return rest.delete(store, call), 200
    if method == "DELETE" and not call.name and "deletecollection" in call.resource.verbs:
        return rest.delete_collection(store, call), 200
    raise errors.method_not_allowed(method)


def _bind(store: Store, call: rest.Call) -> dict[str, Any]:
    binding = rest.decode_body(call, "Binding")
    if not isinstance(binding, dict):
        raise errors.bad_request("a Binding object is required")
    pod_name = call.name if call.subresource == "binding" else binding.get("metadata", {}).get("name", "")
    node = (binding.get("target") or {}).get("name", "")
    if not node:
        raise errors.invalid("Binding", pod_name, [errors.required("target.name")])
    pods.bind(store, call.namespace, pod_name, node)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def _end_watches(app: web.Application) -> None:
    """The server is going down: end the watch streams, as an apiserver does, instead of holding them open
    until the runner's shutdown timeout cuts them."""
    app[STORE].end_watches()


def create_app(store: Store, config: ApiConfig, node: NodeServices | None = None) -> web.Application:
    """The API server application over a store."""
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware, auth_middleware], client_max_size=16 * 1024 * 1024
    )
    app[STORE] = store
    app[CONFIG] = config
    app[METRICS] = RequestMetrics()
    app.on_response_prepare.append(_record_status)
    app.on_shutdown.append(_end_watches)
    if node is not None:
        app[NODE] = node
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
