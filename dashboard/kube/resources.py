"""Reads and writes against one cluster: namespaces, pods, events, metrics and applied manifests.

Everything returned is plain data: objects are camelCase dicts exactly as the API server serves them as JSON,
never the client's models, so views and templates can use them without importing `kubernetes`. Every failure
becomes a `KubeError` whose message is a sentence for a person.
"""

from __future__ import annotations

import json
import os
import ssl
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from kubernetes.aio import client as aio_client
from kubernetes.aio.client.exceptions import ApiException
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.config.config_exception import ConfigException as SyncConfigException
from pydantic import ValidationError

from dashboard.kube import health
from dashboard.kube.clusters import Cluster
from dashboard.kube.quantities import format_cpu, format_memory

# Total seconds for one request, so a dead or black-holed cluster answers a page quickly instead of after minutes.
REQUEST_TIMEOUT = 10.0
# Reads a page waits for get less: it has the watch's copy of the pods to show meanwhile. A cluster that stops
# answering altogether is noticed sooner by its health checks (kube/health.py), which drop these calls.
PAGE_TIMEOUT = 5.0
# A download of a long log may take a while; it is bounded all the same, so a stuck server frees the worker.
LOG_DOWNLOAD_TIMEOUT = 600.0
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
# kind -> the suffix of CoreV1Api's patch_namespaced_<suffix>_without_preload_content.
APPLICABLE_KINDS = {
    "Pod": "pod",
    "ConfigMap": "config_map",
    "Secret": "secret",
    "Service": "service",
    "ServiceAccount": "service_account",
}
METRICS_GROUP, METRICS_VERSION = "metrics.k8s.io", "v1beta1"


class KubeError(Exception):
    """A failed call to a cluster, with a sentence for a person in `message`."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "", unreachable: bool = False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason
        self.unreachable = unreachable


class NotFound(KubeError):
    """The object (or the API serving it) does not exist."""


class Forbidden(KubeError):
    """The credentials are not allowed to do this, or not accepted at all."""


class Invalid(KubeError):
    """The request or the object in it was rejected, e.g. for field errors."""


class Conflict(KubeError):
    """The object already exists or changed under us."""


_ERRORS_BY_STATUS: dict[int, type[KubeError]] = {
    400: Invalid,
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Invalid,
}


def _status_error(status: int | None, reason: str | None, body: bytes | str | None) -> KubeError:
    """The KubeError for a non-2xx answer, taking the message from its Status body when it has one."""
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    reason = answer.get("reason") or reason or ""
    message = answer.get("message") or f"the API server answered {status} {reason}".rstrip()
    return _ERRORS_BY_STATUS.get(status or 0, KubeError)(message, status=status, reason=reason)


def _why_unreachable(exc: BaseException, timeout: float | None = None) -> str:
    # Most specific first: aiohttp's certificate error is also an SSL error, which is also a connector error.
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout or REQUEST_TIMEOUT:g} s"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"its certificate is not trusted ({getattr(exc.certificate_error, 'verify_message', '') or exc})"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return f"the TLS handshake failed ({getattr(exc, 'reason', None) or exc})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "its host name does not resolve"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, OSError) and exc.errno:
        # aiohttp's own text is "Connect call failed ('127.0.0.1', 1)"; the errno says it better.
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _unreachable(host: str, exc: BaseException, timeout: float | None = None) -> KubeError:
    return KubeError(f"cannot reach the cluster at {host}: {_why_unreachable(exc, timeout)}", unreachable=True)


def not_answering(cluster: Cluster) -> KubeError | None:
    """Why the cluster is known not to answer right now (its last health check failed), or None."""
    state = health.monitor().of(cluster)
    if state.silent_since is None or state.failure is None:
        return None
    if isinstance(state.failure, TimeoutError):
        since = f"{state.silent_since:%H:%M:%S} UTC"
        return KubeError(f"the cluster at {state.host} has not answered since {since}", unreachable=True)
    return _unreachable(state.host, state.failure)


@asynccontextmanager
async def connection(cluster: Cluster, *, timeout: float | None = None) -> AsyncIterator[aio_client.ApiClient]:
    """A new ApiClient for one call, always closed, with every failure turned into a KubeError.

    While the cluster is known not to answer, this fails at once instead of waiting for a timeout. `timeout` is
    the one the calls in the block use (REQUEST_TIMEOUT if not given), for the sentence when they run out of it.
    """
    state = health.monitor().of(cluster)
    if silence := not_answering(cluster):
        state.check_soon()  # pages still ask, so keep finding out when it answers again
        raise silence
    try:
        api = await cluster.client()
    except health.CONFIG_ERRORS as exc:
        where = f" ({cluster.kubeconfig})" if cluster.kubeconfig else ""
        raise KubeError(
            f"cannot use the configuration of cluster {cluster.label}{where}: {exc}", unreachable=True
        ) from exc
    try:
        with state.track(api):
            yield api
    except ApiException as exc:
        raise _status_error(exc.status, exc.reason, exc.body) from exc
    except ValidationError as exc:
        # The client checks its arguments' types before sending anything: a value from a person that is not
        # what the API takes (the callers check names first; this is the last line).
        raise Invalid(f"the request cannot be sent: {exc.errors()[0].get('msg', exc)}", reason="Invalid") from exc
    except (aiohttp.ClientError, OSError, TimeoutError, ConfigException, SyncConfigException) as exc:
        # Dropped because the cluster stopped answering: say that, not how the connection ended.
        if silence := not_answering(cluster):
            raise silence from exc
        state.check_soon()
        raise _unreachable(api.configuration.host, exc, timeout) from exc
    except KubeError:
        raise
    except Exception as exc:
        # A client closed under a call because its cluster fell silent fails in ways of its own (aiohttp asserts
        # that its connector is still there): say why it was closed.
        if silence := not_answering(cluster):
            raise silence from exc
        raise
    finally:
        await api.close()


async def read_json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The JSON body of a raw response, or the KubeError its status means."""
    try:
        body = await response.read()
    finally:
        response.release()
    # Raw responses are not checked by the client, so the status is ours to look at.
    if not 200 <= response.status < 300:
        raise _status_error(response.status, response.reason, body)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise KubeError(
            f"the API server answered {response.status} with something that is not JSON", status=response.status
        ) from exc
    if not isinstance(data, dict):
        raise KubeError("the API server answered with JSON that is not an object", status=response.status)
    return data


