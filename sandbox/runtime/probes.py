"""Container probes and lifecycle hook actions: exec, httpGet and tcpSocket, as the kubelet runs them."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

USER_AGENT = "kube-probe/1.37"

Exec = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]
Connect = Callable[[int, float], socket.socket]


@dataclass(frozen=True)
class Result:
    """A probe's outcome and the text the kubelet would put in an Unhealthy event."""

    ok: bool
    message: str = ""


def resolve_port(port: Any, container: dict[str, Any]) -> int | None:
    """A probe port given as a number or as the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


def _http_request(sock: socket.socket, host: str, port: int, action: dict[str, Any], timeout: float) -> int:
    path = action.get("path") or "/"
    headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
    for header in action.get("httpHeaders") or []:
        headers[header["name"]] = header["value"]
    request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.settimeout(timeout)
    sock.sendall(request.encode())
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"malformed HTTP response {status_line!r}")
    return int(parts[1])


async def run(
    action: dict[str, Any], container: dict[str, Any], pod_ip: str, exec_: Exec, connect: Connect, timeout: float
) -> Result:
    """Run one probe or handler action (the `exec`, `httpGet`, `tcpSocket` or `sleep` member of `action`)."""
    if "exec" in action:
        command = action["exec"].get("command") or []
        try:
            code, output = await exec_(command, timeout)
        except TimeoutError:
            return Result(False, f"command {command!r} timed out")
        # The kubelet reports what the command printed, even when that is nothing.
        return Result(code == 0, output.decode(errors="replace").strip())
    if "httpGet" in action:
        http = action["httpGet"]
        port = resolve_port(http.get("port"), container)
        if port is None:
            return Result(False, f"unable to find port {http.get('port')!r} in the container's ports")
        url = f"{http.get('scheme', 'HTTP').lower()}://{pod_ip}:{port}{http.get('path') or '/'}"

        def probe() -> int:
            with connect(port, timeout) as sock:
                return _http_request(sock, pod_ip, port, http, timeout)

        try:
            async with asyncio.timeout(timeout + 1):
                code = await asyncio.to_thread(probe)
        except (OSError, TimeoutError) as exc:
            return Result(False, f'Get "{url}": {_dial_error(pod_ip, port, exc)}')
        if 200 <= code < 400:
            return Result(True)
        return Result(False, f"HTTP probe failed with statuscode: {code}")
    if "tcpSocket" in action:
        tcp_port = resolve_port(action["tcpSocket"].get("port"), container)
        if tcp_port is None:
            return Result(False, f"unable to find port {action['tcpSocket'].get('port')!r} in the container's ports")
        try:
            async with asyncio.timeout(timeout + 1):
                sock = await asyncio.to_thread(connect, tcp_port, timeout)
            sock.close()
        except (OSError, TimeoutError) as exc:
            return Result(False, _dial_error(pod_ip, tcp_port, exc))
        return Result(True)
    if "sleep" in action:
        await asyncio.sleep(int(action["sleep"].get("seconds", 0)))
        return Result(True)
    if "grpc" in action:
        return Result(False, "gRPC probes are not supported by the sandbox node")
    return Result(False, "no probe handler given")


def _dial_error(ip: str, port: int, exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {ip}:{port}: connect: connection refused"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"dial tcp {ip}:{port}: i/o timeout"
    return f"dial tcp {ip}:{port}: {exc}"
