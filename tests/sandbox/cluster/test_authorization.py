"""The sandbox's read-only `viewer` context: what it may do, how refusals read, and SelfSubjectAccessReview."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.clusters import Kubectl, SandboxProcess
from tests.pods import wait_for

VIEWER = "viewer"


def viewer_token(sandbox: SandboxProcess) -> str:
    users = yaml.safe_load(sandbox.kubeconfig.read_text())["users"]
    return next(u["user"]["token"] for u in users if u["name"] == VIEWER)


def session(sandbox: SandboxProcess, token: str) -> requests.Session:
    """A plain HTTPS session that trusts the sandbox CA and carries `token`."""
    http = requests.Session()
    # Environment CA bundles (REQUESTS_CA_BUNDLE) would otherwise override the sandbox CA.
    http.trust_env = False
    http.verify = str(sandbox.state_dir / "pki" / "ca.crt")
    http.headers["Authorization"] = f"Bearer {token}"
    return http


@pytest.fixture
def as_viewer(sandbox: SandboxProcess) -> Iterator[requests.Session]:
    """Plain HTTPS with the viewer's token."""
    with session(sandbox, viewer_token(sandbox)) as http:
        yield http


@pytest.fixture
def as_admin(sandbox: SandboxProcess) -> Iterator[requests.Session]:
    """Plain HTTPS with the admin token."""
    with session(sandbox, sandbox.token) as http:
        yield http


@pytest.fixture
def viewer_core(sandbox: SandboxProcess) -> Iterator[client.CoreV1Api]:
    """A CoreV1Api on the kubeconfig's viewer context."""
    api_client = config.new_client_from_config(config_file=str(sandbox.kubeconfig), context=VIEWER)
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def web(core: client.CoreV1Api, namespace: str) -> str:
    """A running pod named web in the test's namespace."""
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": "busybox", "command": ["sleep", "3600"]}],
            },
        },
    )
    wait_for(core, namespace, "web", lambda p: p.status.phase == "Running", timeout=30)
    return "web"


def forbidden(message: str, **details: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": "Forbidden",
        "details": details,
        "code": 403,
    }


def review(**attributes: str) -> dict[str, Any]:
    key = "nonResourceAttributes" if "path" in attributes else "resourceAttributes"
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "spec": {key: attributes}}


REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
WEBSOCKET = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    "Sec-WebSocket-Protocol": "v5.channel.k8s.io",
}
SPDY = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "portforward.k8s.io"}
USER = 'User "viewer" cannot'


# --- the kubeconfig ---------------------------------------------------------------------------------------------


def test_kubeconfig_has_a_viewer_context_next_to_the_current_one(sandbox: SandboxProcess):
    kubeconfig = yaml.safe_load(sandbox.kubeconfig.read_text())
    assert kubeconfig["current-context"] == "podscope-sandbox"
    contexts = {c["name"]: c["context"] for c in kubeconfig["contexts"]}
    assert contexts[VIEWER] == {"cluster": "podscope-sandbox", "user": VIEWER, "namespace": "default"}
    assert contexts["podscope-sandbox"]["cluster"] == "podscope-sandbox"
    assert viewer_token(sandbox) not in ("", sandbox.token)
    assert (sandbox.state_dir / "viewer-token").stat().st_mode & 0o777 == 0o600


# --- kubectl ------------------------------------------------------------------------------------------------------


@pytest.mark.kubectl
@pytest.mark.parametrize("resource", ["pods/exec", "pods/portforward", "pods/attach"])
def test_auth_can_i_connect(kubectl: Kubectl, resource: str):
    assert kubectl.ok("auth", "can-i", "create", resource) == "yes\n"
    denied = kubectl("--context", VIEWER, "auth", "can-i", "create", resource)
    assert (denied.returncode, denied.stdout) == (1, "no - no RBAC policy matched\n")


@pytest.mark.kubectl
@pytest.mark.parametrize(
    ("args", "answer"),
    [
        (("get", "pods"), "yes"),
        (("list", "pods"), "yes"),
        (("watch", "pods"), "yes"),
        (("get", "pods/log"), "yes"),
        (("get", "nodes"), "yes"),
        (("get", "/healthz"), "yes"),
        (("delete", "pods"), "no"),
        (("patch", "pods"), "no"),
        (("create", "configmaps"), "no"),
        (("delete", "namespaces"), "no"),
        (("post", "/healthz"), "no"),
    ],
)
def test_auth_can_i_as_viewer(kubectl: Kubectl, args: tuple[str, ...], answer: str):
    done = kubectl("--context", VIEWER, "auth", "can-i", *args)
    assert done.stdout.split(" ")[0].strip() == answer, done.stderr
    assert done.returncode == (0 if answer == "yes" else 1)
    # The admin context may do all of it.
    assert kubectl.ok("auth", "can-i", *args) == "yes\n"


