"""Start and stop the sandbox cluster: store, API server, control loops and node, plus its kubeconfig."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ipaddress
import logging
import os
import secrets
import signal
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from sandbox import errors, pki
from sandbox.api import managedfields, rest, strategy
from sandbox.api.app import ApiConfig, create_app
from sandbox.api.resources import BY_KEY, by_kind
from sandbox.controllers import NamespaceController, Scheduler, collect_events
from sandbox.node import NODE_NAME, NodeAgent, node_object, register
from sandbox.runtime.kubelet import Kubelet, Settings
from sandbox.runtime.runtime import Runtime
from sandbox.store import Store, now_rfc3339
from sandbox.virtual import VirtualNode, virtual_node

log = logging.getLogger("sandbox")

DEFAULT_PORT = 6443
CONTEXT = "podscope-sandbox"
# A second context whose token may only read: for trying what a cluster refuses (sandbox/api/authorization.py).
VIEWER = "viewer"
SYSTEM_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
# How long the control loops get to end once cancelled at shutdown; they should need no time at all.
STOP_TIMEOUT = 5.0


def default_state_dir() -> Path:
    """Where the sandbox keeps its objects, certificates and kubeconfig unless told otherwise."""
    env = os.environ.get("PODSCOPE_SANDBOX_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "var" / "sandbox"


@dataclass
class SandboxConfig:
    """How to run one sandbox cluster."""

    state_dir: Path = field(default_factory=default_state_dir)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    bookmark_interval: float = 60.0
    backoff_base: float = 10.0
    preload: Path | None = None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


def _token(state_dir: Path, given: str | None, filename: str = "token") -> str:
    """A bearer token: given, or made once and kept so existing kubeconfigs go on working."""
    path = state_dir / filename
    if given:
        _write_private(path, given)
        return given
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def kubeconfig(server: str, token: str, ca_pem: str, viewer_token: str = "") -> dict[str, Any]:
    """A kubeconfig for the sandbox: its admin context (the current one) and, given its token, the viewer's."""
    users = [{"name": f"{CONTEXT}-admin", "user": {"token": token}}]
    contexts = [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": f"{CONTEXT}-admin", "namespace": "default"}}]
    if viewer_token:
        users.append({"name": VIEWER, "user": {"token": viewer_token}})
        contexts.append({"name": VIEWER, "context": {"cluster": CONTEXT, "user": VIEWER, "namespace": "default"}})
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem.encode()).decode(),
                },
            }
        ],
        "users": users,
        "contexts": contexts,
        "current-context": CONTEXT,
        "preferences": {},
    }


def _ensure(store: Store, key: str, obj: dict[str, Any]) -> None:
    """Create a system object through the same defaulting as the API, if it is missing."""
    meta = obj["metadata"]
    if store.find(key, meta.get("namespace", ""), meta["name"]) is not None:
        return
    resource = BY_KEY[key]
    strategy.prepare_create(resource, obj, set())
    meta["managedFields"] = managedfields.record_update(None, obj, "kube-apiserver", resource.kind, now_rfc3339())
    store.create(key, obj)


def bootstrap(store: Store) -> None:
    """The objects every cluster starts with: system namespaces and the `kubernetes` Service."""
    for name in SYSTEM_NAMESPACES:
        _ensure(store, "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        strategy.furnish_namespace(store, name)
    _ensure(
        store,
        "services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"component": "apiserver", "provider": "kubernetes"},
            },
            "spec": {
                "clusterIP": "10.96.0.1",
                "clusterIPs": ["10.96.0.1"],
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
            },
        },
    )


def preload(store: Store, directory: Path) -> list[str]:
    """Create the objects of the manifests in `directory` that do not exist yet (the demo's tutorial pods)."""
    created = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            resource = by_kind(doc.get("kind", ""))
            if resource is None:
                log.warning("%s: cannot preload a %s", path, doc.get("kind"))
                continue
            meta = doc.setdefault("metadata", {})
            namespace = (meta.get("namespace") or "default") if resource.namespaced else ""
            if store.find(resource.key, namespace, meta.get("name", "")) is not None:
                continue
            call = rest.Call(resource=resource, namespace=namespace, name="", subresource="", query={})
            try:
                rest.create_object(store, call, doc, "podscope-sandbox")
            except errors.ApiError as exc:
                log.warning("%s: %s", path, exc.message)
                continue
            created.append(f"{resource.singular}/{call.name}")
    return created


