"""Parsing pasted manifests, finding the pod each object describes, and printing objects as YAML."""

from __future__ import annotations

import json
import textwrap
import time

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
        "document 2: line 15: mapping values are not allowed in this context",
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


YAML_ERRORS = [
    ("mapping in a value", "kind: Pod: x\n", "document 1: line 1: mapping values are not allowed in this context"),
    ("a tab", POD + "---\n\tkind: Pod\n", "document 2: line 11: found character '\\t' that cannot start any token"),
    ("undefined alias", POD + "---\na: 1\nb: *nowhere\n", "document 2: line 12: the alias *nowhere names no anchor"),
    ("recursive alias", "a: &loop [1, *loop]\n", "document 1: line 1: the alias *loop is inside the value it names"),
    ("anchor twice", "a: &x 1\nb: &x 2\n", "document 1: line 2: the anchor &x is defined twice"),
    (
        "unknown tag",
        "---\n---\na: !python/object:os.system x\n",
        "document 2: line 3: could not determine a constructor",
    ),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in YAML_ERRORS], ids=[case[0] for case in YAML_ERRORS])
def test_yaml_errors_name_the_document_line_and_problem(text: str, message: str):
    with pytest.raises(manifests.ManifestError) as caught:
        manifests.parse(text)
    assert str(caught.value).startswith(message)
    assert not isinstance(caught.value, manifests.ManifestRefused)


def test_timestamps_stay_strings():
    doc = manifests.parse(POD.replace("namespace: shop", "annotations: {at: 2024-05-01T10:00:00Z}"))[0]
    assert doc["metadata"]["annotations"]["at"] == "2024-05-01T10:00:00Z"
    json.dumps(doc)


