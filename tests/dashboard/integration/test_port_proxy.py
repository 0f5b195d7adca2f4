"""Opening a pod's port through Podscope, against the real sandbox: what passes, who may, and the audit rows."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.core.asgi import get_asgi_application
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import AsyncClient
from django.urls import reverse
from django.utils.crypto import get_random_string

from dashboard import proxy
from dashboard.kube import clusters
from dashboard.kube.portforward import PortConnection, PortRefused
from dashboard.kube.watches import WatchHub
from dashboard.models import SessionRecord
from tests.dashboard.integration.helpers import body_of, http_scope, until_served, url

pytestmark = pytest.mark.django_db(transaction=True)

# The tutorial's pod: a producer appends lines to index.html in an emptyDir that nginx serves.
PRODUCER = "while true; do echo $(hostname) $(date) >> /var/log/index.html; sleep 10; done"

# A small HTTP server for the pod side: it answers with what it was sent, and has a few special paths.
ECHO = r"""
import json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

gone = []

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, body, *headers):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/redirect"):
            return self.send(302, b"", ("Location", "http://localhost:8080/moved?to=here#top"))
        if self.path == "/silent":
            time.sleep(30)
            return
        if self.path == "/gone":
            return self.send(200, json.dumps(gone).encode(), ("Content-Type", "application/json"))
        if self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for n in range(3000):
                    line = f"tick {n}\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError as exc:
                gone.append(type(exc).__name__)
            return
        seen = {
            "method": self.command,
            "target": self.path,
            "headers": [[k.lower(), v] for k, v in self.headers.items()],
            "body": body.decode(),
        }
        self.send(
            200,
            json.dumps(seen).encode(),
            ("Content-Type", "application/json"),
            ("Set-Cookie", "pod=1; Path=/"),
            ("Set-Cookie", "other=2"),
            ("Content-Security-Policy", "default-src 'self'"),
            ("Strict-Transport-Security", "max-age=600"),
            ("Access-Control-Allow-Origin", "*"),
            ("X-Pod", "echo"),
        )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = answer

ThreadingHTTPServer(("", 8080), Echo).serve_forever()
"""
# Answers anything with bytes that are not HTTP, then closes.
NOT_HTTP = (
    "import socket\ns = socket.create_server(('', 7000))\nwhile True:\n"
    "    c, _ = s.accept()\n    c.recv(65536)\n    c.sendall(b'220 hello, this is not HTTP\\r\\n')\n    c.close()\n"
)


@sync_to_async
def records(**filters: Any) -> list[SessionRecord]:
    return list(SessionRecord.objects.filter(kind="port-forward", **filters).order_by("pk"))


async def last_record(**filters: Any) -> SessionRecord:
    """The newest port-forward row, once it has ended (the end is written after the body has been streamed)."""
    deadline = time.monotonic() + 10
    while True:
        found = await records(**filters)
        if found and found[-1].ended is not None:
            return found[-1]
        assert time.monotonic() < deadline, f"no ended audit row: {found}"
        await asyncio.sleep(0.1)


@pytest.fixture
def tutorial_pod(make_pod: Callable[..., dict[str, Any]]) -> str:
    """The tutorial's multicontainer-pod: a producer writing the page nginx serves on port 80."""
    make_pod(
        "multicontainer-pod",
        containers=[
            {
                "name": "producer",
                "image": "ubuntu",
                "command": ["/bin/bash"],
                "args": ["-c", PRODUCER],
                "volumeMounts": [{"name": "webcontent", "mountPath": "/var/log"}],
            },
            {
                "name": "consumer",
                "image": "nginx",
                "ports": [{"containerPort": 80}],
                "volumeMounts": [{"name": "webcontent", "mountPath": "/usr/share/nginx/html"}],
            },
        ],
        volumes=[{"name": "webcontent", "emptyDir": {}}],
    )
    return "multicontainer-pod"


@pytest.fixture
def echo_pod(make_pod: Callable[..., dict[str, Any]]) -> str:
    """A pod whose port 8080 answers with the request it got; it declares no port at all."""
    make_pod("echo", containers=[{"name": "echo", "image": "python", "command": ["python3", "-c", ECHO]}])
    return "echo"


