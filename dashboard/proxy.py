"""A browser's request to a pod's port, sent on as plain HTTP/1.1 through the API server's port-forward.

What `kubectl port-forward pod 8080:80` and then `curl localhost:8080/path` do, on Podscope's origin: each request
opens its own port-forward connection, is sent with `Host: localhost:<port>` and `Connection: close`, and the pod's
answer is streamed back as it comes. Because that answer is served from Podscope's origin, it is sandboxed (an
opaque origin for its scripts), may not set cookies, and never sees Podscope's cookies or credentials. Every
request, served or refused, leaves a SessionRecord.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote, urlsplit

import h11
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse

from dashboard.audit.rows import Attempt
from dashboard.cards import port_owner
from dashboard.kube import clusters, resources
from dashboard.kube.portforward import PortConnection
from dashboard.models import SessionRecord
from dashboard.origins import port_token_valid
from dashboard.permissions import EXEC_PODS
from dashboard.text import sentence

# The pod's page keeps scripts, forms, popups and downloads, but in an opaque origin: its scripts cannot read
# Podscope's pages or act as the signed-in user.
SANDBOX = "sandbox allow-scripts allow-forms allow-popups allow-downloads"
# From opening the port-forward to the pod's status line and headers.
FIRST_BYTE_TIMEOUT = 30.0
READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024
MAX_REQUEST_LINE = 2000

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never sent to the pod: the framing is ours, and what identifies the user to Podscope stays with Podscope. All
# cookies go: the pod cannot set any here, so every cookie the browser sends belongs to Podscope (or to another
# site on the same host name).
REQUEST_DROPPED = HOP_BY_HOP | {
    "host",
    "content-length",
    "expect",
    "cookie",
    "authorization",
    "x-csrftoken",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-real-ip",
}
# Never passed back: they would act on all of Podscope's origin, not on this one answer.
RESPONSE_DROPPED = HOP_BY_HOP | {"set-cookie", "set-cookie2", "strict-transport-security", "clear-site-data"}
RESPONSE_DROPPED_PREFIXES = ("access-control-",)
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Failed(Exception):
    """A request that was not forwarded, with a title and a sentence for the user and the status to answer."""

    def __init__(self, title: str, message: str, status: int, *, refused: bool = False) -> None:
        super().__init__(message)
        self.title, self.message, self.status, self.refused = title, message, status, refused


class BadLink(Failed):
    """A request whose link into the pod's port was not made for this session: offer a good one instead."""


async def admit(request: HttpRequest, user: Any, token: str) -> None:
    """Refuse (Failed, 403) a user without the exec permission, a link not made for this session and this port,
    and a request Podscope's CSRF protection refuses.

    The link's token (dashboard/origins.py) is what keeps a page on another port or site, which the browser sends
    Podscope's cookies from, from sending requests into pods as the signed-in user; the CSRF check does the same
    for unsafe methods. The view is exempt from the CSRF middleware only so that its refusals, too, are recorded.
    """
    if not await sync_to_async(user.has_perm)(EXEC_PODS):
        raise Failed("Not allowed", "Opening a pod's port needs the permission to exec in pods.", 403, refused=True)
    route = request.resolver_match.kwargs if request.resolver_match else {}
    where = (route.get("cluster", ""), route.get("namespace", ""), route.get("name", ""), route.get("port", 0))
    if not port_token_valid(request.session.session_key, token, *where):
        raise BadLink(
            "Open it from Podscope",
            f"This link to port {where[3]} of pod {where[2]} was not made by Podscope for you, or not in this "
            "session, so it was not followed: nothing was sent to the pod. Open the port from the pod's page, or "
            "with the link below.",
            403,
            refused=True,
        )
    # The body is the pod's, never parsed here (the CSRF check would read a posted form), so it goes on as it came.
    # A token can still come in the X-CSRFToken header.
    request.POST = QueryDict()
    if await sync_to_async(_csrf_refused)(request):
        raise Failed(
            "Not sent",
            f"A {request.method} request to a pod's port needs Podscope's CSRF token, as Podscope's own forms do. "
            "Pages opened from a pod cannot send forms or scripted requests through Podscope.",
            403,
            refused=True,
        )


def _csrf_refused(request: HttpRequest) -> bool:
    # Checked as for any view not marked csrf_exempt: process_view reads nothing of the view but that mark.
    return CsrfViewMiddleware(HttpResponse).process_view(request, HttpResponse, (), {}) is not None


# --- the audit row ----------------------------------------------------------------------------------------------


def attempt_of(request: HttpRequest, user: Any, cluster: str, namespace: str, pod: str, port: int) -> Attempt:
    """The audit row a request to a pod's port makes, before anything is checked; written when it starts or is
    refused, and updated when it ends."""
    line = f"{request.method} {target_of(request)}"
    return Attempt(
        kind=SessionRecord.Kind.PORT_FORWARD,
        user=user if user.is_authenticated else None,
        cluster=cluster,
        namespace=namespace,
        pod=pod,
        port=port,
        command=line[:MAX_REQUEST_LINE],
        client=request.META.get("REMOTE_ADDR", ""),
        best_effort=True,
    )