@pytest.mark.kubectl
def test_viewer_reads_pods_and_logs(kubectl: Kubectl, namespace: str, web: str):
    listed = kubectl.ok("--context", VIEWER, "get", "pods", "-n", namespace, "-o", "name")
    assert listed == "pod/web\n"
    kubectl.ok("--context", VIEWER, "logs", web, "-n", namespace)
    kubectl.ok("--context", VIEWER, "get", "events", "-n", namespace)


@pytest.mark.kubectl
def test_viewer_cannot_exec(kubectl: Kubectl, core: client.CoreV1Api, namespace: str, web: str):
    done = kubectl("--context", VIEWER, "exec", web, "-n", namespace, "--", "touch", "/tmp/was-here")
    assert done.returncode == 1
    assert (
        f'pods "web" is forbidden: {USER} create resource "pods/exec" in API group "" in the namespace "{namespace}"'
        in done.stderr
    )
    # Refused before anything ran: the admin finds no trace of the command.
    assert kubectl("exec", web, "-n", namespace, "--", "test", "-e", "/tmp/was-here").returncode == 1


@pytest.mark.kubectl
def test_viewer_cannot_delete(kubectl: Kubectl, core: client.CoreV1Api, namespace: str, web: str):
    done = kubectl("--context", VIEWER, "delete", "pod", web, "-n", namespace)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f'Error from server (Forbidden): pods "web" is forbidden: {USER} delete resource "pods" in API group "" '
        f'in the namespace "{namespace}"'
    )
    assert core.read_namespaced_pod(web, namespace).metadata.deletion_timestamp is None


@pytest.mark.kubectl
def test_api_resources_lists_the_access_review(kubectl: Kubectl):
    out = kubectl.ok("api-resources", "--api-group=authorization.k8s.io", "--no-headers")
    assert out.split() == ["selfsubjectaccessreviews", "authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"]


# --- refusals through plain HTTPS ---------------------------------------------------------------------------------