@pytest.fixture
async def alice_client(async_client: AsyncClient, alice: User, sandbox_cluster: clusters.Cluster) -> AsyncClient:
    """The test client signed in as alice (an operator), with the sandbox as the dashboard's cluster."""
    await async_client.aforce_login(alice)
    return async_client


@pytest.mark.usefixtures("settle")
async def test_a_port_connection_carries_bytes_both_ways_and_counts_them(
    sandbox_cluster: clusters.Cluster, namespace: str, tutorial_pod: str
) -> None:
    request = b"GET /index.html HTTP/1.1\r\nHost: localhost:80\r\nConnection: close\r\n\r\n"
    deadline = time.monotonic() + 20
    while True:
        connection = await PortConnection.open(sandbox_cluster, namespace, tutorial_pod, 80)
        try:
            await connection.write(request)
            answer = b"".join([chunk async for chunk in connection])
            break
        except PortRefused:
            assert time.monotonic() < deadline, "nginx never listened"
            await asyncio.sleep(0.3)
        finally:
            await connection.close()
            await connection.close()  # closing twice is harmless
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert f"\r\n\r\n{tutorial_pod} ".encode() in answer
    assert (connection.bytes_in, connection.bytes_out) == (len(request), len(answer))


async def send_and_drain(connection: PortConnection, data: bytes) -> bytes:
    await connection.write(data)
    return b"".join([chunk async for chunk in connection])


@pytest.mark.usefixtures("settle")
async def test_a_port_connection_explains_a_refused_port_whenever_it_is_used(
    sandbox_cluster: clusters.Cluster, namespace: str, tutorial_pod: str
) -> None:
    for wait in (0.0, 0.5):
        connection = await PortConnection.open(sandbox_cluster, namespace, tutorial_pod, 81)
        try:
            # After half a second the kubelet has given up and closed: the write fails, and its error still says why.
            await asyncio.sleep(wait)
            with pytest.raises(PortRefused, match=f"^nothing is listening on port 81 in pod {tutorial_pod}"):
                await send_and_drain(connection, b"GET / HTTP/1.1\r\n\r\n")
        finally:
            await connection.close()


async def test_alice_gets_the_page_nginx_serves(
    alice_client: AsyncClient, alice: User, namespace: str, tutorial_pod: str
) -> None:
    response, body = await until_served(alice_client, url(alice_client, namespace, tutorial_pod, 80))
    assert response.status_code == 200, body
    assert body.decode().startswith(f"{tutorial_pod} ")  # "multicontainer-pod <date>", as curl shows it
    assert response["Content-Security-Policy"] == proxy.SANDBOX
    assert "allow-same-origin" not in response["Content-Security-Policy"]
    assert response["Content-Type"] == "text/html"
    assert response["Server"].startswith("nginx")
    assert not response.cookies
    assert "Set-Cookie" not in response

    record = await last_record()
    assert record.allowed
    assert (record.user_id, record.username) == (alice.pk, "alice")
    assert (record.cluster, record.namespace, record.pod, record.port) == ("sandbox", namespace, tutorial_pod, 80)
    assert record.container == "consumer"
    assert record.command == "GET /"
    assert record.client == "127.0.0.1"
    assert record.outcome == ""
    assert record.exit_code is None
    assert record.ended >= record.started
    # Everything nginx sent: its head and the page, which is all the producer's lines.
    assert record.bytes_out > len(body)
    assert record.bytes_in > len("GET / HTTP/1.1\r\n\r\n")


async def test_a_path_and_query_reach_nginx(alice_client: AsyncClient, namespace: str, tutorial_pod: str) -> None:
    response, body = await until_served(
        alice_client, url(alice_client, namespace, tutorial_pod, 80, "index.html") + "?a=1&b=%20"
    )
    assert response.status_code == 200
    assert tutorial_pod.encode() in body
    missing = await alice_client.get(url(alice_client, namespace, tutorial_pod, 80, "no/such/page.html"))
    assert missing.status_code == 404  # nginx's own answer, passed on
    assert b"nginx" in await body_of(missing)
    assert missing["Content-Security-Policy"] == proxy.SANDBOX
    commands = [r.command for r in await records()]
    assert "GET /index.html?a=1&b=%20" in commands
    assert "GET /no/such/page.html" in commands


