"""Terminals over the exec socket against the sandbox: commands, shells, refusals, limits, and their audit rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient

from dashboard import asciicast
from dashboard.kube import clusters
from dashboard.kube.exec import open_shell
from dashboard.kube.watches import WatchHub
from dashboard.models import SessionRecord
from dashboard.sockets import terminals
from tests.clusters import CURRENT_KUBECTL, Kubectl, SandboxProcess, kubectl_binary
from tests.dashboard.integration.helpers import Screen, connect, exec_path
from tests.idle_proxy import IdleProxy

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pod(make_pod: Callable, namespace: str) -> str:
    """A running busybox pod with two containers."""
    make_pod(
        "shells",
        containers=[
            {"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 3600"]},
            {"name": "side", "image": "ubuntu", "command": ["sleep", "3600"]},
        ],
    )
    return "shells"


@pytest.fixture
async def terminal(
    sandbox_cluster: clusters.Cluster, async_client: AsyncClient, alice: User, namespace: str
) -> AsyncIterator[Callable[..., Any]]:
    """Open terminals as alice (an operator); each is disconnected after the test."""
    opened: list[WebsocketCommunicator] = []

    async def open_one(pod: str, user: User | None = alice, **params: Any) -> Screen:
        communicator = await connect(async_client, user, exec_path(namespace, pod, **params))
        opened.append(communicator)
        return Screen(communicator)

    yield open_one
    for communicator in opened:
        await communicator.disconnect()
    await asyncio.sleep(0.1)


async def record_of(**filters: Any) -> SessionRecord:
    return await SessionRecord.objects.filter(**filters).alatest("started")


async def test_a_command_runs_and_its_exit_code_comes_back(terminal: Callable, pod: str) -> None:
    screen = await terminal(pod, container="main", command="sh -c 'echo hello from $HOSTNAME; exit 3'")
    await screen.ended()
    assert b"hello from shells" in screen.output
    assert screen.message("started")["command"] == "sh -c 'echo hello from $HOSTNAME; exit 3'"
    assert screen.message("exit")["code"] == 3
    assert screen.closed == 1000
    record = await record_of(pod=pod)
    assert (record.kind, record.username, record.container, record.allowed) == ("exec", "alice", "main", True)
    assert record.command == "sh -c 'echo hello from $HOSTNAME; exit 3'"
    assert record.exit_code == 3
    assert record.ended is not None
    assert record.ended >= record.started
    assert record.bytes_out == len(screen.output)
    assert record.bytes_in == 0


async def test_an_interactive_shell_follows_resizes(terminal: Callable, pod: str) -> None:
    screen = await terminal(pod, container="side", cols=100, rows=30)
    await screen.until(lambda s: s.message("started") is not None)
    assert screen.message("started")["command"] == "bash"
    await screen.type("stty size\r")
    await screen.until(lambda s: b"30 100" in s.output)
    await screen.communicator.send_to(text_data=json.dumps({"type": "resize", "cols": 132, "rows": 43}))
    await screen.type("stty size\r")
    await screen.until(lambda s: b"43 132" in s.output)
    await screen.communicator.send_to(text_data=json.dumps({"type": "ping"}))
    await screen.until(lambda s: s.message("pong") is not None)
    await screen.type("exit 7\r")
    await screen.ended()
    assert screen.message("exit")["code"] == 7
    record = await record_of(pod=pod)
    assert record.command == "bash"
    assert record.exit_code == 7
    assert record.bytes_in == len("stty size\r" * 2 + "exit 7\r")


async def test_without_bash_the_shell_is_sh_then_busybox(terminal: Callable, make_pod: Callable) -> None:
    # PATH decides which executables a container has, as in an image without them.
    make_pod(
        "slim",
        initContainers=[
            {
                "name": "prep",
                "image": "busybox",
                "command": ["sh", "-c", 'cp "$(command -v busybox)" /opt/bb/busybox'],
                "volumeMounts": [{"name": "bb", "mountPath": "/opt/bb"}],
            }
        ],
        containers=[
            {
                "name": "bb",
                "image": "busybox",
                "command": ["/opt/bb/busybox", "sleep", "3600"],
                "env": [{"name": "PATH", "value": "/opt/bb"}],
                "volumeMounts": [{"name": "bb", "mountPath": "/opt/bb"}],
            },
            {
                "name": "bare",
                "image": "ubuntu",
                "command": ["/usr/bin/sleep", "3600"],
                "env": [{"name": "PATH", "value": "/nonexistent"}],
            },
        ],
        volumes=[{"name": "bb", "emptyDir": {}}],
    )
    screen = await terminal("slim", container="bb")
    await screen.until(lambda s: s.message("started") is not None)
    assert screen.message("started")["command"] == "busybox sh"
    await screen.type("echo $((6 * 7))\r")
    await screen.until(lambda s: b"42" in s.output)

    bare = await terminal("slim", container="bare")
    await bare.ended()
    error = bare.message("error")["message"]
    assert error.startswith('Container "bare" has no shell: none of bash, sh and busybox sh is in it.')
    assert bare.closed == 4404
    record = await record_of(container="bare")
    assert record.allowed
    assert record.outcome == error
    assert record.exit_code is None
    assert record.ended


@pytest.mark.parametrize(
    ("params", "code", "says"),
    [
        ({"container": "nope"}, 4404, 'has no container "nope" (it has: main, side)'),
        ({"container": "main", "command": "no-such-program"}, 4400, "executable file not found"),
        ({"container": "Bad_Name"}, 4400, "container name"),
        ({"container": "main", "cols": "0"}, 4400, "cols must be a whole number from 1 to 1000"),
        ({"container": "main", "command": "sh -c 'unclosed"}, 4400, "the command cannot be read"),
    ],
)
async def test_bad_requests_are_explained_and_audited(
    terminal: Callable, pod: str, params: dict, code: int, says: str
) -> None:
    screen = await terminal(pod, **params)
    await screen.ended()
    message = screen.message("error") or screen.message("exit")
    assert says.lower() in message["message"].lower()
    if screen.message("exit") is None:
        assert screen.closed == code
    record = await record_of(pod=pod)
    assert says.lower() in record.outcome.lower()
    assert record.ended is not None


async def test_a_missing_pod_is_explained(
    terminal: Callable, sandbox_cluster: clusters.Cluster, namespace: str
) -> None:
    screen = await terminal("ghost", container="main")
    await screen.ended()
    assert screen.closed == 4404
    assert screen.message("error")["message"] == f'There is no pod "ghost" in namespace {namespace}'


@pytest.mark.parametrize(("who", "code"), [("bob", 4403), ("carol", 4403), ("anonymous", 4401)])
async def test_users_without_the_exec_permission_are_refused_and_audited(
    terminal: Callable, pod: str, bob: User, carol: User, who: str, code: int
) -> None:
    user = {"bob": bob, "carol": carol}.get(who)
    screen = await terminal(pod, user=user, container="main", command="touch /tmp/should-not-exist")
    await screen.ended()
    assert screen.closed == code
    assert screen.output == b""
    assert screen.message("started") is None
    record = await record_of(pod=pod)
    assert record.allowed is False
    assert record.username == ("" if who == "anonymous" else who)
    assert record.command == "touch /tmp/should-not-exist"
    assert record.container == "main"
    assert record.outcome == screen.message("error")["message"]


def processes(kubectl: Kubectl, namespace: str, pod: str, container: str) -> str:
    """The command lines of every process in a container, read from inside it."""
    script = 'for p in /proc/[0-9]*; do tr "\\0" " " < "$p/cmdline"; echo; done 2>/dev/null'
    done = kubectl("exec", "-n", namespace, pod, "-c", container, "--", "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_closing_the_socket_ends_the_remote_process(
    terminal: Callable, pod: str, sandbox: SandboxProcess, namespace: str, tmp_path: Path
) -> None:
    kubectl = Kubectl(kubectl_binary(CURRENT_KUBECTL), CURRENT_KUBECTL, sandbox.kubeconfig, tmp_path / "kube-cache")
    screen = await terminal(pod, container="main")
    await screen.until(lambda s: s.message("started") is not None)
    await screen.type("sleep 4321\r")
    await screen.until(lambda s: b"sleep 4321" in s.output)
    await asyncio.sleep(0.3)
    assert "sleep 4321" in await asyncio.to_thread(processes, kubectl, namespace, pod, "main")
    await screen.communicator.disconnect()
    deadline = time.monotonic() + 10
    while "sleep 4321" in await asyncio.to_thread(processes, kubectl, namespace, pod, "main"):
        assert time.monotonic() < deadline, "the shell's job still runs after the terminal closed"
        await asyncio.sleep(0.2)
    record = await record_of(pod=pod)
    assert record.ended is not None
    assert record.exit_code is None
    assert record.outcome == "The terminal was closed before the command ended."
    assert record.bytes_in == len("sleep 4321\r")


async def test_a_user_has_a_limited_number_of_terminals(
    terminal: Callable, pod: str, settings: Any, alice: User
) -> None:
    settings.PODSCOPE_EXEC_MAX_SESSIONS = 1
    first = await terminal(pod, container="main")
    await first.until(lambda s: s.message("started") is not None)
    second = await terminal(pod, container="main")
    await second.ended()
    assert second.closed == 4429
    assert "already have 1 terminals open" in second.message("error")["message"]
    assert (await record_of(pod=pod)).allowed is False
    await first.communicator.disconnect()
    await asyncio.sleep(0.2)
    third = await terminal(pod, container="main")
    await third.until(lambda s: s.message("started") is not None)


async def test_an_oversized_input_frame_is_refused_and_the_session_goes_on(
    terminal: Callable, pod: str, settings: Any
) -> None:
    settings.PODSCOPE_EXEC_MAX_INPUT = 1024
    screen = await terminal(pod, container="main")
    await screen.until(lambda s: s.message("started") is not None)
    assert screen.message("started")["maxInput"] == 1024
    await screen.type("echo " + "x" * 2000 + "\r")
    await screen.until(lambda s: s.message("notice") is not None)
    assert "Input of 2,006 bytes was refused: at most 1,024" in screen.message("notice")["message"]
    await screen.type("echo still here\r")
    await screen.until(lambda s: b"still here\r\n" in s.output)
    assert b"x" * 100 not in screen.output


async def test_input_typed_before_the_shell_starts_is_kept_or_refused_aloud(
    terminal: Callable, pod: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminals, "EARLY_INPUT", 20)
    screen = await terminal(pod, container="main")
    # Sent at once, before the exec stream is open: the first is kept for the shell, the second is over the cap.
    await screen.type("echo early-$((1+1))\r")
    await screen.type("echo dropped-$((2+2))\r")
    await screen.until(lambda s: s.message("notice") is not None and s.message("started") is not None)
    assert "Input of 22 bytes was refused: the command has not started yet" in screen.message("notice")["message"]
    await screen.until(lambda s: b"early-2" in s.output)
    await screen.type("echo after-$((3+3))\r")
    await screen.until(lambda s: b"after-6" in s.output)
    assert b"dropped-4" not in screen.output


async def test_a_recorded_session_is_an_asciicast(terminal: Callable, pod: str, settings: Any, tmp_path: Path) -> None:
    settings.PODSCOPE_RECORD_SESSIONS = True
    settings.PODSCOPE_RECORDINGS_DIR = tmp_path / "casts"
    screen = await terminal(pod, container="main", cols=90, rows=20, command="sh -c 'echo recorded line'")
    await screen.ended()
    record = await record_of(pod=pod)
    assert record.recording
    header, events = asciicast.read(settings.PODSCOPE_RECORDINGS_DIR / record.recording)
    assert (header["width"], header["height"]) == (90, 20)
    assert "recorded line" in "".join(e[2] for e in events if e[1] == "o")


def proxied(sandbox: SandboxProcess, port: int, tmp_path: Path) -> clusters.Cluster:
    """The sandbox as seen through a proxy on `port`."""
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "proxied-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return clusters.Cluster("proxied", "Proxied", path)


@pytest.mark.parametrize(("heartbeat", "survives"), [(0.5, True), (None, False)])
@pytest.mark.usefixtures("settle")
async def test_keepalive_pings_hold_an_idle_session_through_a_proxy(
    sandbox: SandboxProcess, make_pod: Callable, namespace: str, tmp_path: Path, heartbeat: float | None, survives: bool
) -> None:
    make_pod("idle")
    api_port = int(sandbox.url.rsplit(":", 1)[1])
    with IdleProxy("127.0.0.1", api_port, idle=1.5) as proxy:
        session = await open_shell(
            proxied(sandbox, proxy.port, tmp_path), namespace, "idle", "main", heartbeat=heartbeat
        )
        try:
            await asyncio.sleep(4)  # quiet for longer than the proxy allows
            await session.write(b"echo still-$((40 + 2))\r")
            seen = b""

            async def read() -> None:
                nonlocal seen
                async for chunk in session.output():
                    seen += chunk
                    if b"still-42" in seen:
                        return

            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(read(), 5)
        finally:
            await session.close()
    assert (b"still-42" in seen) is survives
    assert proxy.dropped == (0 if survives else 1)


async def test_where_the_cluster_refuses_exec_the_pod_page_offers_no_shell(
    async_client: AsyncClient,
    alice: User,
    pod: str,
    namespace: str,
    viewer_cluster: clusters.Cluster,
    watch_hub: WatchHub,
) -> None:
    await async_client.aforce_login(alice)
    allowed = (await async_client.get(f"/c/sandbox/ns/{namespace}/pods/{pod}/")).content.decode()
    refused = (await async_client.get(f"/c/{viewer_cluster.id}/ns/{namespace}/pods/{pod}/")).content.decode()
    assert 'data-shell-link="main"' in allowed
    assert "data-terminal-url=" in allowed
    assert "log, shell, or details" in allowed
    assert "data-shell-link" not in refused
    assert "data-terminal-url=" not in refused
    assert "shell," not in refused
    assert refused.count("No shell: the cluster does not allow Podscope's credentials to exec here.") == 2


async def test_where_the_cluster_refuses_exec_the_terminal_page_says_so_first(
    async_client: AsyncClient, alice: User, pod: str, namespace: str, viewer_cluster: clusters.Cluster
) -> None:
    await async_client.aforce_login(alice)
    allowed = await async_client.get(f"/c/sandbox/ns/{namespace}/pods/{pod}/terminal/")
    refused = await async_client.get(f"/c/{viewer_cluster.id}/ns/{namespace}/pods/{pod}/terminal/")
    assert (allowed.status_code, refused.status_code) == (200, 200)
    banner = "This cluster refuses terminals here."
    assert banner not in allowed.content.decode()
    html = refused.content.decode()
    assert banner in html
    assert "data-terminal-start disabled" in html
    assert 'data-autostart=""' in html


async def test_the_clusters_refusal_is_explained_and_audited_as_denied(
    async_client: AsyncClient, alice: User, pod: str, namespace: str, viewer_cluster: clusters.Cluster
) -> None:
    # Tried all the same, with the page's banner ignored: the API server refuses the upgrade.
    query = urlencode({"container": "main", "command": "auto"})
    path = f"/ws/c/{viewer_cluster.id}/ns/{namespace}/pods/{pod}/exec/?{query}"
    screen = Screen(await connect(async_client, alice, path))
    try:
        await screen.ended()
    finally:
        await screen.communicator.disconnect()
    assert screen.closed == 4403
    assert screen.output == b""
    message = screen.message("error")["message"]
    assert message == "The cluster does not allow Podscope to open a terminal here (HTTP 403)"
    record = await record_of(pod=pod, cluster="viewer")
    assert (record.allowed, record.outcome, record.username) == (False, message, "alice")
    assert record.ended is not None
