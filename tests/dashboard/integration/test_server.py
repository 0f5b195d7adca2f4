"""The server (python -m dashboard.server) as browsers and networks meet it: answers at the protocol's limits,
and a stop that closes every socket with 1001 and lets each clean up."""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from kubernetes import client

from tests.clusters import SandboxProcess
from tests.dashboard.harness import Podscope, start_dashboard
from tests.pods import wait_for

COUNTER = "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done"


def exchange(served: Podscope, request: bytes) -> bytes:
    """Send raw bytes to the dashboard and read its whole answer."""
    host, port = served.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_request_line_too_long_gets_414(served: Podscope) -> None:
    answer = exchange(served, b"GET /" + b"a" * 17_000 + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414 URI Too Long\r\n")
    assert answer.endswith(b"The request's address (its URL) is longer than the 16 KiB Podscope reads.\n")


def test_a_header_line_too_long_gets_431(served: Podscope) -> None:
    answer = exchange(served, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"b" * 17_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_head_gets_headers_only_even_for_a_long_answer_and_the_connection_stays_usable(served: Podscope) -> None:
    # Any static file over 64 KiB is sent in pieces; xterm.js is one.
    path = b"/static/vendor/xterm/xterm.js"
    head = b"HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path
    get = b"GET /accounts/login/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    answer = exchange(served, head + get)
    first, _, rest = answer.partition(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK")
    assert int(dict(line.split(b": ", 1) for line in first.split(b"\r\n")[1:])[b"Content-Length"]) > 64 * 1024
    # What follows the first answer's headers is the second answer, not the first one's body.
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n")


async def test_many_sign_ins_at_once_get_answers_not_500(served: Podscope) -> None:
    # Each failed sign-in writes rows (django-axes); with SQLite's deferred transactions, two writers at once
    # failed at once with "database is locked", which reached people as 500s.
    async def attempt(n: int) -> int:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            async with session.get(served.url + "/accounts/login/") as response:
                page = await response.text()
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
            assert token is not None
            data = {"username": f"guess{n % 7}", "password": "wrong", "csrfmiddlewaretoken": token.group(1)}
            async with session.post(served.url + "/accounts/login/", data=data, headers={"Origin": served.url}) as r:
                await r.read()
                return r.status

    statuses = [status for _ in range(6) for status in await asyncio.gather(*(attempt(n) for n in range(10)))]
    assert set(statuses) <= {200, 429}, statuses


@pytest.mark.parametrize(("path", "status"), [("/no/such/page/", 404), ("/c/sandbox/preview/", 400)])
async def test_a_form_too_large_gets_its_own_error_page_not_500(served: Podscope, path: str, status: int) -> None:
    # Django's error views parse a posted form again (their CSRF check); one over DATA_UPLOAD_MAX_MEMORY_SIZE then
    # raised while its 404 or 400 page was being made, and the person got a 500.
    session, _ = await served.signed_in("poster", "Viewers")
    async with session:
        async with session.get(served.url + "/c/sandbox/preview/") as response:
            csrf = re.search(r'"X-CSRFToken": "([^"]+)"', await response.text())
        assert csrf is not None
        # One form field (not a file) of 3 MiB.
        body = b'--b\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n' + b"x" * (3 * 1024 * 1024)
        body += b"\r\n--b--\r\n"
        headers = {"Origin": served.url, "X-CSRFToken": csrf.group(1)}
        headers["Content-Type"] = "multipart/form-data; boundary=b"
        async with session.post(served.url + path, data=io.BytesIO(body), headers=headers) as response:
            await response.read()
            assert response.status == status


def socket_url(podscope: Podscope, path: str, token: str, **params: str) -> str:
    return podscope.url.replace("http", "ws", 1) + path + "?" + urlencode({"token": token, **params})


async def test_a_websocket_message_over_the_limit_gets_1009_with_a_reason(served: Podscope) -> None:
    session, token = await served.signed_in("mallory", "Viewers")
    async with session:
        url = socket_url(served, "/ws/c/sandbox/ns/default/pods/any/logs/", token)
        async with session.ws_connect(url, headers={"Origin": served.url}) as ws:
            await ws.send_str("x" * (1024 * 1024 + 1))
            message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1009
            assert "payload" in (message.extra or "")


@pytest.fixture
def stoppable(sandbox: SandboxProcess, tmp_path: Path) -> Iterator[Podscope]:
    """A dashboard of its own, to be stopped by the test."""
    server = start_dashboard(sandbox, tmp_path / "podscope")
    try:
        yield server
    finally:
        server.stop()


async def test_sigterm_closes_every_socket_with_1001_and_ends_the_terminals_audit_row(
    stoppable: Podscope, core: client.CoreV1Api, namespace: str
) -> None:
    spec = {"containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", COUNTER]}]}
    core.create_namespaced_pod(namespace, {"metadata": {"name": "web"}, "spec": spec})
    wait_for(core, namespace, "web", lambda p: p.status.phase == "Running", timeout=30)
    session, token = await stoppable.signed_in("ops", "Operators")
    base = f"/ws/c/sandbox/ns/{namespace}/pods/"
    async with session:
        origin = {"Origin": stoppable.url}
        pods = await session.ws_connect(socket_url(stoppable, base, token), headers=origin)
        pod = await session.ws_connect(socket_url(stoppable, base + "web/", token), headers=origin)
        log = await session.ws_connect(socket_url(stoppable, base + "web/logs/", token), headers=origin)
        await log.send_str(json.dumps({"type": "start", "container": "main", "tail": 1}))
        shell = await session.ws_connect(
            socket_url(stoppable, base + "web/exec/", token, container="main", command="sh"), headers=origin
        )
        while json.loads((await shell.receive(timeout=15)).data).get("type") != "started":
            pass
        for ws in (pods, pod, log):
            assert (await ws.receive(timeout=15)).type == aiohttp.WSMsgType.TEXT  # each is live

        assert stoppable.process is not None
        started = time.monotonic()
        stoppable.process.send_signal(signal.SIGTERM)

        async def close_code(ws: aiohttp.ClientWebSocketResponse) -> int | None:
            while (await ws.receive(timeout=10)).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
            return ws.close_code

        codes = await asyncio.gather(*(close_code(ws) for ws in (pods, pod, log, shell)))
        assert codes == [1001, 1001, 1001, 1001]
        assert await asyncio.to_thread(stoppable.process.wait, 10) == 0
        assert time.monotonic() - started < 10
    with sqlite3.connect(stoppable.state_dir / "db.sqlite3") as db:
        ((ended, outcome),) = db.execute("SELECT ended, outcome FROM dashboard_sessionrecord").fetchall()
    assert ended is not None
    assert outcome == "Podscope is stopping; this page reconnects when it is back."