async def test_the_request_reaches_the_pod_as_curl_would_send_it(
    alice_client: AsyncClient, namespace: str, echo_pod: str
) -> None:
    await until_served(alice_client, url(alice_client, namespace, echo_pod, 8080, "ready"))
    alice_client.cookies["pod"] = "from-the-browser"
    response = await alice_client.post(
        url(alice_client, namespace, echo_pod, 8080, "form/submit") + "?x=1",
        data=b"name=Ada&lang=en",
        content_type="application/x-www-form-urlencoded",
        headers={"X-Custom": "kept", "Authorization": "Bearer podscope-secret", "X-Forwarded-For": "1.2.3.4"},
    )
    assert response.status_code == 200
    seen = json.loads(await body_of(response))
    headers = dict(seen["headers"])
    assert (seen["method"], seen["target"], seen["body"]) == ("POST", "/form/submit?x=1", "name=Ada&lang=en")
    assert headers["host"] == "localhost:8080"
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert headers["content-length"] == "16"
    assert headers["x-custom"] == "kept"
    # Neither Podscope's cookies (session, CSRF) nor any other credential goes on to the pod.
    assert "cookie" not in headers
    assert "authorization" not in headers
    assert "x-forwarded-for" not in headers

    # The pod may not set cookies on Podscope's origin, nor policies for all of it; its own CSP is kept, after ours.
    assert "Set-Cookie" not in response
    assert not response.cookies
    assert response["Content-Security-Policy"] == proxy.SANDBOX + ", default-src 'self'"
    assert "Strict-Transport-Security" not in response
    assert "Access-Control-Allow-Origin" not in response
    assert response["X-Pod"] == "echo"

    record = await last_record(command="POST /form/submit?x=1")
    assert record.allowed
    assert record.outcome == ""
    assert record.container == ""  # the echo pod declares no port: any port may be opened all the same
    assert record.port == 8080
    assert record.bytes_in > 16
    assert record.bytes_out > len(json.dumps(seen))


async def test_unsafe_requests_need_podscopes_csrf_token(
    alice: User, sandbox_cluster: clusters.Cluster, namespace: str, echo_pod: str
) -> None:
    browser = AsyncClient(enforce_csrf_checks=True)
    await browser.aforce_login(alice)
    await until_served(browser, url(browser, namespace, echo_pod, 8080, "ready"))
    refused = await browser.post(
        url(browser, namespace, echo_pod, 8080, "form"), data=b"a=1", content_type="text/plain"
    )
    assert refused.status_code == 403
    assert "A POST request to a pod&#x27;s port needs Podscope&#x27;s CSRF token" in (await body_of(refused)).decode()
    record = await last_record(command="POST /form")
    assert not record.allowed
    assert record.outcome.startswith("HTTP 403: A POST request to a pod's port needs Podscope's CSRF token")

    token = get_random_string(32)
    browser.cookies[settings.CSRF_COOKIE_NAME] = token
    sent = await browser.post(
        url(browser, namespace, echo_pod, 8080, "form"),
        data=b"a=1",
        content_type="text/plain",
        headers={"X-CSRFToken": token},
    )
    assert sent.status_code == 200
    seen = json.loads(await body_of(sent))
    assert seen["body"] == "a=1"
    assert not {"cookie", "x-csrftoken"} & {name for name, _ in seen["headers"]}

    # A form with a file goes on byte for byte: Podscope does not parse a body that is the pod's.
    upload = SimpleUploadedFile("notes.txt", b"line one\nline two\n", content_type="text/plain")
    sent = await browser.post(
        url(browser, namespace, echo_pod, 8080, "upload"),
        data={"a": "1", "file": upload},
        headers={"X-CSRFToken": token},
    )
    seen = json.loads(await body_of(sent))
    assert dict(seen["headers"])["content-type"].startswith("multipart/form-data; boundary=")
    assert 'name="file"; filename="notes.txt"' in seen["body"]
    assert "line one\nline two\n" in seen["body"]


