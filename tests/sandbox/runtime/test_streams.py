"""Exec and port-forward streams served by a small aiohttp app on 127.0.0.1, driven by the
kubernetes Python client, websocket-client (frame-level checks) and the real kubectl.

The app routes the pod subresources to `sandbox.runtime.exec_streams` and `sandbox.runtime.portforward`, with
local processes (`processes.spawn_local`) and a `connect()` to echo and HTTP servers on loopback. Every process a
test starts carries a marker in its environment, and each test checks that none is left afterwards.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import fcntl
import functools
import gc
import http.client
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
import websocket
import yaml
from aiohttp import web
from kubernetes import client, config
from kubernetes.stream import portforward, stream
from multidict import MultiDict

from sandbox import errors
from sandbox.api.app import error_middleware
from sandbox.runtime import spdy
from sandbox.runtime.channels import V4, V5
from sandbox.runtime.exec_streams import ResizeDecoder, exec_options, serve_exec
from sandbox.runtime.portforward import parse_ports, serve_portforward
from sandbox.runtime.processes import spawn_local

KUBECTL = Path(sys.executable).parent / "kubectl"
MARKER = "PODSCOPE_STREAMS_TEST"
UID = "0f5c7d2e-8a41-4c3b-9e6d-1b2a3c4d5e6f"
KEEPALIVE = 0.5
ECHO_PORT, HTTP_PORT, CLOSED_PORT = 7, 80, 9
HTTP_BODY = b"hello from port 80\n"


def pod_object(namespace: str, name: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": UID, "resourceVersion": "1"},
        "spec": {"nodeName": "sandbox", "containers": [{"name": "app", "image": "busybox"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "state": {"running": {}}}],
        },
    }


# ------------------------------------------------------------------------------------------------
# The test server


@dataclass
class Server:
    """The app and its loopback upstreams, running on an event loop in a thread."""

    loop: asyncio.AbstractEventLoop
    port: int
    kubeconfig: Path
    token: str
    seen: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, coroutine: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def env(self) -> dict[str, str]:
        """The environment of every process a test starts: marked, so leftovers can be found."""
        return {**os.environ, MARKER: self.token}

    def connect(self, path: str, protocols: Sequence[str] = (V5,), **query: Any) -> websocket.WebSocket:
        """A raw WebSocket to an API path, for checks on single frames; list values repeat the parameter."""
        pairs = []
        for key, value in query.items():
            for item in value if isinstance(value, list) else [value]:
                pairs.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
        ws = websocket.WebSocket()
        ws.settimeout(15)
        ws.connect(
            f"ws://127.0.0.1:{self.port}{path}?{urlencode(pairs, quote_via=quote)}",
            subprotocols=list(protocols),
            header=["Authorization: Bearer x"],
        )
        return ws


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request = b""
    while b"\r\n\r\n" not in request and (chunk := await reader.read(4096)):
        request += chunk
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    writer.write(head + f"Content-Length: {len(HTTP_BODY)}\r\n\r\n".encode() + HTTP_BODY)
    await writer.drain()
    writer.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_app(server: Server, upstreams: dict[int, int]) -> web.Application:
    """Routes for what kubectl and the Python client ask: the pod, its streams, minimal discovery."""
    refused = _closed_port()

    def connect(port: int) -> socket.socket:
        return socket.create_connection(("127.0.0.1", upstreams.get(port, refused)), timeout=5)

    spawn = functools.partial(spawn_local, env=server.env())

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        server.seen.append(f"{request.method} {request.path_qs} upgrade={request.headers.get('Upgrade', '')}")
        return await handler(request)

    async def discovery(request: web.Request) -> web.Response:
        if request.path == "/api":
            return web.json_response({"kind": "APIVersions", "versions": ["v1"]})
        if request.path == "/apis":
            return web.json_response({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        pods = {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]}
        return web.json_response({"kind": "APIResourceList", "groupVersion": "v1", "resources": [pods]})

    async def get_pod(request: web.Request) -> web.Response:
        return web.json_response(pod_object(request.match_info["ns"], request.match_info["name"]))

    async def subresource(request: web.Request) -> web.StreamResponse:
        name, sub = request.match_info["name"], request.match_info["sub"]
        if sub == "exec":
            o = exec_options(request.query)
            return await serve_exec(
                request,
                command=o.command,
                tty=o.tty,
                stdin=o.stdin,
                stdout=o.stdout,
                stderr=o.stderr,
                spawn=spawn,
                keepalive=KEEPALIVE,
            )
        if sub == "portforward":
            return await serve_portforward(request, None, connect, pod=name, uid=UID, keepalive=KEEPALIVE)
        raise errors.unknown_path()

    async def unknown(request: web.Request) -> web.Response:
        raise errors.unknown_path()

    app = web.Application(middlewares=[record, error_middleware])
    app.router.add_get("/api", discovery)
    app.router.add_get("/apis", discovery)
    app.router.add_get("/api/v1", discovery)
    app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", get_pod)
    app.router.add_route("*", "/api/v1/namespaces/{ns}/pods/{name}/{sub}", subresource)
    app.router.add_route("*", "/{tail:.*}", unknown)
    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The streams app on 127.0.0.1 with plain HTTP, plus echo and HTTP upstreams for port-forward."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="streams-test-server", daemon=True)
    thread.start()
    directory = tmp_path_factory.mktemp("streams")
    srv = Server(loop, 0, directory / "kubeconfig", uuid.uuid4().hex)

    async def start() -> tuple[web.AppRunner, list[asyncio.Server]]:
        upstreams = [await asyncio.start_server(h, "127.0.0.1", 0) for h in (_echo, _http)]
        ports = [s.sockets[0].getsockname()[1] for s in upstreams]
        app = make_app(srv, {ECHO_PORT: ports[0], HTTP_PORT: ports[1]})
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        srv.port = runner.addresses[0][1]
        return runner, upstreams

    runner, upstreams = srv.run(start())
    srv.kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "streams", "cluster": {"server": srv.url}}],
                "users": [{"name": "tester", "user": {"token": "x"}}],
                "contexts": [{"name": "streams", "context": {"cluster": "streams", "user": "tester"}}],
                "current-context": "streams",
            }
        )
    )

    async def stop() -> None:
        await runner.cleanup()
        for upstream in upstreams:
            upstream.close()
            await upstream.wait_closed()

    try:
        yield srv
    finally:
        srv.run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def marked_processes(token: str) -> list[int]:
    """Live processes whose environment carries this server's marker."""
    wanted = f"{MARKER}={token}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry))
    return found