def alias_bomb(levels: int = 9, fan_out: int = 9) -> str:
    """The "billion laughs": each list holds `fan_out` aliases of the one before, fan_out**levels values in all."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: laughs}", "data:"]
    lines.append(f"  a0: &a0 [{', '.join(['lol'] * fan_out)}]")
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def nested(levels: int, flow: bool = False) -> str:
    """A ConfigMap nested `levels` mappings deep: the document, `data`, and its `a`s but the last."""
    keys = levels - 1
    if flow:
        return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "{a: " * keys + "x" + "}" * keys
    body = "".join("  " * depth + "a:\n" for depth in range(1, keys)) + "  " * keys + "a: x\n"
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n" + body


def nested_json(levels: int) -> str:
    keys = levels - 1
    head = '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "data": '
    return head + '{"a": ' * keys + '"x"' + "}" * keys + "}"


def config_map(data: list[str]) -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n" + "".join(f"  {line}\n" for line in data)


BOMBS = [
    ("billion laughs", alias_bomb(), "document 1: line 9: its YAML aliases expand to more than 10,000 values"),
    ("a long chain of doubles", alias_bomb(levels=20_000, fan_out=2), "document 1: line 24: its YAML aliases expand"),
    (
        "merge keys",
        "a: &a {x: 1, y: 1, z: 1, w: 1}\n"
        + "".join(
            f"b{i}: &b{i} {{<<: *{f'b{i - 1}' if i else 'a'}, p: *{f'b{i - 1}' if i else 'a'}}}\n" for i in range(40)
        ),
        "document 1: line 10: its YAML aliases expand to more than 10,000 values",
    ),
    (
        # Each document stays under 10,000 values; together they do not, and no line is to blame.
        "small bombs in several documents",
        "# " + "padding " * 2000 + "\n" + "---\n".join(alias_bomb(levels=4) for _ in range(3)),
        "document 2: its YAML aliases expand to more than 10,000 values",
    ),
]


@pytest.mark.parametrize(("text", "message"), [case[1:] for case in BOMBS], ids=[case[0] for case in BOMBS])
def test_alias_bombs_are_refused_at_once(text: str, message: str):
    started = time.perf_counter()
    with pytest.raises(manifests.ManifestRefused) as caught:
        manifests.parse(text)
    assert time.perf_counter() - started < 0.2
    assert str(caught.value).startswith(message)
    assert str(caught.value).endswith("more than twice as large as they are written")


def test_a_few_anchors_and_aliases_still_parse():
    text = dedent(
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
          labels: &labels {app: web, tier: front}
        spec:
          selector:
            matchLabels: *labels
          template:
            metadata:
              labels: *labels
            spec:
              containers:
              - &container
                name: web
                image: nginx
                env: &env [{name: MODE, value: fast}, {name: AT, value: 2024-05-01T10:00:00Z}]
              - <<: *container
                name: sidecar
                env: *env
        """
    )
    doc = manifests.parse(text)[0]
    labels = {"app": "web", "tier": "front"}
    assert doc["spec"]["selector"]["matchLabels"] == doc["spec"]["template"]["metadata"]["labels"] == labels
    containers = doc["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("web", "nginx"), ("sidecar", "nginx")]
    assert containers[1]["env"][1]["value"] == "2024-05-01T10:00:00Z"
    json.dumps(doc)


def test_aliases_may_add_as_much_as_is_written():
    # About 6,000 values written; one alias of the 4,001-value list makes 10,000 in all, two make 14,000.
    data = ["base: &base [" + ", ".join(["v"] * 4000) + "]"] + [f"k{i}: v" for i in range(1000)]
    doc = manifests.parse(config_map([*data, "copies: [*base]"]))[0]
    assert len(doc["data"]["copies"][0]) == 4000
    with pytest.raises(manifests.ManifestRefused, match=r"^document 1: its YAML aliases expand to more than 12,0"):
        manifests.parse(config_map([*data, "copies: [*base, *base]"]))


DEPTHS = [("YAML block", nested), ("YAML flow", lambda levels: nested(levels, flow=True)), ("JSON", nested_json)]


@pytest.mark.parametrize("make", [case[1] for case in DEPTHS], ids=[case[0] for case in DEPTHS])
def test_nesting_is_read_up_to_the_limit(make):
    doc = manifests.parse(make(manifests.MAX_DEPTH))[0]
    assert doc["data"]["a"]["a"]["a"]


TOO_DEEP = [
    *[(f"{name}, 101", make, 101) for name, make in DEPTHS],
    ("YAML block, 500", nested, 500),
    ("YAML flow, 5,000", DEPTHS[1][1], 5_000),
    ("YAML flow, 200,000", DEPTHS[1][1], 200_000),
    ("JSON, 5,000", nested_json, 5_000),
    ("JSON, 100,000", nested_json, 100_000),
]


@pytest.mark.parametrize(("make", "levels"), [case[1:] for case in TOO_DEEP], ids=[case[0] for case in TOO_DEEP])
def test_deeper_nesting_is_refused(make, levels: int):
    with pytest.raises(manifests.ManifestRefused, match=r"^document 1: (line \d+: )?nested more than 100 levels deep"):
        manifests.parse(make(levels))


def test_at_most_a_thousand_documents():
    one = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    assert len(manifests.parse("---\n".join([one] * 1000))) == 1000
    with pytest.raises(manifests.ManifestRefused, match=r"^the manifest has more than 1,000 documents"):
        manifests.parse("---\n".join([one] * 1001))
    items = "- {apiVersion: v1, kind: Secret, metadata: {name: s}}\n" * 1001
    with pytest.raises(manifests.ManifestRefused, match=r"^document 1: the manifest holds more than 1,000 objects"):
        manifests.parse("apiVersion: v1\nkind: List\nitems:\n" + items)


def test_preview_draws_the_first_pods_and_counts_the_rest():
    text = "---\n".join(POD.replace("name: web", f"name: web-{i}") for i in range(manifests.MAX_DRAWN + 5))
    result = manifests.preview(text)
    assert [p["title"] for p in result["previews"]] == [f"Pod web-{i}" for i in range(manifests.MAX_DRAWN)]
    assert (result["undrawn"], result["error"], result["refused"], len(result["documents"])) == (5, "", False, 25)
    assert manifests.preview(text, keep_documents=False)["documents"] == []


@pytest.mark.parametrize(
    ("text", "refused"), [(alias_bomb(), True), (nested(101), True), ("kind: [Pod\n", False), (LIST, False)]
)
def test_preview_says_whether_it_refused(text: str, refused: bool):
    assert manifests.preview(text)["refused"] is refused


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


@pytest.mark.parametrize("field", ["name", "generateName", "namespace"])
def test_metadata_names_must_be_text(field: str) -> None:
    # A list here once reached the API client, whose argument checks raised past every handler (a 500).
    meta = {"name": "web", field: ["a"]}
    with pytest.raises(manifests.ManifestError, match=f"document 1: metadata.{field} must be text"):
        manifests.parse(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": meta}))
