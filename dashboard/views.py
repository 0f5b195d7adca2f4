"""Thin views: parse the request, ask kube/ and the pure modules, render a template."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_htmx.middleware import HtmxDetails

from dashboard import diagram, examples, manifests, pod_status, pod_table, proxy, terminals, workers
from dashboard.context import pod_context
from dashboard.headers import inline_styles
from dashboard.kube import clusters, resources
from dashboard.kube.watches import Snapshot, hub
from dashboard.models import LoginToken
from dashboard.names import InvalidName, check_container, check_name, check_namespace, parse_since
from dashboard.origins import port_key, port_token, socket_token
from dashboard.permissions import EXEC_PODS, READ_LOGS, VIEW_PODS, WRITE_PODS, capabilities
from dashboard.sockets.registry import registry
from dashboard.text import sentence

arender = sync_to_async(render)
AsyncView = Callable[..., Coroutine[Any, Any, HttpResponseBase]]
AnyView = Callable[..., Any]


class HtmxHttpRequest(HttpRequest):
    """A request that went through HtmxMiddleware."""

    htmx: HtmxDetails


class Problem(Exception):
    """Something the user asked for that cannot be shown, with a sentence saying why (and a way on, if any)."""

    def __init__(self, title: str, message: str, status: int = 400, link: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.title, self.message, self.status, self.link = title, message, status, link


def problem_page(request: HttpRequest, exc: Problem) -> HttpResponse:
    context = {"title": exc.title, "message": exc.message, "status": exc.status, "link": exc.link}
    return render(request, "dashboard/problem.html", context, status=exc.status)


def refuse_unless(allowed: Callable[[User | AnonymousUser], bool]) -> Callable[[AnyView], AnyView]:
    """Refuse (403) a view, sync or async, to users `allowed` turns down; answer Problem with its own page."""

    def decorator(view: AnyView) -> AnyView:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
                if not await sync_to_async(allowed)(await request.auser()):
                    raise PermissionDenied
                try:
                    response: HttpResponseBase = await view(request, *args, **kwargs)
                except Problem as exc:
                    return await sync_to_async(problem_page)(request, exc)
                return response

            return async_wrapper

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not allowed(request.user):
                raise PermissionDenied
            try:
                response: HttpResponseBase = view(request, *args, **kwargs)
            except Problem as exc:
                return problem_page(request, exc)
            return response

        return wrapper

    return decorator


def permission(perm: str) -> Callable[[AsyncView], AsyncView]:
    """Refuse (403) an async view to users without `perm`; answer Problem with its own page."""
    return refuse_unless(lambda user: user.has_perm(perm))


def _cluster(cluster_id: str) -> clusters.Cluster:
    try:
        return clusters.get(cluster_id)
    except clusters.ClusterError as exc:
        raise Problem("Unknown cluster", sentence(str(exc)), 404) from None


def _names(namespace: str, name: str | None = None) -> None:
    try:
        check_namespace(namespace)
        if name is not None:
            check_name(name)
    except InvalidName as exc:
        raise Problem("Not a valid name", str(exc), 404) from None


def _address(cluster_id: str, namespace: str, name: str | None = None) -> clusters.Cluster:
    """The cluster of a namespace's or a pod's address, once the names in it are valid (a 404 if not)."""
    found = _cluster(cluster_id)
    _names(namespace, name)
    return found


async def _snapshot(request: HttpRequest, cluster: clusters.Cluster, namespace: str) -> Snapshot:
    """The namespace's pods from the shared watch, within the person's limit of namespaces watched at once."""
    user = await request.auser()
    refusal = registry().touch(user.pk, cluster.id, namespace)
    if refusal is not None:
        raise Problem("Too many namespaces", refusal.message, 429)
    return await hub().snapshot(cluster, namespace)


def home(request: HttpRequest) -> HttpResponse:
    if picked := request.GET.get("cluster"):
        return cluster_home(request, picked)
    found = clusters.discover()
    if not found:
        return render(request, "dashboard/no_clusters.html")
    return redirect("pod-list", found[0].id, found[0].namespace)


def cluster_home(request: HttpRequest, cluster: str) -> HttpResponse:
    try:
        found = clusters.get(cluster)
    except clusters.ClusterError as exc:
        return problem_page(request, Problem("Unknown cluster", sentence(str(exc)), 404))
    return redirect("pod-list", found.id, found.namespace)


@login_not_required
def login_token(request: HttpRequest, token: str) -> HttpResponse:
    user = LoginToken.objects.redeem(token)
    if user is None or not user.is_active:
        return render(request, "registration/token_invalid.html", status=403)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    target = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        target = reverse("home")
    return redirect(target)


@permission(VIEW_PODS)
async def pod_list(request: HttpRequest, cluster: str, namespace: str) -> HttpResponse:
    found, now = _address(cluster, namespace), datetime.now(UTC)
    query = pod_table.Query.from_params(request.GET)
    snapshot, namespaces = await asyncio.gather(
        _snapshot(request, found, namespace), resources.list_namespaces_or(found, namespace)
    )
    table = pod_table.table(snapshot.pods.values(), query, now)
    context = {"cluster": found, "namespace": namespace, "namespaces": namespaces, "snapshot": snapshot}
    context |= {"query": query, "table": table}
    return await arender(request, "dashboard/pod_list.html", context)


@permission(VIEW_PODS)
async def pod_detail(request: HttpRequest, cluster: str, namespace: str, name: str) -> HttpResponse:
    found = _address(cluster, namespace, name)
    snapshot = await _snapshot(request, found, namespace)
    pod = snapshot.pods.get(name)
    if pod is None and snapshot.synced:
        raise Problem("Pod not found", f'There is no pod "{name}" in namespace "{namespace}" of {found.label}.', 404)
    context = await pod_context(found, namespace, name, pod, snapshot)
    context["caps"] = await sync_to_async(capabilities)(await request.auser())
    context["projector"] = request.GET.get("projector") == "1"
    if pod is not None and context["caps"]["logs"]:
        here = reverse("pod-detail", args=[found.id, namespace, name])
        context |= {
            "log_socket_url": f"/ws{here}logs/?token={socket_token(request.session.session_key)}",
            "log_download_url": reverse("pod-log", args=[found.id, namespace, name]),
            "log_containers": pod_status.containers(pod),
            "log_buffer": settings.PODSCOPE_LOG_BUFFER,
        }
    return await arender(request, "dashboard/pod_detail.html", context)


@permission(VIEW_PODS)
async def pod_diagram(request: HttpRequest, cluster: str, namespace: str, name: str) -> HttpResponse:
    found = _address(cluster, namespace, name)
    pod = (await _snapshot(request, found, namespace)).pods.get(name)
    if pod is None:
        raise Problem("Pod not found", f'There is no pod "{name}" in namespace "{namespace}".', 404)
    return await arender(request, "dashboard/_pod_diagram.html", {"diagram": diagram.layout(pod)})


@require_POST
@permission(WRITE_PODS)
async def pod_delete(request: HttpRequest, cluster: str, namespace: str, name: str) -> HttpResponse:
    found = _address(cluster, namespace, name)
    try:
        await resources.delete_pod(found, namespace, name)
    except resources.KubeError as exc:
        raise Problem("The pod was not deleted", exc.message, exc.status or 502) from None
    await sync_to_async(messages.success)(request, f"Pod {name} is being deleted.")
    return redirect("pod-list", found.id, namespace)


@permission(READ_LOGS)
async def pod_log(request: HttpRequest, cluster: str, namespace: str, name: str) -> StreamingHttpResponse:
    """Download a container's whole log, or every container's one after another when none is named."""
    found = _address(cluster, namespace, name)
    try:
        container = request.GET.get("container", "")
        names = [check_container(container)] if container else None
        since = parse_since(request.GET.get("since", ""))
    except InvalidName as exc:
        raise Problem("Cannot download this log", str(exc), 400) from None
    previous, timestamps = request.GET.get("previous") == "1", request.GET.get("timestamps") == "1"
    log = functools.partial(
        resources.stream_log, found, namespace, name, previous=previous, since_seconds=since, timestamps=timestamps
    )
    try:
        if names is None:
            names = [c.name for c in pod_status.containers(await resources.get_pod(found, namespace, name))]
        # One container: read its first chunk now, so a missing container gets an error page, not a broken file.
        single = log(names[0]) if len(names) == 1 else None
        first = await anext(single, b"") if single is not None else b""
    except resources.KubeError as exc:
        raise Problem("No log to download", sentence(exc.message), exc.status or 502) from None

    async def body() -> AsyncIterator[bytes]:
        if single is not None:
            yield first
            async for chunk in single:
                yield chunk
            return
        # Several containers come one after another, each under a header, as `tail` prints several files.
        for index, each in enumerate(names):
            yield ("\n" if index else "").encode() + f"==> {each} <==\n".encode()
            try:
                async for chunk in log(each):
                    yield chunk
            except resources.KubeError as exc:
                yield f"(no log: {exc.message})\n".encode()

    response = StreamingHttpResponse(body(), content_type="text/plain; charset=utf-8")
    suffix = ("_" + container if container else "") + ("_previous" if previous else "")
    response["Content-Disposition"] = f'attachment; filename="{name}{suffix}.log"'
    return response


@csrf_exempt  # checked inside, so that a refusal is recorded like any other
async def pod_port(
    request: HttpRequest, cluster: str, namespace: str, name: str, port: int, token: str, rest: str = ""
) -> HttpResponseBase:
    """Forward one HTTP request to a pod's port and stream its answer back (see docs/terminals.md)."""
    user = await request.auser()
    attempt = proxy.attempt_of(request, user, cluster, namespace, name, port)
    try:
        await proxy.admit(request, user, token)
        found = _address(cluster, namespace, name)
        return await proxy.forward(request, attempt, found, namespace, name, port, token)
    except (Problem, proxy.Failed) as exc:
        await attempt.end(proxy.outcome_text(exc.status, exc.message), refused=getattr(exc, "refused", False))
        link = _port_link(request, cluster, namespace, name, port) if isinstance(exc, proxy.BadLink) else None
        return await sync_to_async(problem_page)(request, Problem(exc.title, exc.message, exc.status, link))


