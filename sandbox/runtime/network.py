"""Pod networking: a node network namespace holding a bridge, and one namespace per pod plugged into it.

Everything lives in namespaces the sandbox creates: the bridge and 10.244.0.1 sit in the node namespace, not on
the host, and nothing routes out of it, so pod traffic can never leave the sandbox.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sandbox.runtime import linux

NODE_IP = "10.244.0.1"
SUBNET = ipaddress.ip_network("10.244.0.0/24")
NETNS_DIR = Path("/run/netns")
# What containerd sets by default: unprivileged processes may bind low ports and ping.
POD_SYSCTLS = {
    "net/ipv4/ip_unprivileged_port_start": "0",
    "net/ipv4/ping_group_range": "0 2147483647",
}

T = TypeVar("T")


class NetworkError(Exception):
    """An `ip` command failed."""


def instance_id(state_dir: Path) -> str:
    """The id that keeps this sandbox's netns, bridge and cgroup names apart from other sandboxes'."""
    return hashlib.sha256(str(Path(state_dir).resolve()).encode()).hexdigest()[:8]


def node_netns(iid: str) -> str:
    """Name of the node network namespace."""
    return f"ps-{iid}-node"


def pod_netns(iid: str, pod_uid: str) -> str:
    """Name of a pod's network namespace."""
    return f"ps-{iid}-{_short(pod_uid)}"


def bridge_name(iid: str) -> str:
    """Name of the pod bridge (at most 15 characters)."""
    return f"psbr-{iid[:6]}"


def netns_path(name: str) -> Path:
    """The bind mount that keeps a named network namespace alive."""
    return NETNS_DIR / name


def _short(pod_uid: str) -> str:
    return pod_uid.replace("-", "")[:8]


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run `ip [-n netns] args...` and return its stdout."""
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


def list_netns(iid: str) -> list[str]:
    """This sandbox's network namespaces (node and pods) that exist now."""
    names = []
    for line in ip("netns", "list", check=False).splitlines():
        name = line.split(" ", 1)[0]
        if name.startswith(f"ps-{iid}-"):
            names.append(name)
    if NETNS_DIR.is_dir():
        # A namespace whose `ip netns add` was interrupted may have a file but no listing.
        names.extend(p.name for p in NETNS_DIR.glob(f"ps-{iid}-*") if p.name not in names)
    return names


def delete_netns(name: str) -> None:
    """Remove a named network namespace; its veth ends disappear with it."""
    ip("netns", "delete", name, check=False)
    path = netns_path(name)
    if path.exists():
        with contextlib.suppress(OSError):
            linux.umount(path, linux.MNT_DETACH)
        with contextlib.suppress(OSError):
            path.unlink()


def setup_node(iid: str) -> None:
    """Create the node namespace with the bridge that carries 10.244.0.1/24."""
    node, bridge = node_netns(iid), bridge_name(iid)
    delete_netns(node)
    ip("netns", "add", node)
    try:
        ip("link", "set", "lo", "up", netns=node)
        ip("link", "add", bridge, "type", "bridge", netns=node)
        ip("addr", "add", f"{NODE_IP}/{SUBNET.prefixlen}", "dev", bridge, netns=node)
        ip("link", "set", bridge, "up", netns=node)
    except NetworkError:
        delete_netns(node)
        raise


def create_pod(iid: str, pod_uid: str, address: str) -> Path:
    """Create a pod namespace with lo up and eth0 at `address` on the bridge; default route via the node."""
    name, node, veth = pod_netns(iid, pod_uid), node_netns(iid), f"v{_short(pod_uid)}"
    delete_pod(iid, pod_uid)
    ip("netns", "add", name)
    try:
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name, netns=node)
        ip("link", "set", veth, "master", bridge_name(iid), "up", netns=node)
        ip("link", "set", "lo", "up", netns=name)
        ip("addr", "add", f"{address}/{SUBNET.prefixlen}", "dev", "eth0", netns=name)
        ip("link", "set", "eth0", "up", netns=name)
        ip("route", "add", "default", "via", NODE_IP, netns=name)
        in_netns(netns_path(name), _apply_pod_sysctls)
    except (NetworkError, OSError):
        delete_pod(iid, pod_uid)
        raise
    return netns_path(name)


def _apply_pod_sysctls() -> None:
    for key, value in POD_SYSCTLS.items():
        with contextlib.suppress(OSError):
            Path("/proc/sys", key).write_text(value)


def pod_address(iid: str, pod_uid: str) -> str | None:
    """The IPv4 address of a pod namespace's eth0, or None when the namespace or address is missing."""
    name = pod_netns(iid, pod_uid)
    if not netns_path(name).exists():
        return None
    out = ip("-j", "-4", "addr", "show", "dev", "eth0", netns=name, check=False)
    with contextlib.suppress(ValueError, IndexError, KeyError, TypeError):
        address: str = json.loads(out)[0]["addr_info"][0]["local"]
        return address
    return None


def delete_pod(iid: str, pod_uid: str) -> None:
    """Remove a pod's namespace and its port on the bridge."""
    ip("link", "delete", f"v{_short(pod_uid)}", netns=node_netns(iid), check=False)
    delete_netns(pod_netns(iid, pod_uid))


def teardown(iid: str) -> None:
    """Remove every network namespace of this sandbox, pods first, then the node with its bridge."""
    names = list_netns(iid)
    for name in sorted(names, key=lambda n: n.endswith("-node")):
        delete_netns(name)


def in_netns(path: Path, fn: Callable[[], T]) -> T:
    """Run `fn` on a fresh thread that has joined the network namespace at `path`.

    setns only moves the calling thread, and a throwaway thread cannot leak the namespace into a pool thread.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                linux.setns(fd, linux.CLONE_NEWNET)
            finally:
                os.close(fd)
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def connect(path: Path, address: str, port: int, timeout: float) -> socket.socket:
    """A TCP socket created inside the namespace at `path` and connected to address:port (blocking)."""
    sock = in_netns(path, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    sock.settimeout(None)
    return sock
