"""metrics.k8s.io PodMetrics and NodeMetrics from the containers' cgroups, as metrics-server serves them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from sandbox import errors

GROUP_VERSION = "metrics.k8s.io/v1beta1"
SAMPLE_EVERY = 10.0


class Stats(Protocol):
    cpu_usage_ns: int
    memory_working_set_bytes: int


def cpu_quantity(nanocores: float) -> str:
    return f"{max(0, round(nanocores))}n"


def memory_quantity(size: int) -> str:
    return f"{max(0, size) // 1024}Ki"


def _stamp(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _window(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


class Sampler:
    """Keeps the previous cumulative CPU reading of each container, so usage is a rate over a window."""

    def __init__(self) -> None:
        self.previous: dict[tuple[str, str], tuple[float, int]] = {}

    def usage(self, key: tuple[str, str], stats: Stats, started: float) -> tuple[float, float, float]:
        """(nanocores, window seconds, sample time) for a container's current reading."""
        now = time.time()
        before = self.previous.get(key, (started, 0))
        elapsed = max(now - before[0], 0.001)
        rate = (stats.cpu_usage_ns - before[1]) / elapsed
        return rate, elapsed, now

    def record(self, key: tuple[str, str], stats: Stats) -> None:
        self.previous[key] = (time.time(), stats.cpu_usage_ns)


def _proc_cpu_jiffies() -> int:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4))  # idle and iowait are not usage
    return busy


def _memory_working_set() -> int:
    info = {line.split(":")[0]: int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()}
    return (info.get("MemTotal", 0) - info.get("MemAvailable", 0)) * 1024


class Metrics:
    """Serves PodMetrics for the kubelet's pods and NodeMetrics for its node."""

    def __init__(self, kubelet: Any) -> None:
        self.kubelet = kubelet
        self.sampler = Sampler()
        self._node_sample = (time.time(), _proc_cpu_jiffies())

    def _containers(self, worker: Any) -> list[tuple[str, Any, float]]:
        out = []
        for name, loop in worker.loops.items():
            handle = loop.handle
            stats = handle.stats() if handle is not None else None
            if stats is not None:
                out.append((name, stats, handle.started_at.timestamp()))
        return out

    def pod_metrics(self, worker: Any) -> dict[str, Any] | None:
        containers = self._containers(worker)
        if not containers:
            return None
        entries = []
        window = 0.0
        sampled = time.time()
        for name, stats, started in containers:
            rate, window, sampled = self.sampler.usage((worker.uid, name), stats, started)
            entries.append(
                {
                    "name": name,
                    "usage": {"cpu": cpu_quantity(rate), "memory": memory_quantity(stats.memory_working_set_bytes)},
                }
            )
        meta = worker.pod["metadata"]
        return {
            "kind": "PodMetrics",
            "apiVersion": GROUP_VERSION,
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "creationTimestamp": _stamp(time.time()),
                "labels": meta.get("labels") or {},
            },
            "timestamp": _stamp(sampled),
            "window": _window(window),
            "containers": entries,
        }

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        workers = [w for w in self.kubelet.workers.values() if not namespace or w.namespace == namespace]
        workers.sort(key=lambda w: (w.namespace, w.name))
        return [m for m in (self.pod_metrics(w) for w in workers) if m is not None]

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        for worker in self.kubelet.workers.values():
            if worker.namespace == namespace and worker.name == name:
                found = self.pod_metrics(worker)
                if found is not None:
                    return found
        raise errors.not_found("pods", f"{namespace}/{name}", "metrics.k8s.io")

    def node(self) -> dict[str, Any]:
        now, jiffies = time.time(), _proc_cpu_jiffies()
        before_time, before_jiffies = self._node_sample
        elapsed = max(now - before_time, 0.001)
        hz = 100  # USER_HZ on Linux
        nanocores = (jiffies - before_jiffies) / hz * 1e9 / elapsed
        return {
            "kind": "NodeMetrics",
            "apiVersion": GROUP_VERSION,
            "metadata": {
                "name": self.kubelet.node_name,
                "creationTimestamp": _stamp(now),
                "labels": {"kubernetes.io/hostname": self.kubelet.node_name},
            },
            "timestamp": _stamp(now),
            "window": _window(elapsed),
            "usage": {"cpu": cpu_quantity(nanocores), "memory": memory_quantity(_memory_working_set())},
        }

    async def run(self) -> None:
        """Take a sample every ten seconds, the window kubectl top then reports over."""
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            for worker in list(self.kubelet.workers.values()):
                for name, stats, _ in self._containers(worker):
                    self.sampler.record((worker.uid, name), stats)
            self._node_sample = (time.time(), _proc_cpu_jiffies())
