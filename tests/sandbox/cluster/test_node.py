"""The sandbox node running pods as a kubelet does: restarts, init containers, sidecars, limits, images."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from kubernetes import client, config

from sandbox.runtime import network
from tests.clusters import CURRENT_KUBECTL, Kubectl, Running, SandboxProcess, Terminal, kubectl_binary
from tests.pods import container, running, wait_for


def pod(name: str, containers: list[dict], **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers, **spec}}


def busybox(name: str, script: str, **extra: object) -> dict:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


def test_crashing_container_backs_off_and_keeps_previous_logs(
    core: client.CoreV1Api, kubectl137: Kubectl, namespace: str
):
    script = "echo attempt $(date +%s%N); echo bye > /dev/termination-log; exit 3"
    core.create_namespaced_pod(namespace, pod("crash", [busybox("app", script)]))
    found = wait_for(
        core,
        namespace,
        "crash",
        lambda p: (
            container(p, "app").restart_count >= 1
            and container(p, "app").state.waiting is not None
            and container(p, "app").state.waiting.reason == "CrashLoopBackOff"
        ),
        timeout=90,
    )
    status = container(found, "app")
    assert status.last_state.terminated.exit_code == 3
    assert status.last_state.terminated.reason == "Error"
    assert status.last_state.terminated.message == "bye\n"
    assert "back-off" in status.state.waiting.message
    row = kubectl137.ok("get", "pod", "crash", "-n", namespace).splitlines()[1].split()
    assert row[2] in ("CrashLoopBackOff", "Error")
    previous = kubectl137.ok("logs", "crash", "-n", namespace, "--previous")
    assert previous.startswith("attempt ")
    events = kubectl137.ok("get", "events", "-n", namespace, "--field-selector", "reason=BackOff")
    assert "Back-off restarting failed container app in pod crash" in events


def test_init_containers_run_in_order_before_the_app(core: client.CoreV1Api, kubectl137: Kubectl, namespace: str):
    shared = [{"name": "work", "mountPath": "/work"}]
    spec = pod(
        "ordered",
        [busybox("app", "cat /work/steps; sleep 3600", volumeMounts=shared)],
        initContainers=[
            busybox("first", "echo first >> /work/steps", volumeMounts=shared),
            busybox("second", "sleep 1; echo second >> /work/steps", volumeMounts=shared),
        ],
        volumes=[{"name": "work", "emptyDir": {}}],
    )
    core.create_namespaced_pod(namespace, spec)
    done = wait_for(core, namespace, "ordered", running)
    assert [c.state.terminated.reason for c in done.status.init_container_statuses] == ["Completed", "Completed"]
    conditions = {c.type: c.status for c in done.status.conditions}
    assert conditions["Initialized"] == "True"
    assert conditions["Ready"] == "True"
    assert kubectl137.ok("logs", "ordered", "-c", "app", "-n", namespace) == "first\nsecond\n"


def test_native_sidecar_starts_first_and_keeps_running(core: client.CoreV1Api, kubectl137: Kubectl, namespace: str):
    shared = [{"name": "logs", "mountPath": "/logs"}]
    spec = pod(
        "with-sidecar",
        [busybox("app", "while true; do echo tick >> /logs/app.log; sleep 1; done", volumeMounts=shared)],
        initContainers=[
            busybox(
                "shipper", "touch /logs/app.log; tail -f /logs/app.log", restartPolicy="Always", volumeMounts=shared
            )
        ],
        volumes=[{"name": "logs", "emptyDir": {}}],
    )
    core.create_namespaced_pod(namespace, spec)
    found = wait_for(core, namespace, "with-sidecar", running)
    sidecar = container(found, "shipper")
    assert sidecar.state.running is not None
    assert sidecar.started is True
    assert kubectl137.ok("get", "pod", "with-sidecar", "-n", namespace).splitlines()[1].split()[1] == "2/2"
    time.sleep(2)
    assert "tick" in kubectl137.ok("logs", "with-sidecar", "-c", "shipper", "-n", namespace)


def test_container_over_its_memory_limit_is_oom_killed(core: client.CoreV1Api, namespace: str):
    hog = {
        "name": "hog",
        "image": "python:3.11",
        "command": ["python3", "-c", "data = bytearray(256 * 1024 * 1024); print(len(data))"],
        "resources": {"limits": {"memory": "64Mi"}},
    }
    core.create_namespaced_pod(namespace, pod("hog", [hog], restartPolicy="Never"))
    found = wait_for(core, namespace, "hog", lambda p: p.status.phase == "Failed", timeout=60)
    terminated = container(found, "hog").state.terminated
    assert terminated.reason == "OOMKilled"
    assert terminated.exit_code == 137


def test_image_without_profile_waits_with_a_clear_message(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_pod(namespace, pod("mystery", [{"name": "app", "image": "example.com/team/mystery:2.0"}]))
    found = wait_for(
        core,
        namespace,
        "mystery",
        lambda p: (
            container(p, "app").state.waiting is not None
            and container(p, "app").state.waiting.reason == "ImagePullBackOff"
        ),
    )
    message = container(found, "app").state.waiting.message
    assert "example.com/team/mystery:2.0" in message
    for runnable in ("nginx", "busybox", "ubuntu", "redis"):
        assert runnable in message
    assert found.status.phase == "Pending"


def test_completed_pod_succeeds(core: client.CoreV1Api, kubectl137: Kubectl, namespace: str):
    core.create_namespaced_pod(namespace, pod("once", [busybox("job", "echo done")], restartPolicy="Never"))
    found = wait_for(core, namespace, "once", lambda p: p.status.phase == "Succeeded")
    assert container(found, "job").state.terminated.reason == "Completed"
    assert kubectl137.ok("get", "pod", "once", "-n", namespace).splitlines()[1].split()[2] == "Completed"
    assert kubectl137.ok("logs", "once", "-n", namespace) == "done\n"


def test_pods_on_the_virtual_node_run_at_once(core: client.CoreV1Api, namespace: str):
    for i in range(20):
        spec = pod(f"paper-{i}", [{"name": "app", "image": "anything/at-all"}], nodeSelector={"type": "virtual"})
        core.create_namespaced_pod(namespace, spec)
    found = wait_for(core, namespace, "paper-19", running, timeout=20)
    assert found.spec.node_name == "virtual"
    phases = {p.status.phase for p in core.list_namespaced_pod(namespace).items}
    assert phases == {"Running"}


def test_env_configmaps_and_downward_api(core: client.CoreV1Api, kubectl137: Kubectl, namespace: str):
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"mode": "demo", "level": "3"}}
    )
    app = busybox(
        "app",
        "echo $MODE $POD $GREETING; echo $(cat /config/level); sleep 3600",
        env=[
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "value": "hello-$(MODE)"},
        ],
        volumeMounts=[{"name": "config", "mountPath": "/config", "readOnly": True}],
    )
    core.create_namespaced_pod(
        namespace, pod("envy", [app], volumes=[{"name": "config", "configMap": {"name": "settings"}}])
    )
    wait_for(core, namespace, "envy", running)
    deadline = time.monotonic() + 10
    while (out := kubectl137.ok("logs", "envy", "-n", namespace)).count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert out == "demo envy hello-demo\n3\n"
    denied = kubectl137("exec", "envy", "-n", namespace, "--", "sh", "-c", "echo x > /config/new")
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr


def leftovers(state_dir: Path) -> list[str]:
    """Namespaces, mounts and processes of one sandbox that are still on the machine."""
    prefix = f"ps-{network.instance_id(state_dir.resolve())}"
    found = [
        line
        for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith(prefix)
    ]
    found += [
        line
        for line in subprocess.run(
            ["findmnt", "-rn", "-o", "TARGET"], capture_output=True, text=True
        ).stdout.splitlines()
        if str(state_dir) in line
    ]
    found += subprocess.run(["pgrep", "-af", str(state_dir)], capture_output=True, text=True).stdout.splitlines()
    return found


def test_stopping_the_sandbox_leaves_nothing_and_restarts_pods(tmp_path: Path):
    cluster = SandboxProcess(tmp_path / "state")
    cluster.start()
    try:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        core.create_namespaced_pod("default", pod("survivor", [busybox("app", "sleep 3600")]))
        wait_for(core, "default", "survivor", running)
        assert leftovers(cluster.state_dir)  # the pod really has a namespace, mounts and processes
        api.close()
    finally:
        cluster.stop()
    assert leftovers(cluster.state_dir) == []
    cluster.start()
    try:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        wait_for(core, "default", "survivor", running)
        api.close()
    finally:
        cluster.stop()
    assert leftovers(cluster.state_dir) == []


def sigterm(cluster: SandboxProcess, within: float) -> int:
    """Send SIGTERM and wait for the sandbox to end by itself; its exit code."""
    assert cluster.process is not None
    cluster.process.send_signal(signal.SIGTERM)
    try:
        return cluster.process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the sandbox was still running {within}s after SIGTERM:\n{cluster.log.read_text()[-3000:]}")


def test_sigterm_stops_the_sandbox_as_a_namespace_is_emptied(tmp_path: Path) -> None:
    # As at the end of a test session: a namespace is deleted and the sandbox stopped straight after, so the signal
    # lands while the namespace controller is emptying it and taking its changes.
    cluster = SandboxProcess(tmp_path / "state")
    cluster.start()
    try:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "leaving"}})
        for n in range(20):
            core.create_namespaced_config_map("leaving", {"metadata": {"name": f"cm-{n}"}})
        core.delete_namespace("leaving")
        api.close()
        assert sigterm(cluster, within=10) == 0
    finally:
        cluster.stop()
    assert "after being cancelled" not in cluster.log.read_text()


def test_sigterm_stops_running_pods_and_open_streams(tmp_path: Path) -> None:
    cluster = SandboxProcess(tmp_path / "state")
    cluster.start()
    kubectl = Kubectl(kubectl_binary(CURRENT_KUBECTL), CURRENT_KUBECTL, cluster.kubeconfig, tmp_path / "kube-cache")
    streams: list[Running] = []
    shell: Terminal | None = None
    try:
        api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api)
        ticking = "while true; do echo tick; sleep 1; done"
        spec = pod("busy", [busybox("a", ticking), busybox("b", ticking)], terminationGracePeriodSeconds=2)
        core.create_namespaced_pod("default", spec)
        wait_for(core, "default", "busy", running)
        api.close()
        streams.append(kubectl.popen("logs", "-f", "busy", "-c", "a"))
        streams[-1].expect("tick", 20)
        streams.append(kubectl.popen("get", "pods", "-w"))
        streams[-1].expect("busy", 20)
        shell = Terminal(kubectl, "exec", "-it", "busy", "-c", "b", "--", "sh")
        shell.read_until(r"/ # ")
        # The containers ignore SIGTERM (PID 1 without a handler), so the pod's 2s grace period bounds the stop.
        assert sigterm(cluster, within=10) == 0
    finally:
        # The sandbox goes first: the streams end with it.
        cluster.stop()
        for stream in streams:
            stream.stop()
        if shell is not None:
            shell.close()
    assert "after being cancelled" not in cluster.log.read_text()
    assert leftovers(cluster.state_dir) == []


def test_probes_drive_readiness_and_restarts(core: client.CoreV1Api, kubectl137: Kubectl, namespace: str):
    web = {
        "name": "web",
        "image": "nginx",
        "startupProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1},
        "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "periodSeconds": 1},
        "livenessProbe": {
            "exec": {"command": ["sh", "-c", "test ! -e /tmp/die"]},
            "periodSeconds": 1,
            "failureThreshold": 2,
        },
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo started > /usr/share/nginx/html/hook"]}}},
    }
    core.create_namespaced_pod(namespace, pod("probed", [web]))
    found = wait_for(core, namespace, "probed", lambda p: container(p, "web").ready, timeout=30)
    assert container(found, "web").started is True
    assert kubectl137.ok("exec", "probed", "-n", namespace, "--", "cat", "/usr/share/nginx/html/hook") == "started\n"
    # Failing the liveness probe twice makes the kubelet restart the container, fresh.
    kubectl137.ok("exec", "probed", "-n", namespace, "--", "touch", "/tmp/die")
    found = wait_for(core, namespace, "probed", lambda p: container(p, "web").restart_count == 1, timeout=30)
    assert container(found, "web").last_state.terminated is not None
    events = kubectl137.ok("get", "events", "-n", namespace, "--field-selector", "reason=Killing")
    assert "Container web failed liveness probe, will be restarted" in events
    wait_for(core, namespace, "probed", lambda p: container(p, "web").ready, timeout=30)
    assert "Liveness probe failed" in kubectl137.ok(
        "get", "events", "-n", namespace, "--field-selector", "reason=Unhealthy"
    )


def test_log_requests_get_the_real_errors(core: client.CoreV1Api, namespace: str):
    spec = pod("pair", [busybox("a", "sleep 3600"), busybox("b", "sleep 3600")])
    core.create_namespaced_pod(namespace, spec)
    wait_for(core, namespace, "pair", running)
    cases = [
        ({}, 400, "a container name must be specified for pod pair, choose one of: [a b]"),
        ({"container": "c"}, 400, "container c is not valid for pod pair"),
        ({"container": "a", "previous": True}, 400, 'previous terminated container "a" in pod "pair" not found'),
        ({"container": "a", "tail_lines": -1}, 422, "tailLines: Invalid value: -1: must be greater than or equal to 0"),
    ]
    for options, code, message in cases:
        with pytest.raises(client.exceptions.ApiException) as caught:
            core.read_namespaced_pod_log("pair", namespace, **options)
        assert caught.value.status == code
        assert message in json.loads(caught.value.body)["message"]
