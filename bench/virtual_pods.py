"""How fast the sandbox takes pods onto the `virtual` node, against plain ConfigMaps in the same run.

    .venv/bin/python bench/virtual_pods.py --count 10000 --threads 8

Starts a sandbox in a temporary directory, creates COUNT ConfigMaps (the baseline: a stored object with
no scheduler, no node and no events), then COUNT pods with `nodeSelector: {type: virtual}`, and waits
until every pod is Running. Prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubernetes import client, config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.clusters import SandboxProcess


def create_all(
    api: client.CoreV1Api, namespace: str, count: int, threads: int, make: Callable[[client.CoreV1Api, str, int], None]
) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: make(api, namespace, i), range(count)))
    return time.monotonic() - started


def config_map(api: client.CoreV1Api, namespace: str, i: int) -> None:
    api.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"cm-{i}"), data={"i": str(i)})
    )


def pod(api: client.CoreV1Api, namespace: str, i: int) -> None:
    body = client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"pod-{i}", labels={"app": "scale"}),
        spec=client.V1PodSpec(
            node_selector={"type": "virtual"}, containers=[client.V1Container(name="app", image="nginx")]
        ),
    )
    api.create_namespaced_pod(namespace, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = SandboxProcess(Path(tmp) / "state")
        cluster.start()
        try:
            api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
            api_client.configuration.connection_pool_maxsize = args.threads
            api = client.CoreV1Api(api_client)
            api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="scale")))
            baseline = create_all(api, "scale", args.count, args.threads, config_map)
            started = time.monotonic()
            created = create_all(api, "scale", args.count, args.threads, pod)
            while True:
                pods = api.list_namespaced_pod("scale", field_selector="status.phase=Running")
                if len(pods.items) >= args.count:
                    break
                time.sleep(0.5)
            running = time.monotonic() - started
            api_client.close()
        finally:
            cluster.stop()
    print(f"configmaps: {args.count} in {baseline:.1f}s ({args.count / baseline:.0f}/s)")
    rate = args.count / running
    print(f"pods:       {args.count} created in {created:.1f}s, all Running after {running:.1f}s ({rate:.0f}/s)")
    print(f"ratio:      {baseline / running:.2f} of the ConfigMap rate")


if __name__ == "__main__":
    main()
