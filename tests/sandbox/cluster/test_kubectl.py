"""Real kubectl (1.37 and 1.36) against the sandbox API: what the tutorials do with a cluster.

These check what the API server answers (apply, get in its several forms, describe, events,
selectors, watch, delete, errors); test_tutorials.py checks what running the pods gives.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from tests.clusters import Kubectl, SandboxProcess

pytestmark = pytest.mark.kubectl

EXAMPLES = ["multicontainer-pod.yaml", "multi-container-pod.yaml", "web-with-proxy.yaml"]


def created_lines(manifest: Path) -> list[str]:
    """What `kubectl apply` prints for a fresh manifest: one `<kind>/<name> created` per object."""
    lines = []
    for doc in yaml.safe_load_all(manifest.read_text()):
        lines.append(f"{doc['kind'].lower()}/{doc['metadata']['name']}")
    return lines


def desired_state(kubectl: Kubectl, namespace: str) -> dict[str, object]:
    """Each object's spec (or data), labels, annotations and generation: what an apply may change."""
    out = kubectl.ok("get", "pods,configmaps", "-n", namespace, "-o", "json")
    return {
        f"{i['kind']}/{i['metadata']['name']}": (
            i.get("spec", i.get("data")),
            i["metadata"].get("labels"),
            i["metadata"].get("annotations"),
            i["metadata"].get("generation"),
        )
        for i in json.loads(out)["items"]
    }


@pytest.mark.parametrize("manifest", EXAMPLES)
def test_apply_creates_then_changes_nothing(kubectl: Kubectl, namespace: str, examples_dir: Path, manifest: str):
    path = examples_dir / manifest
    first = kubectl.ok("apply", "-n", namespace, "-f", str(path))
    assert first.splitlines() == [f"{name} created" for name in created_lines(path)]
    before = desired_state(kubectl, namespace)
    second = kubectl.ok("apply", "-n", namespace, "-f", str(path))
    # A real apiserver's ServiceAccount admission appends a token mount to every container, so the live
    # volumeMounts lists are longer than the manifest's and kubectl's three-way merge sends a patch that
    # only restates the order ($setElementOrder): it prints "configured", and the server writes nothing.
    expected = [f"{name} {'configured' if name.startswith('pod/') else 'unchanged'}" for name in created_lines(path)]
    assert second.splitlines() == expected
    assert desired_state(kubectl, namespace) == before


def test_reapply_of_a_pod_without_mounts_is_unchanged(kubectl: Kubectl, namespace: str):
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: simple, labels: {app: simple}}\nspec:\n  containers:\n"
        "  - {name: app, image: busybox, command: [sleep, '3600'], ports: [{containerPort: 8080, name: http}],"
        " env: [{name: A, value: '1'}], resources: {requests: {cpu: 100m, memory: 64Mi}}}\n"
    )
    assert kubectl.ok("apply", "-n", namespace, "-f", "-", input=manifest).strip() == "pod/simple created"
    assert kubectl.ok("apply", "-n", namespace, "-f", "-", input=manifest).strip() == "pod/simple unchanged"


@pytest.mark.parametrize("manifest", EXAMPLES)
def test_server_side_apply_creates_and_reapplies(kubectl: Kubectl, namespace: str, examples_dir: Path, manifest: str):
    path = examples_dir / manifest
    first = kubectl.ok("apply", "--server-side", "-n", namespace, "-f", str(path))
    assert first.splitlines() == [f"{name} serverside-applied" for name in created_lines(path)]
    second = kubectl.ok("apply", "--server-side", "-n", namespace, "-f", str(path))
    assert second.splitlines() == [f"{name} serverside-applied" for name in created_lines(path)]
    name = created_lines(path)[-1].split("/")[1]
    pod = json.loads(kubectl.ok("get", "pod", name, "-n", namespace, "-o", "json", "--show-managed-fields"))
    managers = {entry["manager"]: entry["operation"] for entry in pod["metadata"]["managedFields"]}
    assert managers.get("kubectl") == "Apply"


