"""The `virtual` node: it runs nothing, and reports the pods bound to it as Running at once, as kwok
does, so scale tests can create thousands of pods cheaply."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from typing import Any

from sandbox import errors
from sandbox.node import node_object
from sandbox.store import Store, now_rfc3339, sync_each

NODE_NAME = "virtual"
# Addresses for pods that exist only on paper; nothing is ever sent to them.
POD_NETWORK = ipaddress.ip_network("10.245.0.0/16")


def virtual_node() -> dict[str, Any]:
    """A Node with room for many pods, labelled so a nodeSelector can pick it."""
    node = node_object(NODE_NAME, "10.245.0.1")
    node["metadata"]["labels"] = {
        "kubernetes.io/hostname": NODE_NAME,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": node["metadata"]["labels"]["kubernetes.io/arch"],
        "type": "virtual",
    }
    node["metadata"]["annotations"] = {"podscope.dev/virtual": "true"}
    capacity = {"cpu": "1000", "memory": "4Ti", "pods": "20000", "ephemeral-storage": "1Ti"}
    node["status"]["capacity"] = capacity
    node["status"]["allocatable"] = dict(capacity)
    node["status"]["nodeInfo"]["containerRuntimeVersion"] = "virtual://0.1.0"
    node["spec"] = {"podCIDR": str(POD_NETWORK), "podCIDRs": [str(POD_NETWORK)]}
    return node


def _pod_ip(uid: str) -> str:
    offset = int(hashlib.sha256(uid.encode()).hexdigest(), 16) % (POD_NETWORK.num_addresses - 2) + 1
    return str(POD_NETWORK.network_address + offset)


def running_status(pod: dict[str, Any]) -> dict[str, Any]:
    """Every container running and ready, as a node that runs nothing claims."""
    now = now_rfc3339()
    spec = pod["spec"]
    ip = _pod_ip(pod["metadata"]["uid"])

    def container_status(c: dict[str, Any], init: bool) -> dict[str, Any]:
        digest = hashlib.sha256(f"{pod['metadata']['uid']}/{c['name']}".encode()).hexdigest()
        if init and c.get("restartPolicy") != "Always":
            state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}
            ready = False
        else:
            state = {"running": {"startedAt": now}}
            ready = True
        return {
            "name": c["name"],
            "state": state,
            "lastState": {},
            "ready": ready,
            "restartCount": 0,
            "image": c.get("image", ""),
            "imageID": "",
            "containerID": f"virtual://{digest}",
            "started": "running" in state,
        }

    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")
    ]
    scheduled = [c for c in pod.get("status", {}).get("conditions", []) if c.get("type") == "PodScheduled"]
    status: dict[str, Any] = {
        **pod.get("status", {}),
        "phase": "Running",
        "conditions": conditions + scheduled,
        "hostIP": "10.245.0.1",
        "hostIPs": [{"ip": "10.245.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "containerStatuses": [container_status(c, False) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [container_status(c, True) for c in spec["initContainers"]]
    return status


class VirtualNode:
    """Marks pods bound to the virtual node Running, and removes them at once when deleted."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def sync(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if pod["spec"].get("nodeName") != NODE_NAME:
            return
        if meta.get("deletionTimestamp"):
            with contextlib.suppress(errors.ApiError):
                self.store.delete("pods", meta["namespace"], meta["name"])
            return
        if pod.get("status", {}).get("phase") == "Running":
            return
        pod["status"] = running_status(pod)
        with contextlib.suppress(errors.ApiError):
            self.store.update("pods", pod, check_version=False)

    async def run(self) -> None:
        await sync_each(self.store, "pods", self.sync)