class Sandbox:
    """One running sandbox cluster inside the current event loop."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store: Store | None = None
        self.runner: web.AppRunner | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.runtime: Runtime | None = None
        self.kubelet: Kubelet | None = None
        self.url = ""
        self.kubeconfig_path = config.state_dir / "kubeconfig"

    async def start(self) -> None:
        state = self.config.state_dir
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        certs = pki.ensure(state / "pki")
        token = _token(state, self.config.token)
        viewer_token = _token(state, None, "viewer-token")
        self.store = store = Store(state / "objects.db")
        bootstrap(store)
        register(store, node_object())
        register(store, virtual_node())
        if self.config.preload is not None:
            for name in preload(store, self.config.preload):
                log.info("preloaded %s", name)
        runtime = Runtime(state)
        reason = runtime.unavailable_reason()
        node: Kubelet | NodeAgent
        if reason is None:
            await runtime.start()
            self.runtime = runtime
            node = self.kubelet = Kubelet(
                store, runtime, NODE_NAME, state / "node", Settings(backoff_base=self.config.backoff_base)
            )
        else:
            log.warning("containers cannot run here, pods will stay Pending: %s", reason)
            node = NodeAgent(store, reason)

        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(certs.server_cert, certs.server_key)
        host = self.config.host
        api_config = ApiConfig(token=token, bookmark_interval=self.config.bookmark_interval, viewer_token=viewer_token)
        app = create_app(store, api_config, node)
        self.runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, self.config.port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        # The address of the listening socket, for when the configured port is 0.
        port: int = self.runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"https://{shown}:{port}"
        api_config.server_address = f"{shown}:{port}"
        config = kubeconfig(self.url, token, certs.ca_pem(), viewer_token)
        _write_private(self.kubeconfig_path, yaml.safe_dump(config, sort_keys=False))

        namespaces = NamespaceController(store, certs.ca_pem())
        self.tasks = [
            asyncio.create_task(Scheduler(store).run(), name="scheduler"),
            asyncio.create_task(namespaces.run(), name="namespaces"),
            asyncio.create_task(node.run(), name="node"),
            asyncio.create_task(VirtualNode(store).run(), name="virtual-node"),
            asyncio.create_task(collect_events(store), name="event-ttl"),
        ]
        if self.kubelet is not None and self.kubelet.metrics_provider is not None:
            self.tasks.append(asyncio.create_task(self.kubelet.metrics_provider.run(), name="metrics"))

    async def stop(self) -> None:
        log.info("stopping")
        if self.kubelet is not None:
            # Containers stop before the API goes away, so their final status is still recorded.
            await self.kubelet.shutdown()
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            _, stuck = await asyncio.wait(self.tasks, timeout=STOP_TIMEOUT)
            for task in stuck:
                # Say which loop ignored its cancellation rather than hang silently; ending the watches
                # below usually ends it too.
                log.error("%s still running %.0fs after being cancelled", task.get_name(), STOP_TIMEOUT)
        for task in self.tasks:
            if task.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.runner is not None:
            await self.runner.cleanup()
        if self.runtime is not None:
            await self.runtime.stop()
        if self.store is not None:
            self.store.close()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_args(argv: list[str] | None = None) -> SandboxConfig:
    parser = argparse.ArgumentParser(prog="sandbox", description="Run the Podscope sandbox cluster.")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on; 0 picks a free one")
    parser.add_argument("--state-dir", type=Path, default=None, help="where objects, certificates and kubeconfig live")
    parser.add_argument("--token", default=None, help="bearer token to accept (default: a random one, kept)")
    parser.add_argument(
        "--bookmark-interval", type=float, default=60.0, help="seconds between watch bookmarks (default: 60)"
    )
    parser.add_argument(
        "--backoff-base",
        type=float,
        default=10.0,
        help="first crash-loop back-off in seconds, doubling up to 300 (default: 10, as a kubelet; lower for demos)",
    )
    parser.add_argument("--preload", type=Path, default=None, help="create the objects of these manifests if missing")
    args = parser.parse_args(argv)
    return SandboxConfig(
        state_dir=args.state_dir or default_state_dir(),
        host=args.host,
        port=args.port,
        token=args.token,
        bookmark_interval=args.bookmark_interval,
        backoff_base=args.backoff_base,
        preload=args.preload,
    )


async def serve(config: SandboxConfig) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    sandbox = Sandbox(config)
    await sandbox.start()
    path = sandbox.kubeconfig_path
    print(f"sandbox: serving on {sandbox.url}", flush=True)
    print(f"sandbox: kubeconfig {path}", flush=True)
    print(f"\n  kubectl --kubeconfig {path} get pods\n  export KUBECONFIG={path}\n", flush=True)
    if not _is_loopback(config.host):
        log.warning("serving on %s: anyone who can reach it and has the token controls the sandbox", config.host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sandbox.stop()
    log.info("stopped")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    config = parse_args(argv)
    try:
        asyncio.run(serve(config))
    except OSError as exc:
        print(f"sandbox: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0