def test_reapply_with_a_change_patches_the_pod(kubectl: Kubectl, namespace: str, examples_dir: Path):
    path = examples_dir / "multicontainer-pod.yaml"
    kubectl.ok("apply", "-n", namespace, "-f", str(path))
    path.write_text(path.read_text().replace("image: nginx", "image: nginx:1.27"))
    assert kubectl.ok("apply", "-n", namespace, "-f", str(path)).strip() == "pod/multicontainer-pod configured"
    image = kubectl.ok(
        "get", "pod", "multicontainer-pod", "-n", namespace, "-o", "jsonpath={.spec.containers[1].image}"
    )
    assert image == "nginx:1.27"


def test_get_pods_prints_the_real_columns(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    lines = kubectl.ok("get", "pods", "-n", namespace).splitlines()
    assert lines[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    name, ready, status, restarts, age = lines[1].split()[:5]
    assert (name, restarts) == ("multicontainer-pod", "0")
    assert re.fullmatch(r"[0-2]/2", ready)
    assert status in ("Pending", "ContainerCreating", "Running")
    assert re.fullmatch(r"\d+s", age)


def test_get_pods_wide_shows_node_and_readiness_gates(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    header, row = kubectl.ok("get", "pods", "-o", "wide", "-n", namespace).splitlines()
    assert re.split(r"\s{2,}", header.strip()) == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED NODE",
        "READINESS GATES",
    ]
    cells = row.split()
    assert cells[0] == "multicontainer-pod"
    assert cells[5] == "<none>" or cells[5].startswith("10.244.0.")
    assert cells[6:] == ["sandbox", "<none>", "<none>"]


def test_get_pod_yaml_carries_the_api_defaults(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    pod = yaml.safe_load(kubectl.ok("get", "pod", "multicontainer-pod", "-n", namespace, "-o", "yaml"))
    assert pod["kind"] == "Pod"
    assert pod["apiVersion"] == "v1"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["serviceAccountName"] == "default"
    assert spec["nodeName"] == "sandbox"
    producer = spec["containers"][0]
    assert producer["imagePullPolicy"] == "Always"
    assert producer["terminationMessagePath"] == "/dev/termination-log"
    assert any(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" for m in producer["volumeMounts"])
    assert spec["containers"][1]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert pod["status"]["phase"] in ("Pending", "Running")
    assert pod["status"]["qosClass"] == "BestEffort"
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["PodScheduled"] == "True"
    assert "managedFields" not in pod["metadata"]  # kubectl hides them unless asked


@pytest.mark.parametrize(
    ("jsonpath", "expected"),
    [
        ("{.spec.containers[*].name}", "nginx-container log-collector"),
        ("{.metadata.labels.app}", "web-with-sidecar"),
        ("{.spec.volumes[*].name}", None),
        ("{.spec.nodeName}", "sandbox"),
    ],
)
def test_tutorial_jsonpath_queries(kubectl: Kubectl, namespace: str, examples_dir: Path, jsonpath: str, expected):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
    out = kubectl.ok("get", "pod", "multi-container-pod", "-n", namespace, "-o", f"jsonpath={jsonpath}")
    if expected is None:
        names = out.split()
        assert names[:2] == ["shared-logs", "collector-logs"]
        assert names[2].startswith("kube-api-access-")
    else:
        assert out == expected


def test_describe_pod_shows_node_containers_and_scheduling_event(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
    text = kubectl.ok("describe", "pod", "multi-container-pod", "-n", namespace)
    assert re.search(r"^Name:\s+multi-container-pod$", text, re.M)
    assert re.search(rf"^Namespace:\s+{namespace}$", text, re.M)
    assert re.search(r"^Node:\s+sandbox/", text, re.M)
    assert re.search(r"^Labels:\s+app=web-with-sidecar$", text, re.M)
    assert re.search(r"^Status:\s+(Pending|Running)$", text, re.M)
    assert "  nginx-container:" in text
    assert "  log-collector:" in text
    assert re.search(r"/var/log/nginx from shared-logs \(rw\)", text)
    assert re.search(r"shared-logs:\s+Type:\s+EmptyDir", text, re.S)
    assert re.search(
        r"Normal\s+Scheduled\s+\S+\s+default-scheduler\s+"
        rf"Successfully assigned {namespace}/multi-container-pod to sandbox",
        text,
    )


def test_events_field_selector_on_involved_object(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    out = kubectl.ok(
        "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=multi-container-pod"
    ).splitlines()
    assert out[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert all("pod/multi-container-pod " in line for line in out[1:])
    assert any(line.split()[2] == "Scheduled" for line in out[1:])


def test_label_selectors(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))

    def names(*selector: str) -> list[str]:
        return kubectl.ok("get", "pods", "-n", namespace, "-o", "name", *selector).split()

    assert names("-l", "app=web-with-sidecar") == ["pod/multi-container-pod"]
    assert names("-l", "app in (web-with-sidecar, other)") == ["pod/multi-container-pod"]
    assert names("-l", "!app") == ["pod/multicontainer-pod"]
    assert names("-l", "app!=web-with-sidecar") == ["pod/multicontainer-pod"]
    assert names("-l", "app=nothing-here") == []
    bad = kubectl("get", "pods", "-n", namespace, "-l", "app==(")
    assert bad.returncode == 1
    assert "unable to parse requirement" in bad.stderr


def test_get_watch_sees_a_change(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    watcher = kubectl.popen("get", "pods", "-n", namespace, "-w", "--output-watch-events")
    try:
        watcher.expect(r"ADDED\s+multicontainer-pod\s+[0-2]/2\s+\S+", 20)
        kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multi-container-pod.yaml"))
        watcher.expect(r"ADDED\s+multi-container-pod\s+[0-2]/2\s+\S+", 20)
        kubectl.ok("label", "pod", "multicontainer-pod", "-n", namespace, "tier=web")
        watcher.expect(r"MODIFIED\s+multicontainer-pod\s+[0-2]/2\s+\S+", 20)
        kubectl.ok("delete", "pod", "multi-container-pod", "-n", namespace, "--wait=false", "--grace-period=1")
        watcher.expect(r"DELETED\s+multi-container-pod", 20)
    finally:
        watcher.stop()


def test_delete_pod_waits_and_returns_promptly(kubectl: Kubectl, namespace: str, examples_dir: Path):
    kubectl.ok("apply", "-n", namespace, "-f", str(examples_dir / "multicontainer-pod.yaml"))
    started = time.monotonic()
    # bash as PID 1 ignores SIGTERM, so the default 30 s grace would be spent in full, as on any node.
    out = kubectl.ok("delete", "pod", "multicontainer-pod", "-n", namespace, "--grace-period=2", timeout=30)
    assert time.monotonic() - started < 10
    assert out.strip() in (
        'pod "multicontainer-pod" deleted',
        f'pod "multicontainer-pod" deleted from {namespace} namespace',
    )
    missing = kubectl("get", "pod", "multicontainer-pod", "-n", namespace)
    assert missing.returncode == 1


def test_delete_namespace_removes_its_content(kubectl: Kubectl, examples_dir: Path):
    name = f"gone-{int(time.time() * 1000) % 10**8}-{kubectl.version.replace('.', '')}"
    kubectl.ok("create", "namespace", name)
    kubectl.ok("apply", "-n", name, "-f", str(examples_dir / "web-with-proxy.yaml"))
    started = time.monotonic()
    out = kubectl.ok("delete", "namespace", name, timeout=60)
    assert time.monotonic() - started < 20
    assert out.strip().startswith(f'namespace "{name}" deleted')
    assert kubectl("get", "namespace", name).returncode == 1
    leftover = kubectl.ok(
        "get", "pods,configmaps", "-A", "-o", "name", "--field-selector", f"metadata.namespace={name}"
    )
    assert leftover.strip() == ""


def test_system_namespaces_exist(kubectl: Kubectl):
    names = kubectl.ok("get", "namespaces", "-o", "name").split()
    for ns in ("namespace/default", "namespace/kube-public", "namespace/kube-system"):
        assert ns in names
    lines = kubectl.ok("get", "namespaces").splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    assert any(line.split()[:2] == ["default", "Active"] for line in lines[1:])


def test_get_nodes_shows_the_sandbox_node(kubectl: Kubectl):
    lines = kubectl.ok("get", "nodes", "-o", "wide").splitlines()
    assert lines[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    cells = lines[1].split()
    assert cells[:3] == ["sandbox", "Ready", "control-plane"]
    assert cells[4] == "v1.37.1"


def test_missing_pod_is_not_found(kubectl: Kubectl, namespace: str):
    done = kubectl("get", "pod", "nope", "-n", namespace)
    assert done.returncode == 1
    assert done.stderr.strip() == 'Error from server (NotFound): pods "nope" not found'


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\nspec:\n  containers: [{name: a, image: busybox}]\n",
            'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain',
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers: [{name: a}]\n",
            'The Pod "noimage" is invalid: spec.containers[0].image: Required value',
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nspec:\n  containers:\n"
            "  - {name: a, image: busybox}\n  - {name: a, image: busybox}\n",
            'The Pod "dup" is invalid: spec.containers[1].name: Duplicate value: "a"',
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: nomount}\nspec:\n  containers:\n"
            "  - name: a\n    image: busybox\n    volumeMounts: [{name: data, mountPath: /data}]\n",
            'The Pod "nomount" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "data"',
        ),
    ],
    ids=["bad-name", "no-image", "duplicate-container", "mount-without-volume"],
)
def test_invalid_manifest_names_the_field(kubectl: Kubectl, namespace: str, manifest: str, message: str):
    done = kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    assert done.returncode == 1
    assert message in done.stderr


def test_unknown_field_is_rejected_by_strict_validation(kubectl: Kubectl, namespace: str):
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: typo}\nspec:\n"
        "  containers: [{name: a, image: busybox, imagee: x}]\n"
    )
    done = kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    assert done.returncode == 1
    assert 'unknown field "spec.containers[0].imagee"' in done.stderr


def test_bad_token_is_unauthorized(kubectl: Kubectl, sandbox: SandboxProcess, tmp_path: Path):
    config = yaml.safe_load(sandbox.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    bad = tmp_path / "bad-kubeconfig"
    bad.write_text(yaml.safe_dump(config))
    wrong = Kubectl(kubectl.binary, kubectl.version, bad, tmp_path / "cache-bad")
    done = wrong("get", "pods")
    assert done.returncode == 1
    # kubectl words it from the 401 Status: "(Unauthorized)" or, since discovery goes first, as below.
    assert re.search(
        r"error: You must be logged in to the server "
        r"\((Unauthorized|the server has asked for the client to provide credentials)\)",
        done.stderr,
    )


def test_version_reports_the_server(kubectl: Kubectl):
    out = json.loads(kubectl.ok("version", "-o", "json"))
    assert out["serverVersion"]["gitVersion"] == "v1.37.1"


def test_other_stored_kinds(kubectl: Kubectl, namespace: str):
    kubectl.ok("create", "configmap", "settings", "-n", namespace, "--from-literal=mode=demo")
    kubectl.ok("create", "secret", "generic", "creds", "-n", namespace, "--from-literal=password=s3cret")
    kubectl.ok("create", "service", "clusterip", "web", "-n", namespace, "--tcp=80:8080")
    kubectl.ok("create", "serviceaccount", "robot", "-n", namespace)
    claim = (
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\nspec:\n"
        "  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n"
    )
    kubectl.ok("apply", "-n", namespace, "-f", "-", input=claim)
    assert kubectl.ok("get", "cm", "settings", "-n", namespace, "-o", "jsonpath={.data.mode}") == "demo"
    secret_lines = kubectl.ok("get", "secret", "creds", "-n", namespace).splitlines()
    assert secret_lines[0].split() == ["NAME", "TYPE", "DATA", "AGE"]
    assert secret_lines[1].split()[:3] == ["creds", "Opaque", "1"]
    svc = kubectl.ok("get", "svc", "web", "-n", namespace).splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert svc[1].split()[1] == "ClusterIP"
    assert svc[1].split()[4] == "80/TCP"
    accounts = kubectl.ok("get", "sa", "-n", namespace, "-o", "name").split()
    assert accounts == ["serviceaccount/default", "serviceaccount/robot"]
    assert kubectl.ok("get", "pvc", "data", "-n", namespace, "-o", "jsonpath={.status.phase}") == "Pending"
