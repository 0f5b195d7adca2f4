"""Each pattern example really runs on the sandbox node and shows, in its logs or on its port, that it works."""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dashboard import examples
from tests.clusters import Kubectl

pytestmark = pytest.mark.kubectl

READY_TIMEOUT = 40.0
# Long enough for a few rounds of each example's loop (the adapter converts every 5 seconds).
PROOF_TIMEOUT = 20.0


@contextlib.contextmanager
def described(k: Kubectl, namespace: str, pod: str) -> Iterator[None]:
    """On a failed assertion, add `kubectl describe pod` to the message: it holds the states and events."""
    try:
        yield
    except AssertionError as error:
        out = k("describe", "pod", pod, "-n", namespace, timeout=20)
        raise AssertionError(f"{error}\n\nkubectl describe pod {pod}:\n{out.stdout}{out.stderr}") from None


def eventually(
    what: str, probe: Callable[[], str], check: Callable[[str], bool], timeout: float = PROOF_TIMEOUT
) -> str:
    """Call `probe` until `check` accepts its output; fail with the last output after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        seen = probe()
        if check(seen):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {timeout:g}s; last output:\n{seen}")
        time.sleep(0.5)


def pod_json(k: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    return json.loads(k.ok("get", "pod", name, "-n", namespace, "-o", "json", timeout=20))


def all_ready(pod: dict[str, Any]) -> bool:
    """Running, every container and native sidecar ready, every other init container done with exit 0."""
    spec, status = pod["spec"], pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    inits = {c["name"]: c for c in status.get("initContainerStatuses") or []}
    for c in spec.get("initContainers") or []:
        state = inits.get(c["name"], {})
        if c.get("restartPolicy") == "Always":
            if not state.get("ready"):
                return False
        elif (state.get("state") or {}).get("terminated", {}).get("exitCode") != 0:
            return False
    mains = status.get("containerStatuses") or []
    return len(mains) == len(spec["containers"]) and all(c.get("ready") for c in mains)


def restarts(pod: dict[str, Any]) -> dict[str, int]:
    status = pod.get("status") or {}
    entries = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    return {c["name"]: c.get("restartCount", 0) for c in entries}


# --- what proves each pattern works ---------------------------------------------------------------------------


def prove_sidecar(k: Kubectl, ns: str) -> None:
    # Lines the app wrote to a file come out of the sidecar: it found them in the shared volume.
    shipped = eventually(
        "the app's lines in the log-shipper's log",
        lambda: k.ok("logs", "sidecar", "-c", "log-shipper", "-n", ns),
        lambda out: "order 2 accepted" in out,
    )
    assert "order 1 accepted" in shipped
    assert k.ok("logs", "sidecar", "-c", "app", "-n", ns) == ""


def prove_native_sidecar(k: Kubectl, ns: str) -> None:
    tailed = eventually(
        "the app's heartbeats in the log-tailer's log",
        lambda: k.ok("logs", "native-sidecar", "-c", "log-tailer", "-n", ns),
        lambda out: "app heartbeat 2" in out,
    )
    # The tailer's own line comes first: it ran before the app wrote anything.
    assert "tailer ready, before the app" in tailed.splitlines()[0]
    assert "app: the log tailer is already running" in k.ok("logs", "native-sidecar", "-c", "app", "-n", ns)


def prove_ambassador(k: Kubectl, ns: str) -> None:
    app_log = eventually(
        "visits counted through the ambassador in the app's log",
        lambda: k.ok("logs", "ambassador", "-c", "app", "-n", ns),
        lambda out: "visit 2: counted by Redis, reached through the ambassador" in out,
    )
    assert "Traceback" not in app_log
    # haproxy logs each connection it forwarded from its frontend to the redis server.
    assert "redis_for_the_app redis_servers/redis-1" in k.ok("logs", "ambassador", "-c", "ambassador", "-n", ns)
    page = k.ok(
        "exec", "ambassador", "-c", "app", "-n", ns, "--",
        "python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://localhost:8080').read().decode())",
    )  # fmt: skip
    shown = re.fullmatch(r"Hello! This page has had (\d+) visits\.\n*", page)
    assert shown, f"unexpected page: {page!r}"
    visits = int(shown[1])
    # Redis itself holds the count: the page's number came from it, not from the app's memory.
    stored = int(k.ok("exec", "ambassador", "-c", "redis", "-n", ns, "--", "redis-cli", "GET", "visits"))
    assert stored >= visits >= 3


def prove_adapter(k: Kubectl, ns: str) -> None:
    metrics = eventually(
        "nginx's requests as Prometheus metrics on localhost:9100",
        lambda: k.ok("exec", "adapter", "-c", "app", "-n", ns, "--", "curl", "-sS", "localhost:9100/metrics"),
        lambda out: re.search(r'^nginx_http_requests_total\{status="200"\} [1-9]\d*$', out, re.M) is not None,
    )
    assert "# TYPE nginx_http_requests_total counter" in metrics
    assert "node_textfile_scrape_error 0" in metrics
    # The source is nginx's own log format, which the adapter read from the shared volume.
    access_log = k.ok("exec", "adapter", "-c", "app", "-n", ns, "--", "cat", "/var/log/nginx/access.log")
    assert '"GET / HTTP/1.1" 200' in access_log


def prove_init_containers(k: Kubectl, ns: str) -> None:
    assert "write-page: wrote /work/index.html" in k.ok("logs", "init-container", "-c", "write-page", "-n", ns)
    assert "the page now has 3 lines" in k.ok("logs", "init-container", "-c", "add-footer", "-n", ns)
    page = k.ok("exec", "init-container", "-c", "web", "-n", ns, "--", "curl", "-sS", "localhost")
    assert page.index("Step 1: written by the init container write-page") < page.index("Step 2: added by add-footer")
    assert "<h1>Hello from init-container</h1>" in page


PROOFS: dict[str, Callable[[Kubectl, str], None]] = {
    "sidecar": prove_sidecar,
    "native-sidecar": prove_native_sidecar,
    "ambassador": prove_ambassador,
    "adapter": prove_adapter,
    "init-container": prove_init_containers,
}


@pytest.mark.parametrize("slug", PROOFS)
def test_pattern_example_runs_and_works(kubectl137: Kubectl, namespace: str, slug: str):
    k, example = kubectl137, examples.get(slug)
    name = examples.pod(example)["metadata"]["name"]
    k.ok("apply", "-n", namespace, "-f", str(example.file))
    with described(k, namespace, name):
        eventually(
            f"every container of {name} ready",
            lambda: k.ok("get", "pod", name, "-n", namespace, "-o", "json", timeout=20),
            lambda out: all_ready(json.loads(out)),
            timeout=READY_TIMEOUT,
        )
        PROOFS[slug](k, namespace)
        # Still the same containers: nothing crashed and restarted while the proof ran.
        now = pod_json(k, namespace, name)
        assert all_ready(now)
        assert set(restarts(now).values()) == {0}, restarts(now)

    started = time.monotonic()
    k.ok("delete", "-n", namespace, "-f", str(example.file), "--grace-period=1", timeout=30)
    assert time.monotonic() - started < 15
    gone = k("get", "pod", name, "-n", namespace)
    assert gone.returncode != 0
    assert "NotFound" in gone.stderr