def _port_link(request: HttpRequest, cluster: str, namespace: str, name: str, port: int) -> tuple[str, str]:
    key = port_key(request.session.session_key)
    token = port_token(key, cluster, namespace, name, port)
    return reverse("pod-port", args=[cluster, namespace, name, port, token]), f"Open port {port} of {name}"


@permission(EXEC_PODS)
async def pod_port_open(request: HttpRequest, cluster: str, namespace: str, name: str, port: int) -> HttpResponse:
    """A pod's port asked for without its token: offer the link on Podscope's own page, never follow it blindly."""
    found = _address(cluster, namespace, name)
    if not 1 <= port <= 65535:
        raise Problem("Not a port", f"{port} is not a TCP port: ports go from 1 to 65535.", 404)
    raise Problem(
        f"Open port {port} of {name}?",
        f"Podscope opens a pod's port only from a link it made for you. Follow the link below to open port {port} "
        f'of pod "{name}" in namespace "{namespace}" of {found.label}, as kubectl port-forward would.',
        200,
        _port_link(request, found.id, namespace, name, port),
    )


@inline_styles
@permission(EXEC_PODS)
async def pod_terminal(request: HttpRequest, cluster: str, namespace: str, name: str) -> HttpResponse:
    """A terminal in one of the pod's containers; the exec socket (sockets.terminals.ExecConsumer) does the work."""
    found = _address(cluster, namespace, name)
    try:
        pod, allowed = await asyncio.gather(
            resources.get_pod(found, namespace, name), resources.can_i(found, namespace, "create", "pods", "exec", name)
        )
    except resources.NotFound:
        raise Problem("Pod not found", f'There is no pod "{name}" in namespace "{namespace}".', 404) from None
    except resources.KubeError as exc:
        raise Problem("Cannot open a terminal", sentence(exc.message), exc.status or 502) from None
    containers, chosen = terminals.choices(pod, request.GET.get("container", ""))
    here = reverse("pod-detail", args=[found.id, namespace, name])
    context = {"cluster": found, "namespace": namespace, "name": name, "containers": containers, "chosen": chosen}
    socket_url = f"/ws{here}exec/?token={socket_token(request.session.session_key)}"
    context |= {"command": request.GET.get("command", ""), "socket_url": socket_url, "exec_allowed": allowed}
    context |= {"keepalive": settings.PODSCOPE_EXEC_KEEPALIVE, "projector": request.GET.get("projector") == "1"}
    return await arender(request, "dashboard/terminal.html", context)