async def test_a_put_with_a_larger_body_passes_whole(alice_client: AsyncClient, namespace: str, echo_pod: str) -> None:
    await until_served(alice_client, url(alice_client, namespace, echo_pod, 8080, "ready"))
    payload = "x" * 300_000
    response = await alice_client.put(
        url(alice_client, namespace, echo_pod, 8080, "upload"), payload, content_type="text/plain"
    )
    seen = json.loads(await body_of(response))
    assert (seen["method"], len(seen["body"])) == ("PUT", 300_000)
    record = await last_record(command="PUT /upload")
    assert record.bytes_in > 300_000


async def test_redirects_stay_under_the_proxy(alice_client: AsyncClient, namespace: str, echo_pod: str) -> None:
    response, _ = await until_served(alice_client, url(alice_client, namespace, echo_pod, 8080, "redirect"))
    assert response.status_code == 302
    assert response["Location"] == url(alice_client, namespace, echo_pod, 8080) + "moved?to=here#top"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/next", "/p/next"),
        ("/", "/p/"),
        ("next?a=1", "next?a=1"),
        ("http://localhost/x?y=1", "/p/x?y=1"),
        ("http://localhost:8080/x", "/p/x"),
        ("http://127.0.0.1:8080", "/p/"),
        ("http://[::1]:8080/v6", "/p/v6"),
        ("//localhost:8080/net", "/p/net"),
        ("http://localhost:9090/other-port", "http://localhost:9090/other-port"),
        ("https://localhost:8080/tls", "https://localhost:8080/tls"),
        ("https://example.org/away", "https://example.org/away"),
        ("http://localhost:notaport/", "http://localhost:notaport/"),
    ],
)
def test_location_rewriting(location: str, expected: str) -> None:
    assert proxy.rewrite_location(location, "/p/", 8080) == expected