def outcome_text(status: int, message: str) -> str:
    """What the audit row says about a request that was not served: the status answered and the sentence shown."""
    return f"HTTP {status}: {message}"


# --- the request as the pod sees it ------------------------------------------------------------------------------


def target_of(request: HttpRequest) -> str:
    """The request target for the pod: the path under the proxy's prefix, and the query string as it came."""
    rest = (request.resolver_match.kwargs.get("rest") if request.resolver_match else None) or ""
    path = "/" + quote(rest, safe="/:@!$&'()*+,;=~%")
    query = request.META.get("QUERY_STRING", "")
    return path + ("?" + query if query else "")


def request_headers(headers: Iterable[tuple[str, str]], port: int, length: int, method: str) -> list[tuple[str, str]]:
    """The headers sent to the pod: the browser's, less hop-by-hop ones and Podscope's, with our Host and framing."""
    items = list(headers)
    named_in_connection = {
        token.strip().lower() for name, value in items if name.lower() == "connection" for token in value.split(",")
    }
    kept = [(n, v) for n, v in items if n.lower() not in REQUEST_DROPPED and n.lower() not in named_in_connection]
    framing = [("Content-Length", str(length))] if length or method not in ("GET", "HEAD", "OPTIONS", "DELETE") else []
    return [("Host", f"localhost:{port}"), *kept, *framing, ("Connection", "close")]


def response_headers(headers: Iterable[tuple[str, str]], prefix: str, port: int) -> list[tuple[str, str]]:
    """The pod's headers as passed to the browser: no hop-by-hop ones or cookies, Location kept under the proxy."""
    items = list(headers)
    named_in_connection = {
        token.strip().lower() for name, value in items if name.lower() == "connection" for token in value.split(",")
    }
    kept: dict[str, tuple[str, str]] = {}
    for name, value in items:
        low = name.lower()
        if low in RESPONSE_DROPPED or low in named_in_connection or low.startswith(RESPONSE_DROPPED_PREFIXES):
            continue
        if low == "location":
            value = rewrite_location(value, prefix, port)
        if low in kept:
            # One header per name, as Django keeps them; list-valued headers join with commas, as RFC 9110 allows.
            value = kept[low][1] + ", " + value
        kept[low] = (name, value)
    # A policy of the pod's own is kept: the browser enforces every policy it is given.
    policy = kept.get("content-security-policy")
    kept["content-security-policy"] = ("Content-Security-Policy", SANDBOX + (", " + policy[1] if policy else ""))
    return list(kept.values())


def rewrite_location(location: str, prefix: str, port: int) -> str:
    """A redirect target as the browser should follow it: the pod's own URLs stay under the proxy's `prefix`."""
    try:
        parts = urlsplit(location)
        location_port = parts.port
    except ValueError:
        return location
    if parts.netloc:
        # An absolute URL is the pod's own when it names localhost, as curl through kubectl port-forward reads it.
        local = (parts.hostname or "") in LOCAL_HOSTS and location_port in (None, port)
        if parts.scheme not in ("", "http") or not local:
            return location
    elif not location.startswith("/"):
        return location  # relative: the browser already resolves it under the prefix
    rewritten = prefix + parts.path.lstrip("/")
    if parts.query:
        rewritten += "?" + parts.query
    if parts.fragment:
        rewritten += "#" + parts.fragment
    return rewritten


# --- the exchange --------------------------------------------------------------------------------------------------