@permission(VIEW_PODS)
async def preview(request: HtmxHttpRequest, cluster: str) -> HttpResponse:
    found = _cluster(cluster)
    text, example = request.POST.get("manifest", ""), request.GET.get("example", "")
    if upload := request.FILES.get("file"):
        text = (await sync_to_async(upload.read)(manifests.MAX_BYTES + 1)).decode("utf-8", "replace")
    elif example:
        text = _example(example).file.read_text()
    applying = request.method == "POST" and request.POST.get("action") == "apply"
    context = {"cluster": found, "manifest": text, "namespace": request.POST.get("namespace") or found.namespace}
    if text.strip():
        # In a worker process with a time limit: a costly manifest must not stall everyone else's pages.
        context |= await workers.preview(text, keep_documents=applying)
    if applying:
        context["applied"] = await _apply(request, found, context)
    template = "dashboard/_preview_result.html" if request.htmx else "dashboard/preview.html"
    return await arender(request, template, context, status=400 if context.get("refused") else 200)


async def _apply(request: HttpRequest, cluster: clusters.Cluster, context: dict[str, Any]) -> list[resources.Applied]:
    user = await request.auser()
    if not await sync_to_async(user.has_perm)(WRITE_PODS):
        raise PermissionDenied
    _names(context["namespace"])
    if not context["manifest"].strip():
        context |= manifests.refusal("There is nothing to apply: paste or upload a manifest first.")
    if context.get("error"):
        return []
    return await resources.apply_all(cluster, context["documents"], namespace=context["namespace"])


