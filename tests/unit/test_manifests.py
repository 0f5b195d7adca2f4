"""Parsing pasted manifests, finding the pod each object describes, and printing objects as YAML."""

from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from dashboard import diagram, manifests

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
spec:
  containers:
  - name: app
    image: nginx
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: python
      - name: proxy
        image: haproxy
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox
"""

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
- apiVersion: v1
  kind: Service
  metadata: {name: web}
"""


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


GOOD = [
    ("one pod", POD, [("Pod", "web")]),
    ("two documents", POD + "---\n" + DEPLOYMENT, [("Pod", "web"), ("Deployment", "api")]),
    ("empty documents skipped", "---\n" + POD + "---\n---\n# only a comment\n", [("Pod", "web")]),
    ("a List is flattened", LIST, [("ConfigMap", "settings"), ("Service", "web")]),
    (
        "an API list is flattened",
        LIST.replace("kind: List", "kind: ConfigMapList"),
        [("ConfigMap", "settings"), ("Service", "web")],
    ),
    ("generateName is enough", POD.replace("name: web", "generateName: web-"), [("Pod", "")]),
    ("JSON", json.dumps(yaml.safe_load(POD), indent="\t"), [("Pod", "web")]),
    ("nothing at all", "", []),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD])
def test_parse_reads_every_object(text: str, expected: list[tuple[str, str]]):
    assert [(d["kind"], d["metadata"].get("name", "")) for d in manifests.parse(text)] == expected


BAD = [
    (
        "bad YAML",
        POD + "---\n" + "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n  labels: a: b\n",
        "document 2: line 15: mapping values are not allowed here",
    ),
    ("unclosed flow", "apiVersion: v1\nkind: [Pod\n", "document 1: line 3: "),
    (
        "not a mapping",
        "- a\n- b\n",
        "document 1: expected a Kubernetes object (apiVersion, kind, metadata), got a list",
    ),
    (
        "a scalar",
        POD + "---\njust words\n",
        "document 2: expected a Kubernetes object (apiVersion, kind, metadata), got text",
    ),
    ("missing kind", "apiVersion: v1\nmetadata: {name: x}\n", "document 1: kind is missing"),
    ("missing apiVersion", "kind: Pod\nmetadata: {name: x}\n", "document 1: apiVersion is missing"),
    ("missing metadata", "apiVersion: v1\nkind: Pod\n", "document 1: metadata is missing"),
    ("missing name", "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n", "document 1: metadata.name is missing"),
    ("bad List item", LIST.replace("  kind: Service\n", ""), "document 1, item 2: kind is missing"),
    ("List without items", "apiVersion: v1\nkind: List\n", "document 1: a List needs a list of items"),
    ("too large", "# " + "x" * (1024 * 1024) + "\n" + POD, "the manifest is 1.0 MiB; the limit is 1 MiB"),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_parse_explains_what_is_wrong(text: str, message: str):
    with pytest.raises(manifests.ManifestError) as caught:
        manifests.parse(text)
    assert str(caught.value).startswith(message)
    assert "Traceback" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_yaml_errors_name_the_problem():
    with pytest.raises(manifests.ManifestError, match=r"^document 1: line 1: mapping values are not allowed here$"):
        manifests.parse("kind: Pod: x\n")


def test_timestamps_stay_strings():
    doc = manifests.parse(POD.replace("namespace: shop", "annotations: {at: 2024-05-01T10:00:00Z}"))[0]
    assert doc["metadata"]["annotations"]["at"] == "2024-05-01T10:00:00Z"
    json.dumps(doc)


PODS = [
    ("Pod", POD, ("web", "shop", ["app"])),
    ("Deployment", DEPLOYMENT, ("api", "shop", ["api", "proxy"])),
    ("CronJob", CRONJOB, ("nightly", None, ["report"])),
    ("StatefulSet", DEPLOYMENT.replace("kind: Deployment", "kind: StatefulSet"), ("api", "shop", ["api", "proxy"])),
    ("DaemonSet", DEPLOYMENT.replace("kind: Deployment", "kind: DaemonSet"), ("api", "shop", ["api", "proxy"])),
    ("ReplicaSet", DEPLOYMENT.replace("kind: Deployment", "kind: ReplicaSet"), ("api", "shop", ["api", "proxy"])),
    (
        "Job",
        DEPLOYMENT.replace("apps/v1", "batch/v1").replace("kind: Deployment", "kind: Job"),
        ("api", "shop", ["api", "proxy"]),
    ),
    (
        "ReplicationController",
        DEPLOYMENT.replace("apps/v1", "v1").replace("kind: Deployment", "kind: ReplicationController"),
        ("api", "shop", ["api", "proxy"]),
    ),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in PODS], ids=[case[0] for case in PODS])
def test_pod_of_finds_the_pod_template(text: str, expected: tuple[str, str | None, list[str]]):
    pod = manifests.pod_of(manifests.parse(text)[0])
    assert pod is not None
    name, namespace, containers = expected
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["name"] == name
    assert pod["metadata"].get("namespace") == namespace
    assert [c["name"] for c in pod["spec"]["containers"]] == containers
    assert diagram.layout(pod).containers


def test_pod_of_keeps_the_template_labels():
    pod = manifests.pod_of(manifests.parse(DEPLOYMENT)[0])
    assert pod is not None
    assert pod["metadata"]["labels"] == {"app": "api"}


NOT_PODS = [
    ("ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"),
    ("Service", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"),
    ("a CRD reusing a kind", DEPLOYMENT.replace("apps/v1", "example.com/v1")),
    ("no template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n"),
]


@pytest.mark.parametrize("text", [case[1] for case in NOT_PODS], ids=[case[0] for case in NOT_PODS])
def test_pod_of_is_none_for_other_objects(text: str):
    assert manifests.pod_of(manifests.parse(text)[0]) is None


def test_to_yaml_reads_like_kubectl():
    served = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "settings",
            "namespace": "shop",
            "managedFields": [{"manager": "podscope", "operation": "Apply"}],
            "uid": "1234",
        },
        "data": {"nginx.conf": "server {\n  listen 80;\n}\n", "mode": "fast", "z": "last", "a": "first"},
    }
    assert manifests.to_yaml(served) == dedent(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
          namespace: shop
          uid: '1234'
        data:
          nginx.conf: |
            server {
              listen 80;
            }
          mode: fast
          z: last
          a: first
        """
    )
    assert "managedFields" in served["metadata"]


def test_to_yaml_prints_lists_and_shared_values_plainly():
    labels = {"app": "web"}
    obj = {"metadata": {"name": "w", "labels": labels, "annotations": labels}, "spec": {"args": ["a" * 200]}}
    text = manifests.to_yaml(obj)
    assert "&id" not in text
    assert "- " + "a" * 200 + "\n" in text
    assert yaml.safe_load(text) == obj
