"""The clusters Podscope can show: the sandbox, every context of a kubeconfig, and in-cluster credentials.

Each cluster hands out asyncio API clients (`kubernetes.aio`). Streams need one client each (the
package's stream helpers are not safe on a shared client), so `client()` always makes a new one and
the caller closes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes.aio import client as aio_client
from kubernetes.aio import config as aio_config
from kubernetes.aio.config.config_exception import ConfigException
from kubernetes.config import kube_config
from kubernetes.config.config_exception import ConfigException as SyncConfigException

SANDBOX = "sandbox"
IN_CLUSTER = "in-cluster"
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class Cluster:
    """One cluster a user can pick: where its credentials come from."""

    id: str
    label: str
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: str = "default"

    @property
    def in_cluster(self) -> bool:
        return self.kubeconfig is None

    async def client(self) -> aio_client.ApiClient:
        """A new asyncio ApiClient for this cluster; the caller closes it."""
        configuration = aio_client.Configuration()
        if self.in_cluster:
            aio_config.load_incluster_config(client_configuration=configuration)
        else:
            await aio_config.load_kube_config(
                config_file=str(self.kubeconfig), context=self.context, client_configuration=configuration
            )
        return aio_client.ApiClient(configuration)


class ClusterError(Exception):
    """A cluster that cannot be used as configured, with a sentence for the user."""


def _kubeconfig_paths() -> list[Path]:
    """KUBECONFIG (a colon-separated list) or ~/.kube/config, as kubectl finds them."""
    env = os.environ.get("KUBECONFIG", "")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _contexts(path: Path) -> list[dict[str, Any]]:
    try:
        contexts, _ = kube_config.list_kube_config_contexts(config_file=str(path))
    except (ConfigException, SyncConfigException, OSError, TypeError, ValueError, yaml.YAMLError):
        # A broken kubeconfig must not take the dashboard down; its contexts are simply not offered.
        return []
    return contexts or []


def discover() -> list[Cluster]:
    """Every cluster available to this process, the sandbox first, without contacting any of them."""
    found: list[Cluster] = []
    sandbox = os.environ.get("PODSCOPE_SANDBOX_KUBECONFIG", "")
    if sandbox and Path(sandbox).exists():
        found.append(Cluster(SANDBOX, "Sandbox", Path(sandbox)))
    seen = {c.id for c in found}
    for path in _kubeconfig_paths():
        if not path.exists():
            continue
        for entry in _contexts(path):
            name = entry.get("name", "")
            if not name or name in seen:
                continue
            seen.add(name)
            namespace = (entry.get("context") or {}).get("namespace") or "default"
            found.append(Cluster(name, name, path, name, namespace))
    if os.environ.get("KUBERNETES_SERVICE_HOST") and SERVICE_ACCOUNT_TOKEN.exists():
        found.append(Cluster(IN_CLUSTER, "This cluster (in-cluster)"))
    return found


def get(cluster_id: str) -> Cluster:
    """The cluster with this id, or ClusterError naming the ones there are."""
    clusters = discover()
    for cluster in clusters:
        if cluster.id == cluster_id:
            return cluster
    names = ", ".join(c.id for c in clusters) or "none"
    raise ClusterError(f'no cluster "{cluster_id}" is configured (available: {names})')