class Exchange:
    """One request sent on one port-forward connection, and its answer read with h11."""

    def __init__(self, connection: PortConnection) -> None:
        self.connection = connection
        self.http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self._chunks = aiter(connection)

    async def send(self, method: str, target: str, headers: list[tuple[str, str]], body: Iterable[bytes]) -> None:
        """Send the request line, headers and body."""
        # Names go as h11 would encode them itself (ASCII); values as Django decoded them (Latin-1).
        encoded = [(n.encode("ascii"), v.encode("latin-1")) for n, v in headers]
        head = h11.Request(method=method, target=target, headers=encoded)
        await self.connection.write(self.http.send(head))
        for chunk in body:
            if chunk:
                await self.connection.write(self.http.send(h11.Data(data=chunk)))
        await self.connection.write(self.http.send(h11.EndOfMessage()))

    async def _event(self) -> h11.Event | type[h11.PAUSED]:
        while True:
            event = self.http.next_event()
            if isinstance(event, h11.Event):
                return event
            if event is h11.PAUSED:
                return h11.PAUSED
            self.http.receive_data(await anext(self._chunks, b""))  # NEED_DATA

    async def response(self) -> h11.Response:
        """The pod's status line and headers (informational 1xx answers are skipped)."""
        while True:
            event = await self._event()
            if isinstance(event, h11.Response):
                return event
            if isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the pod closed the connection without answering")
            # InformationalResponse (100 Continue, 103 Early Hints) carries nothing the browser needs.

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body, as the pod sends it, without its transfer framing."""
        while True:
            event = await self._event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                return


def _body_chunks(request: HttpRequest) -> Iterable[bytes]:
    # Django has already read the whole body into a spooled file; it is sent on in pieces.
    while chunk := request.read(READ_SIZE):
        yield chunk


async def _running_pod(cluster: clusters.Cluster, namespace: str, name: str, port: int) -> dict[str, Any]:
    try:
        pod = await resources.get_pod(cluster, namespace, name)
    except resources.NotFound:
        raise Failed(
            "Pod not found", f'There is no pod "{name}" in namespace "{namespace}" of {cluster.label}.', 404
        ) from None
    except resources.KubeError as exc:
        raise _failure(exc, port, name) from None
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if phase != "Running":
        raise Failed(
            "The pod is not running",
            f"Pod {name} is {phase}, not Running, so its port {port} cannot be opened (as kubectl port-forward "
            "refuses too).",
            409,
        )
    return pod


def _failure(exc: BaseException, port: int, pod: str) -> Failed:
    if isinstance(exc, TimeoutError):
        return Failed(
            "The pod did not answer",
            f"Port {port} of pod {pod} sent no answer within {FIRST_BYTE_TIMEOUT:g} seconds.",
            504,
        )
    if isinstance(exc, h11.LocalProtocolError):
        return Failed("Cannot be sent", f"This request cannot be sent on as HTTP/1.1: {exc}.", 400)
    if isinstance(exc, h11.ProtocolError):
        return Failed(
            "Not an HTTP answer",
            f"What came back from port {port} of pod {pod} is not an HTTP/1.1 answer ({exc}). Only plain HTTP can "
            "be opened here.",
            502,
        )
    if isinstance(exc, resources.Forbidden):
        return Failed("Port-forward refused", sentence(exc.message), 403, refused=True)
    if isinstance(exc, resources.KubeError):
        title = "The cluster did not answer" if exc.unreachable else "The port could not be opened"
        return Failed(title, sentence(exc.message), 502)
    return Failed("The port could not be opened", sentence(str(exc) or type(exc).__name__), 502)


async def forward(
    request: HttpRequest, attempt: Attempt, cluster: clusters.Cluster, namespace: str, name: str, port: int, token: str
) -> StreamingHttpResponse:
    """Send the request to the pod's port and answer with what the pod answers, its body streamed.

    Raises Failed when nothing could be forwarded; the caller records it. The audit row is written as soon as the
    port-forward is about to open, and updated when the answer has been streamed (or the browser went away).
    """
    if not 1 <= port <= 65535:
        raise Failed("Not a port", f"{port} is not a TCP port: ports go from 1 to 65535.", 404)
    method, target = request.method or "GET", target_of(request)
    try:
        length = max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0  # as Django reads it: the body is then empty
    headers = request_headers(request.headers.items(), port, length, method)
    connection: PortConnection | None = None
    try:
        pod = await _running_pod(cluster, namespace, name, port)
        attempt.container = port_owner(pod, port)
        await attempt.save()
        async with asyncio.timeout(FIRST_BYTE_TIMEOUT):
            connection = await PortConnection.open(
                cluster, namespace, name, port, heartbeat=settings.PODSCOPE_EXEC_KEEPALIVE
            )
            exchange = Exchange(connection)
            await exchange.send(method, target, headers, _body_chunks(request))
            head = await exchange.response()
    except asyncio.CancelledError:
        await _close(connection, attempt)
        await attempt.end("the browser went away before the pod answered")
        raise
    except (TimeoutError, h11.ProtocolError, resources.KubeError, OSError) as exc:
        await _close(connection, attempt)
        raise _failure(exc, port, name) from None
    prefix = reverse("pod-port", args=[cluster.id, namespace, name, port, token])
    reason = head.reason.decode("latin-1", "replace") or None
    response = StreamingHttpResponse(_stream(exchange, connection, attempt), status=head.status_code, reason=reason)
    upstream = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in head.headers]
    if not any(n.lower() == "content-type" for n, _ in upstream):
        del response["Content-Type"]  # the pod sent none, so the browser decides as it would facing the pod
    for header, value in response_headers(upstream, prefix, port):
        response[header] = value
    return response


async def _close(connection: PortConnection | None, attempt: Attempt) -> None:
    if connection is None:
        return
    with contextlib.suppress(Exception):
        await connection.close()
    attempt.bytes_in, attempt.bytes_out = connection.bytes_in, connection.bytes_out


async def _stream(exchange: Exchange, connection: PortConnection, attempt: Attempt) -> AsyncIterator[bytes]:
    outcome = "the browser went away before the answer was complete"
    try:
        async for chunk in exchange.body():
            yield chunk
        outcome = ""
    except (h11.ProtocolError, resources.KubeError, OSError) as exc:
        # The status line is sent already; the browser sees the answer end early.
        text = exc.message if isinstance(exc, resources.KubeError) else str(exc)
        outcome = f"the answer was cut short: {text}"
    finally:
        await _close(connection, attempt)
        await attempt.end(outcome)