# Nothing here exists, which shows that authorization comes before any lookup (the admin would get a 404).
REFUSALS = [
    (
        "DELETE",
        "/api/v1/namespaces/default/pods/web",
        {},
        f'pods "web" is forbidden: {USER} delete resource "pods" in API group "" in the namespace "default"',
        {"name": "web", "kind": "pods"},
    ),
    (
        "PATCH",
        "/api/v1/namespaces/default/pods/web",
        {},
        f'pods "web" is forbidden: {USER} patch resource "pods" in API group "" in the namespace "default"',
        {"name": "web", "kind": "pods"},
    ),
    (
        "PUT",
        "/api/v1/namespaces/default/pods/web/status",
        {},
        f'pods "web" is forbidden: {USER} update resource "pods/status" in API group "" in the namespace "default"',
        {"name": "web", "kind": "pods"},
    ),
    (
        "POST",
        "/api/v1/namespaces/default/configmaps",
        {},
        f'configmaps is forbidden: {USER} create resource "configmaps" in API group "" in the namespace "default"',
        {"kind": "configmaps"},
    ),
    (
        "DELETE",
        "/api/v1/namespaces/default/configmaps",
        {},
        f'configmaps is forbidden: {USER} deletecollection resource "configmaps" in API group "" '
        'in the namespace "default"',
        {"kind": "configmaps"},
    ),
    (
        "POST",
        "/api/v1/namespaces",
        {},
        f'namespaces is forbidden: {USER} create resource "namespaces" in API group "" at the cluster scope',
        {"kind": "namespaces"},
    ),
    (
        "DELETE",
        "/api/v1/nodes/sandbox",
        {},
        f'nodes "sandbox" is forbidden: {USER} delete resource "nodes" in API group "" at the cluster scope',
        {"name": "sandbox", "kind": "nodes"},
    ),
    (
        "DELETE",
        "/api/v1/namespaces/no-such-namespace",
        {},
        f'namespaces "no-such-namespace" is forbidden: {USER} delete resource "namespaces" in API group "" '
        'in the namespace "no-such-namespace"',
        {"name": "no-such-namespace", "kind": "namespaces"},
    ),
    (
        "PUT",
        "/api/v1/namespaces/no-such-namespace/finalize",
        {},
        f'namespaces "no-such-namespace" is forbidden: {USER} update resource "namespaces/finalize" in API group "" '
        'in the namespace "no-such-namespace"',
        {"name": "no-such-namespace", "kind": "namespaces"},
    ),
    (
        "DELETE",
        "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web",
        {},
        f'pods.metrics.k8s.io "web" is forbidden: {USER} delete resource "pods" in API group "metrics.k8s.io" '
        'in the namespace "default"',
        {"name": "web", "group": "metrics.k8s.io", "kind": "pods"},
    ),
    (
        "GET",
        "/api/v1/namespaces/default/pods/nope/exec?command=true&stdout=true",
        WEBSOCKET,
        f'pods "nope" is forbidden: {USER} create resource "pods/exec" in API group "" in the namespace "default"',
        {"name": "nope", "kind": "pods"},
    ),
    (
        "POST",
        "/api/v1/namespaces/default/pods/nope/exec?command=true&stdout=true",
        SPDY,
        f'pods "nope" is forbidden: {USER} create resource "pods/exec" in API group "" in the namespace "default"',
        {"name": "nope", "kind": "pods"},
    ),
    (
        "GET",
        "/api/v1/namespaces/default/pods/nope/attach?stdout=true",
        WEBSOCKET,
        f'pods "nope" is forbidden: {USER} create resource "pods/attach" in API group "" in the namespace "default"',
        {"name": "nope", "kind": "pods"},
    ),
    (
        "GET",
        "/api/v1/namespaces/default/pods/nope/portforward?ports=80",
        {**WEBSOCKET, "Sec-WebSocket-Protocol": "SPDY/3.1+portforward.k8s.io"},
        f'pods "nope" is forbidden: {USER} create resource "pods/portforward" in API group "" '
        'in the namespace "default"',
        {"name": "nope", "kind": "pods"},
    ),
    (
        "POST",
        "/api/v1/namespaces/default/pods/nope/portforward",
        SPDY,
        f'pods "nope" is forbidden: {USER} create resource "pods/portforward" in API group "" '
        'in the namespace "default"',
        {"name": "nope", "kind": "pods"},
    ),
    ("POST", "/version", {}, f'forbidden: {USER} post path "/version"', {}),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "message", "details"),
    REFUSALS,
    ids=[f"{r[0]} {r[1].split('?')[0]}{' upgrade' if r[2] else ''}" for r in REFUSALS],
)
def test_viewer_refusals_read_like_the_apiserver(
    as_viewer: requests.Session,
    sandbox: SandboxProcess,
    method: str,
    path: str,
    headers: dict[str, str],
    message: str,
    details: dict[str, str],
):
    answer = as_viewer.request(method, sandbox.url + path, headers=headers, json={} if method != "GET" else None)
    assert answer.status_code == 403
    assert "Upgrade" not in answer.headers
    assert answer.json() == forbidden(message, **details)


def test_the_admin_is_not_refused(as_admin: requests.Session, sandbox: SandboxProcess):
    # The same exec as above goes past authorization to the lookup of the pod.
    path = "/api/v1/namespaces/default/pods/nope/exec?command=true&stdout=true"
    answer = as_admin.get(sandbox.url + path, headers=WEBSOCKET)
    assert (answer.status_code, answer.json()["message"]) == (404, 'pods "nope" not found')


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/apis",
        "/api/v1",
        "/version",
        "/api/v1/namespaces",
        "/api/v1/namespaces/default",
        "/api/v1/namespaces/default/pods",
        "/api/v1/pods",
        "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1",
        "/api/v1/nodes/sandbox",
    ],
)
def test_viewer_may_read(as_viewer: requests.Session, sandbox: SandboxProcess, path: str):
    answer = as_viewer.get(sandbox.url + path)
    assert answer.status_code == 200, answer.text


def test_python_client_reads_as_viewer(viewer_core: client.CoreV1Api, namespace: str, web: str):
    assert [p.metadata.name for p in viewer_core.list_namespaced_pod(namespace).items] == [web]
    with pytest.raises(ApiException) as caught:
        viewer_core.delete_namespaced_pod(web, namespace)
    assert caught.value.status == 403


# --- SelfSubjectAccessReview --------------------------------------------------------------------------------------