@pytest.fixture(autouse=True)
def nothing_left_running(server: Server) -> Iterator[None]:
    """Fail a test that leaves one of its processes behind (and kill them, so the next test starts clean)."""
    yield
    deadline = time.monotonic() + 10
    while (left := marked_processes(server.token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running: {left}"


@pytest.fixture
def core(server: Server) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api on its own ApiClient: stream() swaps the transport of the client it is given."""
    api_client = config.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def frames(ws: websocket.WebSocket) -> list[tuple[int, bytes]]:
    """Every message until the server closes: (opcode, payload), the close frame last."""
    out = []
    while True:
        opcode, frame = ws.recv_data_frame(True)
        out.append((opcode, frame.data))
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            # The client answered the close already; only its socket is left to release.
            ws.shutdown()
            return out


def by_channel(received: list[tuple[int, bytes]]) -> dict[int, bytes]:
    channels: dict[int, bytes] = {}
    for opcode, data in received:
        if opcode == websocket.ABNF.OPCODE_BINARY and data:
            channels[data[0]] = channels.get(data[0], b"") + data[1:]
    return channels


def close_code(received: list[tuple[int, bytes]]) -> int:
    opcode, data = received[-1]
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    return struct.unpack(">H", data[:2])[0]


EXEC = "/api/v1/namespaces/default/pods/web/exec"
PORTFORWARD = "/api/v1/namespaces/default/pods/web/portforward"


# ------------------------------------------------------------------------------------------------
# Pure parts


@pytest.mark.parametrize(
    ("chunks", "sizes"),
    [
        ([b'{"Width":100,"Height":30}\n'], [(100, 30)]),
        ([b'{"Width":1,"Height":2}{"Width":3,"Height":4}'], [(1, 2), (3, 4)]),
        ([b'{"Wid', b'th":80,', b'"Height":24}'], [(80, 24)]),
        ([b'{"width":120,"height":40}'], [(120, 40)]),
        ([b'{"Width":10}'], [(10, 0)]),
        ([b'{"Width":-1,"Height":2}', b'{"Width":3,"Height":4}'], []),
        ([b"[1,2]"], []),
        ([b'{"Width":70000,"Height":1}'], []),
    ],
)
def test_resize_decoder_reads_a_json_stream(chunks: list[bytes], sizes: list[tuple[int, int]]):
    decoder = ResizeDecoder()
    got = [size for chunk in chunks for size in decoder.feed(chunk)]
    assert got == sizes


@pytest.mark.parametrize(
    ("query", "ports", "message"),
    [
        ("ports=80", [80], None),
        ("ports=80,8080&ports=9090", [80, 8080, 9090], None),
        ("", [], None),
        ("ports=http", None, 'cannot convert to []int32: strconv.ParseUint: parsing "http": invalid syntax'),
        ("ports=70000", None, 'cannot convert to []int32: strconv.ParseUint: parsing "70000": value out of range'),
        ("ports=80,", None, 'cannot convert to []int32: strconv.ParseUint: parsing "": invalid syntax'),
    ],
)
def test_parse_ports_converts_like_the_apiserver(query: str, ports: list[int] | None, message: str | None):
    values = MultiDict(parse_qsl(query, keep_blank_values=True))
    if message is None:
        assert parse_ports(values) == ports
    else:
        with pytest.raises(errors.ApiError) as raised:
            parse_ports(values)
        assert (raised.value.code, raised.value.message) == (400, message)


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("", True), ("false", False), ("FALSE", False), ("0", False)]
)
def test_exec_options_read_booleans_like_the_apiserver(value: str, expected: bool):
    options = exec_options(MultiDict([("command", "ls"), ("command", "-l"), ("stdout", value)]))
    assert options.command == ["ls", "-l"]
    assert options.stdout is expected
    assert options.stdin is False


def test_spdy_dictionary_is_the_spdy3_one():
    assert len(spdy.DICTIONARY) == 1423
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2


# ------------------------------------------------------------------------------------------------
# A SPDY client for the session tests: the framing kubectl's spdystream uses


class SpdyClient:
    """Frames as a SPDY/3 client writes them, and a reader for the server's frames."""

    def __init__(self) -> None:
        self.deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)
        self.buffer = b""

    def syn_stream(self, stream_id: int, headers: dict[str, str], fin: bool = False) -> bytes:
        block = self.deflate.compress(spdy.encode_headers(headers)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        body = struct.pack(">IIH", stream_id, 0, 0) + block
        return spdy.control_frame(spdy.SYN_STREAM, spdy.FLAG_FIN if fin else 0, body)

    def read(self, data: bytes) -> list[tuple[str, Any]]:
        """Decode whole frames: ("SYN_REPLY", (id, headers)), ("DATA", (id, fin, bytes)), ("RST", id), ("PING", id)."""
        self.buffer += data
        out: list[tuple[str, Any]] = []
        while len(self.buffer) >= 8:
            first, second = struct.unpack(">II", self.buffer[:8])
            length = second & 0xFFFFFF
            if len(self.buffer) < 8 + length:
                break
            body, flags = self.buffer[8 : 8 + length], second >> 24
            self.buffer = self.buffer[8 + length :]
            if not first & 0x80000000:
                out.append(("DATA", (first, bool(flags & spdy.FLAG_FIN), body)))
            elif first & 0xFFFF == spdy.SYN_REPLY:
                headers = spdy.decode_headers(self.inflate.decompress(body[4:]))
                out.append(("SYN_REPLY", (struct.unpack(">I", body[:4])[0], headers)))
            elif first & 0xFFFF == spdy.RST_STREAM:
                out.append(("RST", struct.unpack(">I", body[:4])[0]))
            elif first & 0xFFFF == spdy.PING:
                out.append(("PING", struct.unpack(">I", body)[0]))
        return out


def test_spdy_session_replies_echoes_pings_and_refuses_bad_streams():
    async def scenario() -> list[tuple[str, Any]]:
        sent: list[bytes] = []

        async def send(frame: bytes) -> None:
            sent.append(frame)

        session = spdy.Session(send, lambda h: None if h.get("port") == "80" else "bad port")
        peer = SpdyClient()
        wire = peer.syn_stream(1, {"port": "80", "streamtype": "error", "requestid": "0"}, fin=True)
        wire += peer.syn_stream(3, {"port": "x", "streamtype": "data", "requestid": "0"})
        wire += spdy.control_frame(spdy.PING, 0, struct.pack(">I", 1))
        wire += peer.syn_stream(5, {"port": "80", "streamtype": "data", "requestid": "1"})
        wire += spdy.data_frame(5, spdy.FLAG_FIN, b"payload")
        # Split anywhere: frames must survive arbitrary chunking.
        for i in range(0, len(wire), 7):
            await session.feed(wire[i : i + 7])
        first, second = await session.accept(), await session.accept()
        assert first is not None
        assert second is not None
        assert (first.id, await first.read()) == (1, b"")
        assert (await second.read(), await second.read()) == (b"payload", b"")
        await second.write(b"reply")
        await second.close()
        session.close()
        assert await session.accept() is None
        return peer.read(b"".join(sent))

    events = asyncio.run(scenario())
    assert events == [
        ("SYN_REPLY", (1, {})),
        ("RST", 3),
        ("PING", 1),
        ("SYN_REPLY", (5, {})),
        ("DATA", (5, False, b"reply")),
        ("DATA", (5, True, b"")),
    ]


# ------------------------------------------------------------------------------------------------
# Exec with the Python client


# stream() with preloaded content never closes its socket; collect it here rather than in a later test.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_python_client_exec_collects_stdout_and_stderr(core: client.CoreV1Api):
    out = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        "default",
        command=["sh", "-c", "echo out; sleep 0.1; echo err >&2"],
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
    )
    gc.collect()
    assert out == "out\nerr\n"


def test_python_client_sees_the_exit_code(core: client.CoreV1Api):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        "default",
        command=["sh", "-c", "echo partial; exit 3"],
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    ws.run_forever(timeout=15)
    ws.sock.shutdown()
    assert ws.subprotocol == V5
    assert ws.read_stdout() == "partial\n"
    assert ws.returncode == 3


def test_python_client_stdin_reaches_the_process(core: client.CoreV1Api):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        "default",
        command=["cat"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    ws.write_stdin("first line\n")
    ws.write_stdin(b"bytes too\n")
    ws.close_channel(0)
    ws.run_forever(timeout=15)
    ws.sock.shutdown()
    assert ws.returncode == 0
    assert ws.read_all() == "first line\nbytes too\n"


def test_python_client_tty_resize_reaches_the_terminal(core: client.CoreV1Api):
    ws = stream(
        core.connect_get_namespaced_pod_exec,
        "web",
        "default",
        command=["sh"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=True,
        _preload_content=False,
    )
    ws.write_channel(4, json.dumps({"Width": 123, "Height": 45}))
    ws.write_stdin("stty size; exit 7\n")
    ws.run_forever(timeout=15)
    ws.sock.shutdown()
    assert "45 123" in ws.read_stdout()
    assert ws.returncode == 7


# ------------------------------------------------------------------------------------------------
# Exec, frame by frame


def test_exec_v5_frames_first_empty_then_output_status_and_normal_close(server: Server):
    ws = server.connect(EXEC, command=["sh", "-c", "echo out; echo err >&2; exit 3"], stdout=True, stderr=True)
    assert ws.subprotocol == V5
    received = frames(ws)
    ws.close()
    assert received[0] == (websocket.ABNF.OPCODE_BINARY, b"\x01")
    assert {opcode for opcode, _ in received[:-1]} == {websocket.ABNF.OPCODE_BINARY}
    channels = by_channel(received)
    assert (channels[1], channels[2]) == (b"out\n", b"err\n")
    assert json.loads(channels[3]) == {
        "metadata": {},
        "status": "Failure",
        "message": "command terminated with non-zero exit code: command terminated with exit code 3",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": "3"}]},
    }
    assert close_code(received) == 1000


def test_exec_v4_status_names_the_command_and_success_is_plain(server: Server):
    ws = server.connect(EXEC, protocols=["v4.channel.k8s.io"], command=["sh", "-c", "exit 2"], stdout=True)
    assert ws.subprotocol == V4
    status = by_channel(frames(ws))[3]
    ws.close()
    # Go's encoder escapes > and & in JSON strings.
    assert b"error executing command [sh -c exit 2], exit code 2" in status
    ws = server.connect(EXEC, protocols=["v4.channel.k8s.io"], command=["true"], stdout=True)
    assert by_channel(frames(ws))[3] == b'{"metadata":{},"status":"Success"}'
    ws.close()


def test_exec_legacy_protocol_reports_only_failures_as_text(server: Server):
    ws = server.connect(EXEC, protocols=["channel.k8s.io"], command=["sh", "-c", "exit 2"], stdout=True)
    assert by_channel(frames(ws))[3] == (
        b"command terminated with non-zero exit code: error executing command [sh -c exit 2], exit code 2"
    )
    ws = server.connect(EXEC, protocols=["channel.k8s.io"], command=["true"], stdout=True)
    assert 3 not in by_channel(frames(ws))


def test_exec_ends_when_the_command_exits_even_if_a_child_holds_its_output(server: Server):
    started = time.monotonic()
    ws = server.connect(EXEC, command=["sh", "-c", "sleep 300 & echo started"], stdout=True)
    channels = by_channel(frames(ws))
    assert channels[1] == b"started\n"
    assert json.loads(channels[3])["status"] == "Success"
    assert time.monotonic() - started < 10


def test_exec_picks_the_first_protocol_the_client_lists(server: Server):
    ws = server.connect(EXEC, protocols=["v4.channel.k8s.io", V5], command=["true"], stdout=True)
    assert ws.subprotocol == V4
    frames(ws)
    ws.close()


def test_exec_base64_protocol_uses_text_frames(server: Server):
    ws = server.connect(EXEC, protocols=["v4.base64.channel.k8s.io"], command=["cat"], stdin=True, stdout=True)
    ws.send("0" + base64.b64encode(b"via base64\n").decode())
    assert ws.recv() == "1"
    assert ws.recv() == "1" + base64.b64encode(b"via base64\n").decode()
    ws.close()


def test_exec_accepts_text_frames_and_half_closes_stdin(server: Server):
    ws = server.connect(EXEC, command=["sh", "-c", "cat; echo done"], stdin=True, stdout=True, stderr=True)
    ws.send("\x00typed\n")
    ws.send_binary(b"\x00binary\n")
    ws.send_binary(b"\xff\x00")
    channels = by_channel(frames(ws))
    ws.close()
    assert channels[1] == b"typed\nbinary\ndone\n"
    assert json.loads(channels[3])["status"] == "Success"


def test_exec_tty_puts_everything_on_stdout(server: Server):
    ws = server.connect(EXEC, command=["sh", "-c", "echo to-err >&2"], stdin=True, stdout=True, stderr=True, tty=True)
    channels = by_channel(frames(ws))
    ws.close()
    assert 2 not in channels
    assert channels[1] == b"to-err\r\n"


def test_exec_first_frame_is_on_the_lowest_requested_channel(server: Server):
    ws = server.connect(EXEC, command=["true"], stderr=True)
    received = frames(ws)
    ws.close()
    assert received[0] == (websocket.ABNF.OPCODE_BINARY, b"\x02")
    ws = server.connect(EXEC, command=["cat"], stdin=True)
    ws.send_binary(b"\xff\x00")
    received = frames(ws)
    ws.close()
    assert received[0] == (websocket.ABNF.OPCODE_BINARY, b"\x03")


def test_exec_start_failure_is_an_internal_error_status(server: Server):
    ws = server.connect(EXEC, command=["no-such-command-xyz"], stdout=True, stderr=True)
    channels = by_channel(frames(ws))
    ws.close()
    cause = 'error executing command in container: failed to exec in container: exec: "no-such-command-xyz": '
    cause += "executable file not found in $PATH"
    assert json.loads(channels[3]) == {
        "metadata": {},
        "status": "Failure",
        "message": f"Internal error occurred: Internal error occurred: {cause}",
        "reason": "InternalError",
        "details": {"causes": [{"message": f"Internal error occurred: {cause}"}]},
        "code": 500,
    }


def test_exec_answers_pings_and_pings_on_its_own(server: Server):
    ws = server.connect(EXEC, command=["sleep", "1.5"], stdout=True)
    ws.ping(b"are you there")
    seen = []
    while True:
        opcode, frame = ws.recv_data_frame(True)
        seen.append((opcode, frame.data))
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
    ws.shutdown()
    assert (websocket.ABNF.OPCODE_PONG, b"are you there") in seen
    assert any(opcode == websocket.ABNF.OPCODE_PING for opcode, _ in seen)


def test_exec_client_disconnect_kills_the_process_tree(server: Server):
    ws = server.connect(EXEC, command=["sh", "-c", "sleep 300 & sleep 301"], stdout=True)
    deadline = time.monotonic() + 10
    while len(marked_processes(server.token)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(marked_processes(server.token)) == 3
    ws.sock.close()  # no close frame: the connection just drops
    ws.shutdown()
    deadline = time.monotonic() + 10
    while marked_processes(server.token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked_processes(server.token) == []


@pytest.mark.parametrize(
    ("path", "headers", "message"),
    [
        (EXEC + "?command=ls&stdout=true", {}, "Upgrade request required"),
        (PORTFORWARD + "?ports=80", {}, "Upgrade request required"),
        (
            EXEC + "?command=ls&tty=true&stderr=true",
            "websocket",
            "you must specify at least 1 of stdin, stdout, stderr",
        ),
        (PORTFORWARD, "websocket", 'query parameter "port" is required'),
        (PORTFORWARD + "?ports=0", "websocket", 'port "0" must be > 0'),
        (
            PORTFORWARD + "?ports=x",
            "websocket",
            'cannot convert to []int32: strconv.ParseUint: parsing "x": invalid syntax',
        ),
        (
            EXEC + "?command=ls&stdout=true",
            {"Sec-WebSocket-Protocol": "v9.channel.k8s.io"},
            "requested protocol(s) are not supported: [v9.channel.k8s.io]; supports "
            "[v5.channel.k8s.io v4.channel.k8s.io v4.base64.channel.k8s.io base64.channel.k8s.io channel.k8s.io]",
        ),
    ],
)
def test_refusals_before_the_upgrade_are_bad_request_statuses(
    server: Server, path: str, headers: dict[str, str] | str, message: str
):
    sent = {"Authorization": "Bearer x"}
    if headers == "websocket" or (isinstance(headers, dict) and headers):
        sent.update(
            {
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            }
        )
    if isinstance(headers, dict):
        sent.update(headers)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", path, headers=sent)
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 400
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "BadRequest",
        "code": 400,
    }


# ------------------------------------------------------------------------------------------------
# Port-forward with the Python client and frame by frame


def close_port_forward(pf: Any) -> None:
    """Close the local sockets, wait for the proxy thread to end the WebSocket, release its socket."""
    pf.close()
    deadline = time.monotonic() + 10
    while pf.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pf.connected
    pf.websocket.shutdown()


def test_python_client_port_forward_round_trip(core: client.CoreV1Api):
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web", "default", ports=f"{ECHO_PORT},{HTTP_PORT}")
    echo = pf.socket(ECHO_PORT)
    echo.settimeout(10)
    echo.sendall(b"ping over the tunnel")
    assert echo.recv(1024) == b"ping over the tunnel"
    http = pf.socket(HTTP_PORT)
    http.settimeout(10)
    http.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
    # The channel protocol has no per-port close: the reply ends where its Content-Length says.
    reply = b""
    while not reply.endswith(HTTP_BODY):
        reply += http.recv(4096)
    assert reply.startswith(b"HTTP/1.1 200 OK")
    echo.close()
    http.close()
    close_port_forward(pf)


def test_python_client_port_forward_reports_a_refused_port(core: client.CoreV1Api):
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web", "default", ports=str(CLOSED_PORT))
    sock = pf.socket(CLOSED_PORT)
    sock.settimeout(10)
    assert sock.recv(10) == b""
    assert pf.error(CLOSED_PORT) == (
        f"error forwarding port {CLOSED_PORT} to pod web, uid {UID}: "
        f'failed to connect to localhost:{CLOSED_PORT} inside namespace "web": connect: connection refused'
    )
    close_port_forward(pf)


def test_port_forward_v4_announces_ports_and_closes_when_upstream_does(server: Server):
    ws = server.connect(PORTFORWARD, protocols=[V5, V4], ports=f"{HTTP_PORT},{ECHO_PORT}")
    assert ws.subprotocol == V4
    header = [ws.recv_data_frame(True)[1].data for _ in range(4)]
    assert header == [b"\x00\x50\x00", b"\x01\x50\x00", b"\x02\x07\x00", b"\x03\x07\x00"]
    ws.send_binary(b"\x00GET / HTTP/1.0\r\n\r\n")
    ws.send_binary(b"\x02echo me")
    received = []
    while not (by_channel(received).get(2) == b"echo me" and HTTP_BODY in by_channel(received).get(0, b"")):
        opcode, frame = ws.recv_data_frame(True)
        received.append((opcode, frame.data))
    ws.close()


def test_port_forward_closes_normally_once_every_upstream_closed(server: Server):
    ws = server.connect(PORTFORWARD, protocols=[V4], ports=str(HTTP_PORT))
    for _ in range(2):
        ws.recv_data_frame(True)
    ws.send_binary(b"\x00GET / HTTP/1.0\r\n\r\n")
    received = frames(ws)
    ws.close()
    assert by_channel(received)[0].endswith(HTTP_BODY)
    assert close_code(received) == 1000


# ------------------------------------------------------------------------------------------------
# Real kubectl


def kubectl_env(server: Server, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**server.env(), "KUBECACHEDIR": str(tmp_path / "cache"), "HOME": str(tmp_path), **extra}
    env.pop("KUBECONFIG", None)
    return env


def kubectl(server: Server, tmp_path: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
        env=kubectl_env(server, tmp_path),
    )


@pytest.mark.kubectl
def test_kubectl_exec_prints_both_streams_and_returns_the_exit_code(server: Server, tmp_path: Path):
    done = kubectl(server, tmp_path, "exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.stdout == "out\n", server.seen
    assert done.stderr == "err\ncommand terminated with exit code 3\n"
    assert done.returncode == 3


@pytest.mark.kubectl
def test_kubectl_exec_stdin(server: Server, tmp_path: Path):
    done = kubectl(server, tmp_path, "exec", "-i", "web", "--", "cat", input="hi\n")
    assert (done.stdout, done.stderr, done.returncode) == ("hi\n", "", 0)


@pytest.mark.kubectl
def test_kubectl_exec_reports_a_missing_command(server: Server, tmp_path: Path):
    done = kubectl(server, tmp_path, "exec", "web", "--", "no-such-command-xyz")
    assert done.returncode == 1
    assert done.stderr == (
        "error: Internal error occurred: Internal error occurred: error executing command in container: "
        'failed to exec in container: exec: "no-such-command-xyz": executable file not found in $PATH\n'
    )


class Terminal:
    """A pseudo-terminal driving an interactive program as a person at a keyboard would."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int = 24, cols: int = 80) -> None:
        self.master, slave = os.openpty()
        self.resize(rows, cols)
        # setsid -c gives the program a session whose controlling terminal is the pty, so it gets SIGWINCH.
        self.process = subprocess.Popen(
            ["setsid", "-w", "-c", *argv], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = b""

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: bytes, timeout: float = 15) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            found = re.search(pattern, self.seen)
            if found:
                self.seen = self.seen[found.end() :]
                return found
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    break
        raise AssertionError(f"no {pattern!r} within {timeout}s; got {self.seen!r}")

    def close(self) -> int:
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            os.close(self.master)


@pytest.mark.kubectl
def test_kubectl_exec_interactive_shell(server: Server, tmp_path: Path):
    argv = [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "exec", "-it", "web", "--", "sh"]
    terminal = Terminal(argv, kubectl_env(server, tmp_path), rows=24, cols=80)
    try:
        terminal.type("echo $((6*7))\r")
        terminal.expect(rb"\r\n42\r\n")
        terminal.type("stty size\r")
        terminal.expect(rb"\r\n24 80\r\n")
        terminal.resize(33, 101)
        time.sleep(0.5)
        terminal.type("stty size\r")
        terminal.expect(rb"\r\n33 101\r\n")
        terminal.type("exit 5\r")
        terminal.expect(rb"command terminated with exit code 5")
    finally:
        code = terminal.close()
    assert code == 5


class PortForward:
    """A running `kubectl port-forward` and the local port it listens on."""

    def __init__(self, server: Server, tmp_path: Path, remote: int, **env: str) -> None:
        argv = [str(KUBECTL), "--kubeconfig", str(server.kubeconfig), "port-forward", "pod/web", f":{remote}"]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=kubectl_env(server, tmp_path, **env),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert found, f"unexpected output {line!r}; requests: {server.seen}"
        self.port = int(found.group(1))

    def stop(self) -> str:
        self.process.send_signal(signal.SIGINT)
        try:
            _, err = self.process.communicate(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        return err


def http_get(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: web\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply


@pytest.mark.kubectl
@pytest.mark.parametrize("websockets", ["true", "false"], ids=["spdy-over-websocket", "spdy-upgrade"])
def test_kubectl_port_forward(server: Server, tmp_path: Path, websockets: str):
    before = len(server.seen)
    forward = PortForward(server, tmp_path, HTTP_PORT, KUBECTL_PORT_FORWARD_WEBSOCKETS=websockets)
    try:
        for _ in range(3):
            reply = http_get(forward.port)
            assert reply.startswith(b"HTTP/1.1 200 OK")
            assert reply.endswith(HTTP_BODY)
    finally:
        forward.stop()
    upgrades = [line for line in server.seen[before:] if "/portforward" in line]
    expected = "upgrade=websocket" if websockets == "true" else "upgrade=SPDY/3.1"
    assert upgrades
    assert all(line.endswith(expected) for line in upgrades), upgrades


@pytest.mark.kubectl
def test_kubectl_port_forward_echo_keeps_half_closed_streams(server: Server, tmp_path: Path):
    forward = PortForward(server, tmp_path, ECHO_PORT)
    try:
        with socket.create_connection(("127.0.0.1", forward.port), timeout=10) as sock:
            payload = os.urandom(200_000)
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received == payload
    finally:
        forward.stop()


@pytest.mark.kubectl
def test_kubectl_port_forward_prints_the_pod_side_error(server: Server, tmp_path: Path):
    forward = PortForward(server, tmp_path, CLOSED_PORT)
    try:
        with socket.create_connection(("127.0.0.1", forward.port), timeout=10) as sock:
            assert sock.recv(10) == b""
    finally:
        err = forward.stop()
    assert (
        f'"An error occurred forwarding" err="error forwarding port {CLOSED_PORT} to pod web, uid {UID}: '
        f"failed to connect to localhost:{CLOSED_PORT} inside namespace" in err
    )
    assert err.endswith("error: lost connection to pod\n")
