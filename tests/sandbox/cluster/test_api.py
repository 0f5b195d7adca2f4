"""The sandbox API through the real `kubernetes` Python client and plain HTTPS: verbs, watch, errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.clusters import SandboxProcess


@pytest.fixture
def http(sandbox: SandboxProcess) -> requests.Session:
    """A plain HTTPS session that trusts the sandbox CA and carries its token."""
    session = requests.Session()
    # Environment CA bundles (REQUESTS_CA_BUNDLE) would otherwise override the sandbox CA.
    session.trust_env = False
    session.verify = str(sandbox.state_dir / "pki" / "ca.crt")
    session.headers["Authorization"] = f"Bearer {sandbox.token}"
    return session


def pod(name: str = "", generate: str = "", labels: dict[str, str] | None = None) -> dict:
    meta: dict = {"labels": labels or {}}
    if name:
        meta["name"] = name
    if generate:
        meta["generateName"] = generate
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}]},
    }


def error_of(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_generate_name_gets_a_random_suffix(core: client.CoreV1Api, namespace: str):
    created = core.create_namespaced_pod(namespace, pod(generate="worker-"))
    assert created.metadata.name.startswith("worker-")
    assert len(created.metadata.name) == len("worker-") + 5
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None


def test_create_twice_is_already_exists(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_pod(namespace, pod("twin"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(namespace, pod("twin"))
    assert caught.value.status == 409
    status = error_of(caught.value)
    assert status["reason"] == "AlreadyExists"
    assert status["message"] == 'pods "twin" already exists'


def test_create_in_a_missing_namespace_is_not_found(core: client.CoreV1Api):
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("no-such-namespace", {"metadata": {"name": "x"}})
    assert caught.value.status == 404
    assert error_of(caught.value)["message"] == 'namespaces "no-such-namespace" not found'


def test_stale_update_is_a_conflict(core: client.CoreV1Api, namespace: str):
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "cfg"}, "data": {"a": "1"}})
    stale = cm.metadata.resource_version
    cm.data = {"a": "2"}
    fresh = core.replace_namespaced_config_map("cfg", namespace, cm)
    assert int(fresh.metadata.resource_version) > int(stale)
    body = {"metadata": {"name": "cfg", "resourceVersion": stale}, "data": {"a": "3"}}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("cfg", namespace, body)
    assert caught.value.status == 409
    assert error_of(caught.value)["message"] == (
        'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )


def test_patch_types(http: requests.Session, sandbox: SandboxProcess, namespace: str):
    base = f"{sandbox.url}/api/v1/namespaces/{namespace}/pods"
    assert http.post(base, json=pod("patched", labels={"app": "a"})).status_code == 201
    url = f"{base}/patched"

    def send(content_type: str, body: object) -> requests.Response:
        return http.patch(url, data=json.dumps(body), headers={"Content-Type": content_type})

    merged = send("application/merge-patch+json", {"metadata": {"labels": {"tier": "web", "app": None}}})
    assert merged.status_code == 200
    assert merged.json()["metadata"]["labels"] == {"tier": "web"}
    strategic = send(
        "application/strategic-merge-patch+json",
        {"spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}},
    )
    assert strategic.status_code == 200
    containers = strategic.json()["spec"]["containers"]
    assert [(c["name"], c["image"], c["command"]) for c in containers] == [("main", "busybox:1.36", ["sleep", "3600"])]
    jsonpatch = send(
        "application/json-patch+json", [{"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}}]
    )
    assert jsonpatch.status_code == 200
    assert jsonpatch.json()["metadata"]["annotations"] == {"a": "b"}
    unsupported = send("text/plain", {})
    assert unsupported.status_code == 415
    assert unsupported.json()["reason"] == "UnsupportedMediaType"


def test_pod_spec_updates_are_limited(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_pod(namespace, pod("fixed"))
    with pytest.raises(ApiException) as caught:
        core.patch_namespaced_pod("fixed", namespace, {"spec": {"containers": [{"name": "main", "command": ["true"]}]}})
    assert caught.value.status == 422
    assert "spec: Forbidden: pod updates may not change fields other than" in error_of(caught.value)["message"]


def test_list_pages_with_limit_and_continue(core: client.CoreV1Api, namespace: str):
    for i in range(5):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": f"page-{i}"}})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(namespace, limit=2, _continue=token)
        pages += 1
        seen += [item.metadata.name for item in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == 6 - len(seen)  # five pages plus kube-root-ca.crt
    assert seen == ["kube-root-ca.crt", "page-0", "page-1", "page-2", "page-3", "page-4"]
    assert pages == 3


def test_field_selectors(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_pod(namespace, pod("one"))
    core.create_namespaced_pod(namespace, pod("two"))
    by_name = core.list_namespaced_pod(namespace, field_selector="metadata.name=two")
    assert [p.metadata.name for p in by_name.items] == ["two"]
    on_node = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName=sandbox,metadata.namespace={namespace}")
    assert sorted(p.metadata.name for p in on_node.items) == ["one", "two"]
    pending = core.list_namespaced_pod(namespace, field_selector="status.phase!=Pending")
    assert pending.items == []
    with pytest.raises(ApiException) as caught:
        core.list_namespaced_pod(namespace, field_selector="spec.image=x")
    assert caught.value.status == 400


def test_watch_streams_changes_after_a_resource_version(core: client.CoreV1Api, namespace: str):
    listed = core.list_namespaced_config_map(namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "w", "labels": {"watch": "me"}}})
    core.patch_namespaced_config_map("w", namespace, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w", namespace)
    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map,
        namespace,
        resource_version=listed.metadata.resource_version,
        timeout_seconds=2,
    ):
        events.append((event["type"], event["object"].metadata.name))
    assert events == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_watch_selector_turns_leaving_into_deleted(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "sel", "labels": {"keep": "yes"}}})
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"keep": "no"}}})
    core.patch_namespaced_config_map("sel", namespace, {"metadata": {"labels": {"keep": "yes"}}})
    events = [
        e["type"]
        for e in watch.Watch().stream(
            core.list_namespaced_config_map,
            namespace,
            label_selector="keep=yes",
            resource_version=rv,
            timeout_seconds=2,
        )
    ]
    assert events == ["DELETED", "ADDED"]


def test_watch_timeout_ends_the_stream(http: requests.Session, sandbox: SandboxProcess, namespace: str):
    started = time.monotonic()
    answer = http.get(
        f"{sandbox.url}/api/v1/namespaces/{namespace}/pods", params={"watch": "true", "timeoutSeconds": "1"}
    )
    assert answer.status_code == 200
    assert 0.9 < time.monotonic() - started < 5


def test_send_initial_events_ends_with_a_bookmark(http: requests.Session, sandbox: SandboxProcess, namespace: str):
    http.post(f"{sandbox.url}/api/v1/namespaces/{namespace}/configmaps", json={"metadata": {"name": "init"}})
    params = {
        "watch": "true",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "1",
    }
    answer = http.get(f"{sandbox.url}/api/v1/namespaces/{namespace}/configmaps", params=params)
    events = [json.loads(line) for line in answer.text.splitlines()]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:2]] == [
        ("ADDED", "init"),
        ("ADDED", "kube-root-ca.crt"),
    ] or [(e["type"], e["object"]["metadata"].get("name")) for e in events[:2]] == [
        ("ADDED", "kube-root-ca.crt"),
        ("ADDED", "init"),
    ]
    assert events[2]["type"] == "BOOKMARK"
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    without_bookmarks = http.get(
        f"{sandbox.url}/api/v1/namespaces/{namespace}/configmaps",
        params={**params, "allowWatchBookmarks": "false"},
    )
    assert without_bookmarks.status_code == 422
    assert "sendInitialEvents requires setting allowWatchBookmarks to true" in without_bookmarks.json()["message"]


def test_watch_bookmarks_carry_the_current_version(http: requests.Session, sandbox: SandboxProcess, namespace: str):
    params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "3", "resourceVersion": "0"}
    answer = http.get(f"{sandbox.url}/api/v1/namespaces/{namespace}/pods", params=params)
    events = [json.loads(line) for line in answer.text.splitlines()]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert len(bookmarks) >= 2
    assert bookmarks[0]["object"] == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": bookmarks[0]["object"]["metadata"]["resourceVersion"]},
    }
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) > 0


def test_delete_pod_is_graceful_then_gone(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_pod(namespace, pod("brief"))
    answer = core.delete_namespaced_pod("brief", namespace, grace_period_seconds=1)
    assert answer.metadata.name == "brief"
    deadline = time.monotonic() + 10
    while namespace in {p.metadata.namespace for p in core.list_namespaced_pod(namespace).items}:
        assert time.monotonic() < deadline, "pod was not removed after a graceful delete"
        time.sleep(0.1)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("brief", namespace)
    assert caught.value.status == 404


def test_delete_precondition_mismatch_is_a_conflict(core: client.CoreV1Api, namespace: str):
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "pre"}})
    with pytest.raises(ApiException) as caught:
        core.delete_namespaced_config_map("pre", namespace, body={"preconditions": {"uid": "not-the-uid"}})
    assert caught.value.status == 409
    assert "Precondition failed: UID in precondition: not-the-uid" in error_of(caught.value)["message"]


def test_delete_collection_by_label(core: client.CoreV1Api, namespace: str):
    for name, tier in [("a", "web"), ("b", "web"), ("c", "db")]:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": {"tier": tier}}})
    core.delete_collection_namespaced_config_map(namespace, label_selector="tier=web")
    left = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert left == ["c", "kube-root-ca.crt"]


def test_system_namespace_cannot_be_deleted(core: client.CoreV1Api):
    with pytest.raises(ApiException) as caught:
        core.delete_namespace("kube-system")
    assert caught.value.status == 403
    assert (
        error_of(caught.value)["message"] == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'
    )


@pytest.mark.parametrize(
    ("headers", "code"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 401), ({"Authorization": "Basic abc"}, 401)],
    ids=["no-token", "wrong-token", "wrong-scheme"],
)
def test_unauthenticated_requests_get_a_status(sandbox: SandboxProcess, headers: dict[str, str], code: int):
    session = requests.Session()
    session.trust_env = False
    answer = session.get(
        f"{sandbox.url}/api/v1/namespaces", headers=headers, verify=str(sandbox.state_dir / "pki" / "ca.crt")
    )
    assert answer.status_code == code
    assert answer.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_unknown_path_is_a_not_found_status(http: requests.Session, sandbox: SandboxProcess):
    answer = http.get(f"{sandbox.url}/api/v1/widgets")
    assert answer.status_code == 404
    assert answer.json()["message"] == "the server could not find the requested resource"


def test_table_format_for_pods(http: requests.Session, sandbox: SandboxProcess, namespace: str):
    http.post(f"{sandbox.url}/api/v1/namespaces/{namespace}/pods", json=pod("tabled"))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    table = http.get(f"{sandbox.url}/api/v1/namespaces/{namespace}/pods", headers={"Accept": accept}).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
        "IP",
        "Node",
        "Nominated Node",
        "Readiness Gates",
    ]
    cells = table["rows"][0]["cells"]
    assert cells[:2] == ["tabled", "0/1"] or cells[:2] == ["tabled", "1/1"]
    assert cells[2] in ("Pending", "ContainerCreating", "Running")
    assert cells[3] == "0"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_kubeconfig_is_private(sandbox: SandboxProcess):
    assert sandbox.kubeconfig.stat().st_mode & 0o777 == 0o600


def test_objects_survive_a_restart(tmp_path: Path):
    cluster = SandboxProcess(tmp_path / "state")
    cluster.start()
    try:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        made = core.create_namespaced_config_map("default", {"metadata": {"name": "kept"}, "data": {"k": "v"}})
        old_rv = made.metadata.resource_version
        api_client.close()
    finally:
        cluster.stop()
    cluster.start()
    try:
        api_client = config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core = client.CoreV1Api(api_client)
        kept = core.read_namespaced_config_map("kept", "default")
        assert kept.metadata.uid == made.metadata.uid
        assert kept.data == {"k": "v"}
        assert int(core.list_namespaced_config_map("default").metadata.resource_version) >= int(old_rv)
        # History from before the restart is gone, as with a restarted apiserver's watch cache.
        with pytest.raises(ApiException) as caught:
            list(
                watch.Watch().stream(
                    core.list_namespaced_config_map, "default", resource_version="1", timeout_seconds=1
                )
            )
        assert caught.value.status == 410
        api_client.close()
    finally:
        cluster.stop()


def test_concurrent_watchers_all_see_the_change(core: client.CoreV1Api, namespace: str):
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[list[str]] = [[] for _ in range(5)]

    def follow(slot: int) -> None:
        for event in watch.Watch().stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=2
        ):
            seen[slot].append(event["object"].metadata.name)

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "fanout"}})
    for t in threads:
        t.join()
    assert seen == [["fanout"]] * 5
