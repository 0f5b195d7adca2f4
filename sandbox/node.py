"""The sandbox node: its Node object, built from the host's real facts, and the agent that owns the
pods bound to it."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from sandbox import errors
from sandbox.api import pods
from sandbox.api.discovery import KUBERNETES_VERSION
from sandbox.store import Store, now_rfc3339, sync_each

NODE_NAME = "sandbox"
NODE_IP = "10.244.0.1"
RUNTIME_VERSION = "podscope-sandbox://0.1.0"


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _memory_ki() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def node_object(name: str = NODE_NAME, address: str = NODE_IP) -> dict[str, Any]:
    """A Node whose capacity, addresses and system info describe this host, as a kubelet registers it."""
    cpus = os.cpu_count() or 1
    memory = _memory_ki()
    disk = shutil.disk_usage("/").total // 1024
    capacity = {
        "cpu": str(cpus),
        "ephemeral-storage": f"{disk}Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory}Ki",
        "pods": "110",
    }
    # The kubelet reserves a little for itself and eviction thresholds; allocatable shows that.
    allocatable = {
        **capacity,
        "memory": f"{max(0, memory - 102400)}Ki",
        "ephemeral-storage": str(int(disk * 1024 * 0.9)),
    }
    now = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": _arch(),
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": _arch(),
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node-role.kubernetes.io/control-plane": "",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                condition(
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id"),
                "systemUUID": _read("/sys/class/dmi/id/product_uuid", _read("/etc/machine-id")),
                "bootID": _read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": platform.release(),
                "osImage": _os_image(),
                "containerRuntimeVersion": RUNTIME_VERSION,
                "kubeletVersion": KUBERNETES_VERSION,
                "kubeProxyVersion": KUBERNETES_VERSION,
                "operatingSystem": "linux",
                "architecture": _arch(),
            },
        },
    }


def register(store: Store, node: dict[str, Any]) -> None:
    """Create the Node, or refresh its status after a restart, as a kubelet does on start-up."""
    existing = store.find("nodes", "", node["metadata"]["name"])
    if existing is None:
        store.create("nodes", node)
        return
    existing["status"] = node["status"]
    store.update("nodes", existing, check_version=False)


class NodeAgent:
    """Stands in for the kubelet where containers cannot run (not Linux, not root): pods bound to the
    node stay Pending with a condition that says why, and deletions are confirmed at once, as a
    kubelet does for a pod that has nothing running."""

    def __init__(self, store: Store, reason: str, name: str = NODE_NAME) -> None:
        self.store = store
        self.reason = reason
        self.name = name

    def _sync(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if pod["spec"].get("nodeName") != self.name:
            return
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(errors.ApiError):
                self.store.delete("pods", meta["namespace"], meta["name"])
            return
        status = pod.setdefault("status", {})
        conditions = status.get("conditions") or []
        if any(c.get("reason") == "NodeCannotRunContainers" for c in conditions):
            return
        now = now_rfc3339()
        blocked = {
            "type": "PodReadyToStartContainers",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": now,
            "reason": "NodeCannotRunContainers",
            "message": f"the sandbox node cannot run containers: {self.reason}",
        }
        status["conditions"] = [blocked, *[c for c in conditions if c.get("type") != blocked["type"]]]
        waiting = {"waiting": {"reason": "ContainerCreating", "message": blocked["message"]}}
        status["containerStatuses"] = [
            {
                "name": c["name"],
                "state": waiting,
                "lastState": {},
                "ready": False,
                "restartCount": 0,
                "image": c.get("image", ""),
                "imageID": "",
                "started": False,
            }
            for c in pod["spec"].get("containers") or []
        ]
        with contextlib.suppress(errors.ApiError):
            self.store.update("pods", pod, check_version=False)

    async def run(self) -> None:
        await sync_each(self.store, "pods", self._sync)

    async def stream(self, request: Any, call: Any, pod: dict[str, Any]) -> Any:
        """Logs, exec and port-forward need running containers, which this node cannot start."""
        container = pods.pick_container(pod, call.query.get("container", ""))
        if call.subresource == "log":
            pods.log_options(pod, call.query)
        raise pods.not_started(pod, container)

    def metrics(self, call: Any) -> dict[str, Any]:
        """No containers, no metrics: what a cluster without a metrics source answers."""
        raise errors.unknown_path()