def _example(slug: str) -> examples.Example:
    try:
        return examples.get(slug)
    except KeyError:
        raise Problem("Unknown example", f'There is no example "{slug[:80]}".', 404) from None


@permission(VIEW_PODS)
async def example_list(request: HttpRequest, cluster: str) -> HttpResponse:
    found = _cluster(cluster)
    namespace = request.GET.get("namespace") or found.namespace
    _names(namespace)
    context = {"cluster": found, "examples": examples.EXAMPLES, "namespace": namespace}
    return await arender(request, "dashboard/examples.html", context)


@require_POST
@permission(WRITE_PODS)
async def example_apply(request: HttpRequest, cluster: str, slug: str) -> HttpResponse:
    found = _cluster(cluster)
    example = _example(slug)
    namespace = request.POST.get("namespace") or found.namespace
    _names(namespace)
    documents = await workers.parse(example.file.read_text())
    applied = await resources.apply_all(found, documents, namespace=namespace)
    failed = [a for a in applied if a.error]
    if failed:
        raise Problem(f"{example.title} was not applied", "; ".join(f"{a.title}: {a.error}" for a in failed), 422)
    pod = next(doc for doc in documents if doc["kind"] == "Pod")  # each example holds exactly one
    return redirect("pod-detail", found.id, namespace, pod["metadata"]["name"])