def test_hop_by_hop_headers_are_not_passed_either_way() -> None:
    sent = proxy.request_headers(
        [
            ("Host", "podscope.example"),
            ("Connection", "keep-alive, X-Private"),
            ("X-Private", "secret"),
            ("Keep-Alive", "5"),
            ("Upgrade", "websocket"),
            ("Te", "trailers"),
            ("Cookie", "sessionid=abc; csrftoken=def"),
            ("Accept", "text/html"),
        ],
        8080,
        0,
        "GET",
    )
    assert sent == [("Host", "localhost:8080"), ("Accept", "text/html"), ("Connection", "close")]
    answered = proxy.response_headers(
        [
            ("Connection", "close, X-Hop"),
            ("X-Hop", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Set-Cookie", "a=1"),
            ("Clear-Site-Data", '"cookies"'),
            ("Vary", "Accept"),
            ("Vary", "Accept-Encoding"),
            ("Content-Type", "text/plain"),
        ],
        "/p/",
        8080,
    )
    assert answered == [
        ("Vary", "Accept, Accept-Encoding"),
        ("Content-Type", "text/plain"),
        ("Content-Security-Policy", proxy.SANDBOX),
    ]


async def test_a_port_nothing_listens_on_gets_a_clear_sentence(
    alice_client: AsyncClient, namespace: str, tutorial_pod: str
) -> None:
    response = await alice_client.get(url(alice_client, namespace, tutorial_pod, 81, "x"))
    assert response.status_code == 502
    page = (await body_of(response)).decode()
    assert f"Nothing is listening on port 81 in pod {tutorial_pod}" in page, page[page.find("<main") :]
    record = await last_record()
    assert record.allowed  # Podscope let alice try; the pod had nothing there
    assert record.outcome.startswith(f"HTTP 502: Nothing is listening on port 81 in pod {tutorial_pod}")
    assert record.container == ""
    assert (record.port, record.command) == (81, "GET /x")


async def test_an_answer_that_is_not_http_is_explained(
    alice_client: AsyncClient, namespace: str, make_pod: Callable[..., dict[str, Any]]
) -> None:
    make_pod("smtpish", containers=[{"name": "main", "image": "python", "command": ["python3", "-c", NOT_HTTP]}])
    response, body = await until_served(alice_client, url(alice_client, namespace, "smtpish", 7000))
    assert response.status_code == 502
    assert "is not an HTTP/1.1 answer" in body.decode()
    assert "Only plain HTTP can be opened here." in body.decode()


async def test_a_pod_that_never_answers_times_out(
    alice_client: AsyncClient, namespace: str, echo_pod: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await until_served(alice_client, url(alice_client, namespace, echo_pod, 8080, "ready"))
    monkeypatch.setattr(proxy, "FIRST_BYTE_TIMEOUT", 1.0)
    started = time.monotonic()
    response = await alice_client.get(url(alice_client, namespace, echo_pod, 8080, "silent"))
    assert time.monotonic() - started < 10
    assert response.status_code == 504
    assert f"Port 8080 of pod {echo_pod} sent no answer within 1 seconds." in (await body_of(response)).decode()
    record = await last_record(command="GET /silent")
    assert record.outcome.startswith("HTTP 504: ")


@pytest.fixture(params=["bob", "carol"])
def unprivileged(request: pytest.FixtureRequest) -> User:
    """bob (a viewer) and carol (granted nothing) in turn: neither may exec, so neither may open ports."""
    return request.getfixturevalue(request.param)


async def test_users_without_the_exec_permission_are_refused_and_recorded(
    async_client: AsyncClient, unprivileged: User, sandbox_cluster: clusters.Cluster, namespace: str
) -> None:
    user = unprivileged
    await async_client.aforce_login(user)
    # No pod is needed: the permission is checked before anything else, so nothing about the cluster leaks.
    response = await async_client.post(
        url(async_client, namespace, "anything", 80, "admin"), data=b"x", content_type="text/plain"
    )
    assert response.status_code == 403
    assert "Opening a pod&#x27;s port needs the permission to exec in pods." in (await body_of(response)).decode()
    record = await last_record()
    assert not record.allowed
    assert (record.username, record.user_id) == (user.username, user.pk)
    assert record.outcome == "HTTP 403: Opening a pod's port needs the permission to exec in pods."
    assert (record.namespace, record.pod, record.port, record.command) == (namespace, "anything", 80, "POST /admin")
    assert record.client == "127.0.0.1"
    assert (record.bytes_in, record.bytes_out) == (0, 0)
    assert record.ended is not None


async def test_ports_are_links_for_operators_only(
    async_client: AsyncClient,
    alice: User,
    bob: User,
    sandbox_cluster: clusters.Cluster,
    namespace: str,
    tutorial_pod: str,
    watch_hub: WatchHub,
) -> None:
    page = reverse("pod-detail", args=["sandbox", namespace, tutorial_pod])
    await async_client.aforce_login(alice)
    link = f'href="{url(async_client, namespace, tutorial_pod, 80)}" target="_blank" rel="noopener"'
    html = (await async_client.get(page)).content.decode()
    assert html.count(link) == 2  # the diagram's chip and the consumer's card
    await async_client.aforce_login(bob)
    html = (await async_client.get(page)).content.decode()
    assert "/port/" not in html
    assert "80/TCP" in html


async def test_where_the_cluster_refuses_port_forward_ports_are_not_links(
    alice_client: AsyncClient, namespace: str, tutorial_pod: str, viewer_cluster: clusters.Cluster, watch_hub: WatchHub
) -> None:
    response = await alice_client.get(reverse("pod-detail", args=[viewer_cluster.id, namespace, tutorial_pod]))
    html = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 200
    assert "/port/" not in html
    assert html.count("The cluster does not allow port-forward for Podscope's credentials") == 2

    # Asked all the same (by a typed address), the API server refuses, and that is recorded as a refusal.
    response = await alice_client.get(url(alice_client, namespace, tutorial_pod, 80, cluster=viewer_cluster.id))
    assert response.status_code == 403
    assert (
        "The cluster does not allow Podscope to forward a port here (HTTP 403)." in (await body_of(response)).decode()
    )
    record = await last_record()
    assert not record.allowed
    assert record.cluster == "viewer"
    assert record.outcome == "HTTP 403: The cluster does not allow Podscope to forward a port here (HTTP 403)."


async def test_anonymous_is_sent_to_sign_in(async_client: AsyncClient, sandbox_cluster: clusters.Cluster) -> None:
    response = await async_client.get(reverse("pod-port", args=["sandbox", "default", "web", 80, "t", "x"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")
    assert await records() == []


@pytest.mark.parametrize(
    ("path", "status", "sentence"),
    [
        (("sandbox", "Bad_NS", "web", 80), 404, "is not a valid namespace name"),
        (("sandbox", "default", "Web", 80), 404, "is not a valid pod name"),
        (("nowhere", "default", "web", 80), 404, "nowhere"),
        (("sandbox", "NAMESPACE", "missing", 80), 404, 'There is no pod "missing" in namespace'),
        (("sandbox", "NAMESPACE", "missing", 0), 404, "0 is not a TCP port: ports go from 1 to 65535."),
        (("sandbox", "NAMESPACE", "missing", 65536), 404, "65536 is not a TCP port"),
    ],
)
async def test_what_cannot_be_opened_gets_the_problem_page(
    alice_client: AsyncClient, namespace: str, path: tuple[str, str, str, int], status: int, sentence: str
) -> None:
    cluster, ns, pod, port = path
    response = await alice_client.get(url(alice_client, ns.replace("NAMESPACE", namespace), pod, port, cluster=cluster))
    assert response.status_code == status
    assert sentence in (await body_of(response)).decode().replace("&quot;", '"')
    record = await last_record()
    assert record.outcome.startswith(f"HTTP {status}: ")
    assert record.allowed


async def test_a_pod_that_is_not_running_is_refused_as_kubectl_does(
    alice_client: AsyncClient, namespace: str, make_pod: Callable[..., dict[str, Any]]
) -> None:
    make_pod("done", command="true", ready=False, restartPolicy="Never")
    deadline = time.monotonic() + 30
    while True:
        response = await alice_client.get(url(alice_client, namespace, "done", 80))
        page = (await body_of(response)).decode()
        if "Succeeded, not Running" in page or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.3)
    assert response.status_code == 409
    assert "Pod done is Succeeded, not Running, so its port 80 cannot be opened" in page


async def test_a_dead_cluster_gets_a_sentence_not_a_500(
    async_client: AsyncClient, alice: User, dead_cluster: clusters.Cluster
) -> None:
    await async_client.aforce_login(alice)
    response = await async_client.get(url(async_client, "default", "web", 80, cluster=dead_cluster.id))
    assert response.status_code == 502
    assert "Cannot reach the cluster at https://127.0.0.1:" in (await body_of(response)).decode()


async def test_the_upstream_closes_when_the_browser_goes_away(
    alice_client: AsyncClient, alice: User, namespace: str, echo_pod: str
) -> None:
    await until_served(alice_client, url(alice_client, namespace, echo_pod, 8080, "ready"))
    session = alice_client.cookies[settings.SESSION_COOKIE_NAME].value
    path = url(alice_client, namespace, echo_pod, 8080, "slow")
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}".encode()
    scope = http_scope(path, [(b"host", b"testserver"), (b"cookie", cookie)], ("192.0.2.7", 51000), ("testserver", 80))
    ticks: list[bytes] = []
    went_away = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await went_away.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            ticks.append(message["body"])
            if len(ticks) >= 3:
                went_away.set()

    await asyncio.wait_for(get_asgi_application()(scope, receive, send), 20)
    assert b"".join(ticks).startswith(b"tick 0\n")

    record = await last_record(command="GET /slow")
    assert record.outcome == "the browser went away before the answer was complete"
    assert record.client == "192.0.2.7"
    assert record.bytes_out > 0
    # The pod's side saw its connection end: its next write failed.
    deadline = time.monotonic() + 10
    while not (
        failed := json.loads(
            await body_of(await alice_client.get(url(alice_client, namespace, echo_pod, 8080, "gone")))
        )
    ):
        assert time.monotonic() < deadline, "the pod's side of the stream never ended"
        await asyncio.sleep(0.2)
    assert failed[0] in ("BrokenPipeError", "ConnectionResetError")