CASES = [
    ({"verb": "create", "resource": "pods", "subresource": "exec", "namespace": "default"}, True, False),
    ({"verb": "create", "resource": "pods", "subresource": "portforward", "namespace": "x"}, True, False),
    ({"verb": "get", "resource": "pods", "subresource": "exec", "namespace": "x"}, True, False),
    ({"verb": "get", "resource": "pods", "namespace": "default"}, True, True),
    ({"verb": "list", "resource": "pods"}, True, True),
    ({"verb": "watch", "resource": "events", "namespace": "default"}, True, True),
    ({"verb": "get", "resource": "pods", "subresource": "log", "namespace": "x", "name": "web"}, True, True),
    ({"verb": "delete", "resource": "pods", "namespace": "default", "name": "web"}, True, False),
    ({"verb": "*", "resource": "pods"}, True, False),
    ({"verb": "create", "group": "authorization.k8s.io", "resource": "selfsubjectaccessreviews"}, True, True),
    ({"verb": "get", "path": "/healthz"}, True, True),
    ({"verb": "post", "path": "/healthz"}, True, False),
]


@pytest.mark.parametrize(("attributes", "admin", "viewer"), CASES)
def test_access_review_answers_for_the_caller(
    as_admin: requests.Session,
    as_viewer: requests.Session,
    sandbox: SandboxProcess,
    attributes: dict[str, str],
    admin: bool,
    viewer: bool,
):
    for http, allowed in ((as_admin, admin), (as_viewer, viewer)):
        answer = http.post(sandbox.url + REVIEWS, json=review(**attributes))
        assert answer.status_code == 201, answer.text
        body = answer.json()
        assert body["kind"] == "SelfSubjectAccessReview"
        assert body["spec"] == review(**attributes)["spec"]
        expected = {"allowed": True} if allowed else {"allowed": False, "reason": "no RBAC policy matched"}
        assert body["status"] == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"spec": {}},
            'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: null: '
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ),
        (
            {"spec": {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"verb": "get"}}},
            'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.nonResourceAttributes: Invalid value: '
            '{"verb":"get"}: cannot be specified in combination with resourceAttributes',
        ),
    ],
)
def test_access_review_without_one_kind_of_attributes_is_invalid(
    as_viewer: requests.Session, sandbox: SandboxProcess, body: dict[str, Any], message: str
):
    answer = as_viewer.post(sandbox.url + REVIEWS, json=body)
    assert answer.status_code == 422
    assert answer.json()["message"] == message


def test_access_review_is_not_stored(as_admin: requests.Session, sandbox: SandboxProcess):
    answer = as_admin.get(sandbox.url + REVIEWS)
    assert answer.status_code == 405
    assert answer.json()["reason"] == "MethodNotAllowed"


def test_access_review_is_in_discovery(as_viewer: requests.Session, sandbox: SandboxProcess):
    groups = {g["name"]: g for g in as_viewer.get(sandbox.url + "/apis").json()["groups"]}
    assert groups["authorization.k8s.io"]["preferredVersion"]["groupVersion"] == "authorization.k8s.io/v1"
    listed = as_viewer.get(sandbox.url + "/apis/authorization.k8s.io/v1").json()["resources"]
    assert listed == [
        {
            "name": "selfsubjectaccessreviews",
            "singularName": "selfsubjectaccessreview",
            "namespaced": False,
            "kind": "SelfSubjectAccessReview",
            "verbs": ["create"],
        }
    ]
    aggregated = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    items = as_viewer.get(sandbox.url + "/apis", headers={"Accept": aggregated}).json()["items"]
    group = next(i for i in items if i["metadata"]["name"] == "authorization.k8s.io")
    (version,) = group["versions"]
    assert version["version"] == "v1"
    assert [(r["resource"], r["verbs"]) for r in version["resources"]] == [("selfsubjectaccessreviews", ["create"])]


def test_tokens_are_kept_across_restarts(tmp_path: Path):
    cluster = SandboxProcess(tmp_path / "state")
    cluster.start()
    try:
        first = viewer_token(cluster)
    finally:
        cluster.stop()
    cluster.start()
    try:
        assert viewer_token(cluster) == first
        with session(cluster, first) as http:
            assert http.get(cluster.url + "/api/v1/namespaces").status_code == 200
            assert http.post(cluster.url + "/api/v1/namespaces", json={"metadata": {"name": "x"}}).status_code == 403
    finally:
        cluster.stop()
