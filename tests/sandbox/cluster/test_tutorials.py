"""Every step of the two tutorials in shared/seeds/, with real kubectl against the sandbox node.

`multicontainer-pod` (the Spanish tutorial): a producer writes lines into a shared emptyDir that an
nginx consumer serves. `multi-container-pod` (the Portuguese one): nginx with a log-collector sidecar,
whose emptyDir hides the image's log links. `web-with-proxy`: nginx, haproxy fed by a ConfigMap, and
node-exporter, sharing one IP.
"""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.stream import portforward

from tests.clusters import Kubectl, Terminal
from tests.pods import container, running, wait_for

pytestmark = pytest.mark.kubectl


def http_get(core: client.CoreV1Api, namespace: str, pod: str, port: int, path: str = "/") -> str:
    """GET a pod's port through the API server's port-forward, as the Python client does it."""
    forward = portforward(core.connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port))
    sock = forward.socket(port)
    sock.settimeout(10)
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost:8080\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.close()
        forward.close()
        # After the server's close frame the client marks its websocket disconnected but keeps the
        # socket open; wait for its proxy thread to finish with it, then release it.
        deadline = time.monotonic() + 5
        while forward.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        forward.websocket.shutdown()
    return data.decode(errors="replace")


def test_producer_consumer_tutorial(kubectl137: Kubectl, core: client.CoreV1Api, namespace: str, examples_dir: Path):
    k = kubectl137
    assert k.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml")).strip() == (
        "pod/multicontainer-pod created"
    )
    pod = wait_for(core, namespace, "multicontainer-pod", running)
    assert pod.status.pod_ip.startswith("10.244.0.")
    assert pod.status.host_ip == "10.244.0.1"
    time.sleep(1)  # the producer's first line

    # Step 2: a shell in the first (default) container.
    shell = Terminal(k, "exec", "-it", "multicontainer-pod", "-n", namespace, "--", "/bin/sh")
    shell.read_until(r"[#$] $")
    shell.type("ls -la /var/log\n")
    shell.read_until(r"index\.html")
    shell.type("tail /var/log/index.html\n")
    screen = shell.read_until(r"multicontainer-pod \w{3} \w{3}")
    shell.type("exit\n")
    assert shell.close() == 0
    assert 'Defaulted container "producer" out of: producer, consumer' in screen

    # Step 3: the consumer sees the same file where nginx serves it.
    shell = Terminal(
        k, "exec", "-it", "multicontainer-pod", "--container", "consumer", "-n", namespace, "--", "/bin/sh"
    )
    shell.read_until(r"[#$] $")
    shell.type("ls -la /usr/share/nginx/html\n")
    shell.read_until(r"index\.html")
    shell.type("tail /usr/share/nginx/html/index.html\n")
    shell.read_until(r"multicontainer-pod \w{3} \w{3}")
    shell.type("exit\n")
    assert shell.close() == 0

    # Step 4: port 80 serves the producer's lines; nginx logs the request to stdout.
    page = http_get(core, namespace, "multicontainer-pod", 80)
    assert page.startswith("HTTP/1.1 200 OK")
    lines = page.split("\r\n\r\n", 1)[1].splitlines()
    assert lines
    assert all(line.startswith("multicontainer-pod ") for line in lines)
    access = k.ok("logs", "multicontainer-pod", "-c", "consumer", "-n", namespace)
    assert re.search(r'127\.0\.0\.1 - - \[.+\] "GET / HTTP/1\.1" 200 \d+ "-" "-"', access)
    # The tutorial's own words: kubectl port-forward, then curl.
    forward = k.popen("port-forward", "multicontainer-pod", ":80", "-n", namespace)
    try:
        local = forward.expect(r"Forwarding from 127\.0\.0\.1:(\d+) -> 80", 20)
        port = int(re.search(r":(\d+) ->", local).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            served = answer.read().decode()
    finally:
        forward.stop()
    assert served.splitlines()[0].startswith("multicontainer-pod ")

    # Step 5: clean up; the pod and its network namespace go away.
    k.ok("delete", "pod", "multicontainer-pod", "-n", namespace, "--grace-period=1", timeout=60)
    assert k("get", "pod", "multicontainer-pod", "-n", namespace).returncode == 1


def test_log_collector_tutorial(kubectl137: Kubectl, core: client.CoreV1Api, namespace: str, examples_dir: Path):
    k = kubectl137
    k.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
    wait_for(core, namespace, "multi-container-pod", running)
    lines = k.ok("get", "pods", "-n", namespace).splitlines()
    assert lines[1].split()[:3] == ["multi-container-pod", "2/2", "Running"]
    described = k.ok("describe", "pod", "multi-container-pod", "-n", namespace)
    assert re.search(r"^Status:\s+Running$", described, re.M)
    assert re.search(r"Started\s+\S+\s+kubelet\s+.*Started container log-collector", described)

    get = ("get", "pod", "multi-container-pod", "-n", namespace, "-o")
    assert k.ok(*get, "jsonpath={.spec.containers[*].name}") == "nginx-container log-collector"
    assert k.ok(*get, "jsonpath={.status.containerStatuses[*].name}") == "log-collector nginx-container"
    assert k.ok(*get, "jsonpath={.status.containerStatuses[*].ready}") == "true true"

    # The emptyDir over /var/log/nginx hides the image's links to stdout: `logs` shows only the
    # entrypoint's start lines, and the requests land in files both containers can read.
    start = k.ok("logs", "multi-container-pod", "-c", "nginx-container", "-n", namespace)
    assert "Configuration complete; ready for start up" in start
    assert "GET /" not in start
    assert k.ok("exec", "multi-container-pod", "-c", "nginx-container", "-n", namespace, "--", "nginx", "-v") == ""
    version = k("exec", "multi-container-pod", "-c", "nginx-container", "-n", namespace, "--", "nginx", "-v")
    assert version.stderr.startswith("nginx version: nginx/")

    for path in ("/", "/index.html"):
        page = http_get(core, namespace, "multi-container-pod", 80, path)
        assert page.startswith("HTTP/1.1 200 OK")
        assert "Welcome to nginx!" in page
    access = k.ok(
        "exec",
        "multi-container-pod",
        "-c",
        "nginx-container",
        "-n",
        namespace,
        "--",
        "cat",
        "/var/log/nginx/access.log",
    )
    assert access.count('"GET /') >= 2
    shared = k.ok(
        "exec", "multi-container-pod", "-c", "log-collector", "-n", namespace, "--", "cat", "/var/log/nginx/access.log"
    )
    assert shared == access
    assert k.ok("logs", "multi-container-pod", "-c", "log-collector", "-n", namespace) == ""
    collected = k.ok(
        "exec", "multi-container-pod", "-c", "log-collector", "-n", namespace, "--", "cat", "/var/log/collector.log"
    )
    assert "Coletando logs..." in collected

    shell = Terminal(k, "exec", "-it", "multi-container-pod", "-c", "nginx-container", "-n", namespace, "--", "bash")
    shell.read_until(r"[#$] $")
    shell.type("hostname; exit 3\n")
    shell.read_until("multi-container-pod")
    assert shell.close() == 3

    events = k.ok("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=multi-container-pod")
    for reason in ("Scheduled", "Pulled", "Created", "Started"):
        assert reason in events
    top = k.ok("top", "pod", "multi-container-pod", "-n", namespace, "--containers").splitlines()
    assert top[0].split() == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    assert sorted(line.split()[1] for line in top[1:]) == ["log-collector", "nginx-container"]

    # `logs --previous` after the container restarts. `nginx -s stop` ends the master, the container's PID 1; the
    # exec'd command runs in that PID namespace, so when the master is gone before the command has exited the kernel
    # SIGKILLs the command and kubectl reports exit code 137 (on any node, not only this one). The restart is what
    # shows that the stop worked.
    stop = k("exec", "multi-container-pod", "-c", "nginx-container", "-n", namespace, "--", "nginx", "-s", "stop")
    assert stop.returncode in (0, 137), stop.stderr
    assert "signal process started" in stop.stderr
    pod = wait_for(core, namespace, "multi-container-pod", lambda p: container(p, "nginx-container").restart_count == 1)
    assert container(pod, "nginx-container").last_state.terminated.exit_code == 0
    previous = k.ok("logs", "multi-container-pod", "-c", "nginx-container", "-n", namespace, "--previous")
    assert "Configuration complete; ready for start up" in previous

    k.ok("delete", "pod", "multi-container-pod", "-n", namespace, "--grace-period=1", timeout=60)
    assert k.ok("get", "pods", "-n", namespace, "-o", "name") == ""


def test_web_with_proxy_runs_three_containers_on_one_ip(
    kubectl137: Kubectl, core: client.CoreV1Api, namespace: str, examples_dir: Path
):
    k = kubectl137
    k.ok("apply", "-n", namespace, "-f", str(examples_dir / "web-with-proxy.yaml"))
    pod = wait_for(core, namespace, "web-with-proxy", running)
    assert [c.name for c in pod.status.container_statuses] == ["db-proxy", "monitoring", "web-app"]
    # haproxy read the ConfigMap mounted at its config path and listens on 3306 for the others.
    config = k.ok(
        "exec", "web-with-proxy", "-c", "db-proxy", "-n", namespace, "--", "cat", "/usr/local/etc/haproxy/haproxy.cfg"
    )
    assert "bind *:3306" in config
    probe = "exec 3<>/dev/tcp/127.0.0.1/3306 && echo reached"
    assert (
        k.ok("exec", "web-with-proxy", "-c", "web-app", "-n", namespace, "--", "bash", "-c", probe).strip() == "reached"
    )
    metrics = http_get(core, namespace, "web-with-proxy", 9100, "/metrics")
    assert "node_exporter_build_info" in metrics
    assert "Welcome to nginx!" in http_get(core, namespace, "web-with-proxy", 80)