async def list_namespaces(cluster: Cluster) -> list[str]:
    """The names of the cluster's namespaces, sorted; just the cluster's own namespace if listing is forbidden."""
    try:
        async with connection(cluster, timeout=PAGE_TIMEOUT) as api:
            answer = await read_json(
                await aio_client.CoreV1Api(api).list_namespace_without_preload_content(_request_timeout=PAGE_TIMEOUT)
            )
    except Forbidden as exc:
        # Users confined to one namespace may not list namespaces; theirs is the one they can see. A 401 is
        # different: the credentials themselves are refused, and hiding that would only confuse.
        if exc.status != 403:
            raise
        return [cluster.namespace]
    return sorted(item["metadata"]["name"] for item in answer.get("items") or [])


async def get_pod(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """One pod as the API server serves it."""
    async with connection(cluster, timeout=PAGE_TIMEOUT) as api:
        return await read_json(
            await aio_client.CoreV1Api(api).read_namespaced_pod_without_preload_content(
                name, namespace, _request_timeout=PAGE_TIMEOUT
            )
        )


async def list_pods(
    cluster: Cluster,
    namespace: str,
    *,
    limit: int = 500,
    continue_token: str | None = None,
    label_selector: str | None = None,
) -> tuple[list[dict[str, Any]], str | None, str]:
    """One page of a namespace's pods: the items, the token for the next page (None at the end), the list's RV."""
    async with connection(cluster) as api:
        answer = await read_json(
            await aio_client.CoreV1Api(api).list_namespaced_pod_without_preload_content(
                namespace,
                limit=limit,
                _continue=continue_token,
                label_selector=label_selector,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )
    meta = answer.get("metadata") or {}
    return answer.get("items") or [], meta.get("continue") or None, meta.get("resourceVersion", "")


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _event_summary(event: dict[str, Any]) -> dict[str, Any]:
    """The few fields of a core/v1 Event a person reads, with times as aware UTC datetimes."""
    meta, series, source = event.get("metadata") or {}, event.get("series") or {}, event.get("source") or {}
    # Events recorded by the newer API leave the legacy timestamps empty and carry eventTime (and a series) instead.
    created = _time(meta.get("creationTimestamp"))
    last = (
        _time(event.get("lastTimestamp"))
        or _time(series.get("lastObservedTime"))
        or _time(event.get("eventTime"))
        or created
    )
    first = _time(event.get("firstTimestamp")) or _time(event.get("eventTime")) or created or last
    return {
        "type": event.get("type") or "Normal",
        "reason": event.get("reason") or "",
        "message": event.get("message") or "",
        "count": event.get("count") or series.get("count") or 1,
        "first": first,
        "last": last or first,
        "source": source.get("component") or event.get("reportingComponent") or "",
    }


async def pod_events(cluster: Cluster, namespace: str, name: str, *, uid: str | None = None) -> list[dict[str, Any]]:
    """The events about one pod (only this incarnation of it when `uid` is given), oldest last-seen first."""
    selector = f"involvedObject.kind=Pod,involvedObject.name={name}"
    if uid:
        selector += f",involvedObject.uid={uid}"
    async with connection(cluster, timeout=PAGE_TIMEOUT) as api:
        answer = await read_json(
            await aio_client.CoreV1Api(api).list_namespaced_event_without_preload_content(
                namespace, field_selector=selector, _request_timeout=PAGE_TIMEOUT
            )
        )
    events = [_event_summary(item) for item in answer.get("items") or []]
    never = datetime.min.replace(tzinfo=UTC)
    # Legacy timestamps have whole seconds while eventTime has microseconds, so compare whole seconds and let the
    # stable sort keep the server's order (creation order) within one second.
    return sorted(events, key=lambda e: (e["last"] or never).replace(microsecond=0))


async def pod_metrics(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, str]] | None:
    """Current CPU and memory per container from metrics.k8s.io; None if the cluster has none for this pod."""
    try:
        async with connection(cluster, timeout=PAGE_TIMEOUT) as api:
            answer = await read_json(
                await aio_client.CustomObjectsApi(api).get_namespaced_custom_object_without_preload_content(
                    METRICS_GROUP, METRICS_VERSION, namespace, "pods", name, _request_timeout=PAGE_TIMEOUT
                )
            )
    except KubeError as exc:
        # 404: no metrics API, or no sample for this pod yet; 503: the API is registered but its server is down.
        if exc.status in (404, 503):
            return None
        raise
    usage = {}
    for container in answer.get("containers") or []:
        raw = container.get("usage") or {}
        try:
            usage[container["name"]] = {
                "cpu": format_cpu(raw.get("cpu", "0")),
                "memory": format_memory(raw.get("memory", "0")),
            }
        except (KeyError, ValueError):
            continue
    return usage or None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


async def apply(
    cluster: Cluster, doc: dict[str, Any], *, namespace: str, dry_run: bool = False, field_manager: str = "podscope"
) -> dict[str, Any]:
    """Server-side apply one core/v1 object (Pod, ConfigMap, Secret, Service, ServiceAccount); returns it as served."""
    kind = doc.get("kind") or ""
    if doc.get("apiVersion") != "v1" or kind not in APPLICABLE_KINDS:
        what = f"{_article(kind)} {kind}" if kind else "this object"
        raise Invalid(
            f"Podscope applies Pods, ConfigMaps, Secrets, Services and ServiceAccounts; use kubectl for {what}",
            reason="Unsupported",
        )
    meta = doc.get("metadata") or {}
    name, target = meta.get("name"), meta.get("namespace") or namespace
    if not name or not isinstance(name, str):
        raise Invalid(f"server-side apply needs metadata.name; this {kind} has none", reason="Invalid")
    if not isinstance(target, str):
        raise Invalid(f"metadata.namespace of {kind} {name} must be text", reason="Invalid")
    async with connection(cluster) as api:
        patch = getattr(aio_client.CoreV1Api(api), f"patch_namespaced_{APPLICABLE_KINDS[kind]}_without_preload_content")
        return await read_json(
            await patch(
                name,
                target,
                doc,
                field_manager=field_manager,
                force=True,
                dry_run="All" if dry_run else None,
                # The generated default content type is a JSON patch; apply needs its own, and the client then
                # sends the dict as JSON, which is valid YAML.
                _content_type=APPLY_CONTENT_TYPE,
                _request_timeout=REQUEST_TIMEOUT,
            )
        )


async def delete_pod(cluster: Cluster, namespace: str, name: str, *, grace_period_seconds: int | None = None) -> None:
    """Delete a pod, optionally with a grace period (0 kills it at once)."""
    async with connection(cluster) as api:
        await read_json(
            await aio_client.CoreV1Api(api).delete_namespaced_pod_without_preload_content(
                name, namespace, grace_period_seconds=grace_period_seconds, _request_timeout=REQUEST_TIMEOUT
            )
        )


# --- what pages need: answers that degrade instead of failing a whole page ------------------------------------


# The namespaces each cluster listed last, for the picker while it cannot be reached; a few clusters at most.
_last_namespaces: OrderedDict[Cluster, list[str]] = OrderedDict()
LAST_NAMESPACES = 32


async def list_namespaces_or(cluster: Cluster, fallback: str) -> list[str]:
    """The namespaces for a picker; those listed last, or just `fallback`, when the cluster cannot be asked."""
    try:
        names = await list_namespaces(cluster)
    except KubeError as exc:
        names = _last_namespaces.get(cluster, []) if exc.unreachable else []
    else:
        _last_namespaces[cluster] = names
        _last_namespaces.move_to_end(cluster)
        while len(_last_namespaces) > LAST_NAMESPACES:
            _last_namespaces.popitem(last=False)
    return names if fallback in names else sorted([*names, fallback])


async def pod_events_or_none(cluster: Cluster, namespace: str, name: str) -> list[dict[str, Any]] | None:
    """The pod's events, or None when they cannot be read (the page says so)."""
    try:
        return await pod_events(cluster, namespace, name)
    except KubeError:
        return None


async def pod_metrics_or_none(cluster: Cluster, namespace: str, name: str) -> dict[str, dict[str, str]] | None:
    """The pod's CPU and memory per container, or None when the cluster has no metrics for it."""
    try:
        return await pod_metrics(cluster, namespace, name)
    except KubeError:
        return None


@dataclass(frozen=True)
class Applied:
    """What applying one document did: `outcome` on success, `error` otherwise."""

    kind: str
    namespace: str
    name: str
    outcome: str = ""
    error: str = ""

    @property
    def title(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def is_pod(self) -> bool:
        return self.kind == "Pod" and not self.error


async def apply_all(cluster: Cluster, docs: list[dict[str, Any]], *, namespace: str) -> list[Applied]:
    """Apply documents in order after a dry run of all of them, so a bad document applies nothing."""
    results: list[Applied] = []
    for dry_run in (True, False):
        results = []
        for doc in docs:
            meta = doc.get("metadata") or {}
            target = meta.get("namespace") or namespace
            kind, name = doc.get("kind", ""), meta.get("name", "")
            try:
                await apply(cluster, doc, namespace=target, dry_run=dry_run)
            except KubeError as exc:
                results.append(Applied(kind, target, name, error=exc.message))
                continue
            results.append(Applied(kind, target, name, outcome="checked" if dry_run else "applied"))
        if any(r.error for r in results):
            return results
    return results


async def stream_log(
    cluster: Cluster,
    namespace: str,
    name: str,
    container: str,
    *,
    previous: bool = False,
    since_seconds: int | None = None,
    timestamps: bool = False,
) -> AsyncIterator[bytes]:
    """A container's whole log as it is now (not followed), in chunks, for downloading.

    A missing pod or container raises KubeError on the first iteration, so a caller that takes the first
    chunk before answering can still answer with an error page.
    """
    async with connection(cluster) as api:
        response = await aio_client.CoreV1Api(api).read_namespaced_pod_log_without_preload_content(
            name,
            namespace,
            container=container,
            previous=previous,
            since_seconds=since_seconds,
            timestamps=timestamps,
            _request_timeout=LOG_DOWNLOAD_TIMEOUT,
        )
        if response.status != 200:
            await read_json(response)  # raises the KubeError the status means
        try:
            async for chunk in response.content.iter_chunked(64 * 1024):
                yield chunk
        finally:
            response.close()


async def can_i(
    cluster: Cluster, namespace: str, verb: str, resource: str, subresource: str = "", name: str = ""
) -> bool | None:
    """Whether the cluster lets Podscope's credentials do this, from a SelfSubjectAccessReview; None if it can't say."""
    # Empty attributes are left out (None), as the API reads a missing one as "all".
    attributes = aio_client.V1ResourceAttributes(
        namespace=namespace or None,
        verb=verb or None,
        resource=resource or None,
        subresource=subresource or None,
        name=name or None,
    )
    review = aio_client.V1SelfSubjectAccessReview(
        api_version="authorization.k8s.io/v1",
        kind="SelfSubjectAccessReview",
        spec=aio_client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes),
    )
    try:
        async with connection(cluster, timeout=PAGE_TIMEOUT) as api:
            answer = await read_json(
                await aio_client.AuthorizationV1Api(api).create_self_subject_access_review_without_preload_content(
                    review, _request_timeout=PAGE_TIMEOUT
                )
            )
    except KubeError:
        # No such API (404), not allowed to ask, or unreachable: the caller shows nothing rather than guess.
        return None
    allowed = (answer.get("status") or {}).get("allowed")
    return allowed if isinstance(allowed, bool) else None
