"""Unit tests of diagram.layout: content, pattern badges and geometry invariants over many pod shapes."""

from __future__ import annotations

import copy
import itertools
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.template.loader import render_to_string

from dashboard.diagram import layout
from dashboard.diagram.boxes import BOX_TEXT_PAD
from dashboard.diagram.model import image_name
from dashboard.diagram.shapes import CHAR_WIDTH, Edge, PodDiagram, Rect

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def example(name: str) -> dict[str, Any]:
    """Load the Pod document from one tutorial example file."""
    docs = yaml.safe_load_all((EXAMPLES / f"{name}.yaml").read_text())
    return next(d for d in docs if d and d.get("kind") == "Pod")


def running(name: str, ready: bool = True, restarts: int = 0) -> dict[str, Any]:
    """A container status in the running state."""
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}}}


def status(name: str, state: str, **fields: Any) -> dict[str, Any]:
    """A container status in the waiting or terminated state."""
    return {"name": name, "ready": False, "restartCount": 0, "state": {state: fields}}


def big_pod(n_containers: int, n_volumes: int) -> dict[str, Any]:
    """A pod where every container mounts two volumes (one shared by all) and exposes a port."""
    containers = [
        {
            "name": f"container-{i}-with-a-fairly-long-name-that-needs-shortening",
            "image": f"registry.example.com/some/deep/path/image-{i}:1.2.3-with-a-long-tag",
            "command": ["python", "-m", "service", "--flag", "x" * 80],
            "ports": [{"containerPort": 8000 + i, "name": "http"}, {"containerPort": 9000 + i, "protocol": "UDP"}],
            "volumeMounts": [
                {"name": f"vol-{i % n_volumes}", "mountPath": f"/data/{i}/" + "deep/" * 12, "readOnly": i % 2 == 0},
                {"name": "vol-0", "mountPath": "/shared", "subPath": f"c{i}"},
            ],
        }
        for i in range(n_containers)
    ]
    volumes = [{"name": f"vol-{i}", "emptyDir": {}} for i in range(n_volumes)]
    return {"metadata": {"name": "big-" * 30}, "spec": {"containers": containers, "volumes": volumes}}


def container(name: str, *mounts: tuple[str, str], **fields: Any) -> dict[str, Any]:
    """A container spec mounting each (volume, mountPath) pair."""
    return {
        "name": name,
        "image": "busybox",
        "volumeMounts": [{"name": v, "mountPath": p} for v, p in mounts],
        **fields,
    }


def pod_with(containers: list[dict[str, Any]], volumes: list[str], **spec: Any) -> dict[str, Any]:
    """A pod with these containers and one emptyDir per volume name."""
    vols = [{"name": v, "emptyDir": {}} for v in volumes]
    return {"metadata": {"name": "shape"}, "spec": {"containers": containers, "volumes": vols, **spec}}


def dense_pod(n_containers: int, n_volumes: int, per_container: int) -> dict[str, Any]:
    """A pod where container i mounts per_container volumes spread over the whole list, read-only every third."""
    containers = [
        container(
            f"c{i}",
            *[(f"vol-{(i * 7 + j * 3) % n_volumes}", f"/mnt/{j}/" + "x" * (i * 3 % 40)) for j in range(per_container)],
        )
        for i in range(n_containers)
    ]
    for i, c in enumerate(containers):
        for j, m in enumerate(c["volumeMounts"]):
            m["readOnly"] = (i + j) % 3 == 0
    return pod_with(containers, [f"vol-{i}" for i in range(n_volumes)])


def random_pod(seed: int) -> dict[str, Any]:
    """A pod of arbitrary shape, the same for the same seed: every kind of container, shared volumes, long paths."""
    rnd = random.Random(seed)
    volumes = [f"vol-{i}" + "x" * rnd.randint(0, 30) for i in range(rnd.randint(1, 20))]

    def one(name: str, **fields: Any) -> dict[str, Any]:
        mounts = [
            (rnd.choice(volumes), "/" + "/".join("d" * rnd.randint(1, 12) for _ in range(rnd.randint(1, 6))))
            for _ in range(rnd.choice([0, 1, 2, 3, 5, 8, 13]))
        ]
        c = container(name + "-" + "n" * rnd.randint(0, 30), *mounts, **fields)
        for m in c["volumeMounts"]:
            m["readOnly"] = rnd.random() < 0.3
        return c

    return pod_with(
        [one(f"app{i}", ports=[{"containerPort": 8000 + i}]) for i in range(rnd.randint(1, 8))],
        volumes,
        initContainers=[one(f"init{i}") for i in range(rnd.randint(0, 3))],
        ephemeralContainers=[one(f"debug{i}") for i in range(rnd.randint(0, 2))],
    )


SIX_MOUNTS = [(f"v{i}", f"/srv/{'data' * i}/{i}") for i in range(6)]
SHAPES = {
    "one container": {"metadata": {"name": "solo"}, "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
    "12 containers 20 volumes": big_pod(12, 20),
    "5 containers 3 volumes": big_pod(5, 3),
    "tutorial multi-container-pod": example("multi-container-pod"),
    "tutorial web-with-proxy": example("web-with-proxy"),
    "tutorial multicontainer-pod": example("multicontainer-pod"),
    "one container mounting 6 volumes": pod_with([container("app", *SIX_MOUNTS)], [v for v, _ in SIX_MOUNTS]),
    "6 containers all mounting one volume": pod_with(
        [container(f"worker-{i}", ("shared", f"/work/{i}")) for i in range(6)], ["shared"]
    ),
    "init, native sidecar and ephemeral containers with mounts": pod_with(
        [container("app", ("data", "/var/lib/app"), ("cfg", "/etc/app"), ports=[{"containerPort": 8080}])],
        ["data", "cfg", "logs"],
        initContainers=[
            container("migrate", ("data", "/data")),
            container("shipper", ("logs", "/logs"), ("cfg", "/etc/shipper"), restartPolicy="Always"),
        ],
        ephemeralContainers=[container("debugger", ("data", "/debug/data"), ("logs", "/debug/logs"))],
    ),
    "volumes mounted by nobody": pod_with(
        [container("app", ("used", "/used")), container("idle")], ["spare-1", "used", "spare-2", "spare-3", "spare-4"]
    ),
    "12 containers mounting 6 of 20 volumes": dense_pod(12, 20, 6),
    "9 containers mounting 3 of 14 volumes": dense_pod(9, 14, 3),
    "one container with 30 mounts": pod_with(
        [container("app", *[(f"v{i % 3}", f"/m/{i}") for i in range(30)])], ["v0", "v1", "v2"]
    ),
    **{f"random pod {seed}": random_pod(seed) for seed in range(4)},
}


def all_boxes(d: PodDiagram) -> list[tuple[str, Rect]]:
    """Every drawn box that must not overlap another: containers, volumes, network band, badges."""
    boxes = [(f"container {c.name}", c.rect) for c in d.containers]
    boxes += [(f"volume {v.name}", v.rect) for v in d.volumes]
    boxes += [("network", d.network.rect)]
    boxes += [(f"badge {b.pattern}", b.rect) for b in d.badges]
    return boxes


def free_texts(d: PodDiagram) -> list[tuple[str, Rect]]:
    """Texts drawn outside any box: edge labels and pod-level lines."""
    texts = [(f"label {e.label.text}", e.label.bounds) for e in d.edges]
    return texts + [(f"text {t.text}", t.bounds) for t in d.texts]


Segment = tuple[tuple[float, float], tuple[float, float]]


def segments(e: Edge) -> list[Segment]:
    """The straight pieces of one edge."""
    return list(itertools.pairwise(e.points))


def enters(seg: Segment, r: Rect) -> bool:
    """True when the axis-parallel segment reaches the inside of r; running along or ending on its border does not."""
    (x1, y1), (x2, y2) = seg
    return min(x1, x2) < r.right and max(x1, x2) > r.x and min(y1, y2) < r.bottom and max(y1, y2) > r.y


def carries(seg: Segment, label: Rect) -> bool:
    """True when seg is the horizontal line a label sits on: it runs under the label's whole length."""
    (x1, y1), (x2, y2) = seg
    return y1 == y2 and min(x1, x2) <= label.x and max(x1, x2) >= label.right


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_no_edge_crosses_a_mount_label(pod: dict[str, Any]) -> None:
    d = layout(pod)
    crossings = [
        (e.label.full, f.label.full)
        for e in d.edges
        for seg in segments(e)
        for f in d.edges
        if enters(seg, f.label.bounds) and not (f is e and carries(seg, e.label.bounds))
    ]
    assert crossings == []


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_no_edge_crosses_pod_texts(pod: dict[str, Any]) -> None:
    d = layout(pod)
    texts = [*d.texts, *d.network.texts]
    hits = [(e.label.full, t.full) for e in d.edges for seg in segments(e) for t in texts if enters(seg, t.bounds)]
    assert hits == []


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_edges_pass_through_no_box(pod: dict[str, Any]) -> None:
    # Stricter than "no box but its own ends": an edge starts on its container's border and ends on its volume's.
    d = layout(pod)
    hits = [(e.label.full, what) for e in d.edges for seg in segments(e) for what, r in all_boxes(d) if enters(seg, r)]
    assert hits == []


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_mount_labels_clear_each_other_and_every_box(pod: dict[str, Any]) -> None:
    d = layout(pod)
    labels = [(e.label.full, e.label.bounds) for e in d.edges]
    others = all_boxes(d) + [(t.full, t.bounds) for t in [*d.texts, *d.network.texts]]
    others += [(p.label.full, p.rect) for p in d.network.ports]
    assert [(a, b) for (a, ra), (b, rb) in itertools.combinations(labels, 2) if ra.overlaps(rb)] == []
    assert [(a, b) for a, ra in labels for b, rb in others if ra.overlaps(rb)] == []
    assert all(d.pod_rect.contains(r) for _, r in labels)


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_parallel_edges_keep_apart(pod: dict[str, Any]) -> None:
    d = layout(pod)
    # Each straight piece as (edge, horizontal?, the coordinate it keeps, the extent it covers).
    runs = []
    for e in d.edges:
        for (x1, y1), (x2, y2) in segments(e):
            flat = y1 == y2
            runs.append((e.label.full, flat, y1 if flat else x1, sorted((x1, x2) if flat else (y1, y2))))
    close = [
        (e, f)
        for (e, flat, at, (lo, hi)), (f, flat2, at2, (lo2, hi2)) in itertools.combinations(runs, 2)
        if e != f and flat == flat2 and abs(at - at2) < 6 and min(hi, hi2) > max(lo, lo2)
    ]
    assert close == []


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_arrows_into_a_volume_stay_apart(pod: dict[str, Any]) -> None:
    d = layout(pod)
    for v in d.volumes:
        ends = sorted(e.points[-1][0] for e in d.edges if e.volume == v.name)
        # 12px is the width of an arrowhead as the template draws it.
        assert all(b - a >= 12 for a, b in itertools.pairwise(ends)), v.name
        assert all(e.points[-2][1] < e.points[-1][1] for e in d.edges if e.volume == v.name), "arrows point down"


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_no_boxes_or_labels_overlap(pod: dict[str, Any]) -> None:
    d = layout(pod)
    items = all_boxes(d) + free_texts(d)
    clashes = [(a, b) for (a, ra), (b, rb) in itertools.combinations(items, 2) if ra.overlaps(rb)]
    assert clashes == []


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_everything_inside_the_pod_and_the_view_box(pod: dict[str, Any]) -> None:
    d = layout(pod)
    view = Rect(0, 0, d.width, d.height)
    for what, r in [*all_boxes(d), *free_texts(d)]:
        assert d.pod_rect.contains(r), what
    assert d.pod_rect.right <= view.right
    assert d.pod_rect.bottom <= view.bottom
    for e in d.edges:
        assert all(0 <= x <= d.width and 0 <= y <= d.height for x, y in e.points)


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_text_fits_its_box(pod: dict[str, Any]) -> None:
    d = layout(pod)
    owned = [(c.rect, c.texts) for c in d.containers] + [(v.rect, v.texts) for v in d.volumes]
    owned += [(d.network.rect, d.network.texts)] + [(p.rect, (p.label,)) for p in d.network.ports]
    owned += [(b.rect, (b.label,)) for b in d.badges]
    for rect, texts in owned:
        for t in texts:
            assert rect.contains(t.bounds), t.full
    for box in [*d.containers, *d.volumes]:
        for t in box.texts:
            assert len(t.text) * t.size * CHAR_WIDTH <= box.rect.w - 2 * BOX_TEXT_PAD
            assert t.text == t.full or (t.text.endswith("…") and t.full.startswith(t.text[:-1]))
    assert min(t.size for c in d.containers for t in c.texts if t.cls == "name") >= 16


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_every_mount_port_and_volume_appears(pod: dict[str, Any]) -> None:
    d = layout(pod)
    spec = pod["spec"]
    every = [c for key in ("initContainers", "containers", "ephemeralContainers") for c in spec.get(key) or []]
    mounts = [(c["name"], m["name"], m["mountPath"]) for c in every for m in c.get("volumeMounts") or []]
    assert sorted((e.container, e.volume, e.mount_path) for e in d.edges) == sorted(mounts)
    ports = [(c["name"], p["containerPort"]) for c in every for p in c.get("ports") or []]
    assert [(p.container, p.port) for p in d.network.ports] == ports
    assert [v.name for v in d.volumes] == [v["name"] for v in spec.get("volumes") or []]
    for e in d.edges:
        start, end = e.points[0], e.points[-1]
        box = next(c.rect for c in d.containers if c.name == e.container)
        vol = next(v.rect for v in d.volumes if v.name == e.volume)
        assert start[1] == box.bottom
        assert box.x < start[0] < box.right
        assert end[1] == vol.y
        assert vol.x < end[0] < vol.right
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in itertools.pairwise(e.points)), "edges are orthogonal"


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_layout_is_deterministic(pod: dict[str, Any]) -> None:
    assert layout(pod) == layout(copy.deepcopy(pod))


@pytest.mark.parametrize(
    "pod",
    [big_pod(12, 20), dense_pod(12, 20, 6)],
    ids=["12 containers 20 volumes", "12 containers mounting 6 of 20 volumes"],
)
def test_big_pods_suit_a_wide_screen_at_full_text_size(pod: dict[str, Any]) -> None:
    d = layout(pod)
    assert d.width / d.height >= 1.25
    assert len({c.rect.x for c in d.containers}) >= 6, "containers spread over more columns"
    texts = [t for c in d.containers for t in c.texts] + [t for v in d.volumes for t in v.texts]
    texts += [*d.texts, *d.network.texts, *(e.label for e in d.edges), *(p.label for p in d.network.ports)]
    assert min(t.size for t in texts) >= 15
    assert min(t.size for c in d.containers for t in c.texts if t.cls == "name") >= 18


@pytest.mark.parametrize("name", ["multi-container-pod", "web-with-proxy", "multicontainer-pod"])
def test_tutorial_pods_put_their_containers_side_by_side(name: str) -> None:
    d = layout(example(name))
    assert len({c.rect.y for c in d.containers}) == 1


def test_containers_ordered_init_sidecar_regular_ephemeral() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [
                {"name": "migrate", "image": "flyway"},
                {"name": "shipper", "image": "fluent-bit", "restartPolicy": "Always"},
                {"name": "warm", "image": "busybox"},
            ],
            "containers": [{"name": "app", "image": "app"}, {"name": "helper", "image": "busybox"}],
            "ephemeralContainers": [{"name": "debugger", "image": "busybox"}],
        },
        "status": {
            "initContainerStatuses": [
                status("migrate", "terminated", exitCode=0, reason="Completed"),
                running("shipper"),
                running("warm", ready=False),
            ],
        },
    }
    d = layout(pod)
    assert [(c.name, c.kind, c.order) for c in d.containers] == [
        ("migrate", "init", 1),
        ("shipper", "sidecar", 2),
        ("warm", "init", 3),
        ("app", "container", None),
        ("helper", "container", None),
        ("debugger", "ephemeral", None),
    ]
    kinds = {c.name: c.texts[1].text for c in d.containers}
    assert kinds["migrate"] == "init 1 · done"
    assert kinds["warm"] == "init 3 · running"
    assert {c.name: c.status for c in d.containers}["migrate"] == "done"
    badges = {b.pattern: b for b in d.badges}
    assert badges["init"].containers == ("migrate", "warm")
    assert badges["sidecar"].containers == ("shipper",)
    assert "restartPolicy Always" in badges["sidecar"].reason


@pytest.mark.parametrize(
    ("container_status", "expected_class", "expected_state"),
    [
        (running("c"), "ok", "running"),
        (running("c", ready=False), "warn", "running"),
        (status("c", "waiting", reason="ContainerCreating"), "warn", "waiting: ContainerCreating"),
        (status("c", "waiting", reason="CrashLoopBackOff"), "error", "waiting: CrashLoopBackOff"),
        (status("c", "waiting", reason="ImagePullBackOff"), "error", "waiting: ImagePullBackOff"),
        # The same colour as the container card gives the reason.
        (status("c", "waiting", reason="ErrImageNeverPull"), "error", "waiting: ErrImageNeverPull"),
        (status("c", "waiting", reason="PreStartHookError"), "error", "waiting: PreStartHookError"),
        (status("c", "waiting"), "warn", "waiting: pending"),
        (status("c", "terminated", exitCode=0, reason="Completed"), "done", "terminated: exit 0 (Completed)"),
        (status("c", "terminated", exitCode=137, reason="OOMKilled"), "error", "terminated: exit 137 (OOMKilled)"),
        (None, "unknown", "no status yet"),
    ],
)
def test_state_maps_to_status_class(
    container_status: dict[str, Any] | None, expected_class: str, expected_state: str
) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    if container_status:
        pod["status"] = {"phase": "Running", "containerStatuses": [container_status]}
    (c,) = layout(pod).containers
    assert (c.status, c.state) == (expected_class, expected_state)
    assert c.texts[4].text == expected_state


def test_restarts_ready_and_command_are_shown() -> None:
    pod = example("multi-container-pod")
    pod["status"] = {"containerStatuses": [running("log-collector", restarts=3), running("nginx-container")]}
    d = layout(pod)
    collector = d.containers[1]
    assert (collector.ready, collector.restart_count) == (True, 3)
    assert collector.texts[5].text == "ready · restarts 3"
    assert collector.command.startswith("sh -c while true; do echo")
    assert collector.texts[3].text.endswith("…")
    assert d.containers[0].command == "(image default command)"


def test_shared_volume_is_one_box_with_several_edges() -> None:
    d = layout(example("multi-container-pod"))
    assert [v.name for v in d.volumes] == ["shared-logs", "collector-logs"]
    shared = [e for e in d.edges if e.volume == "shared-logs"]
    assert sorted(e.container for e in shared) == ["log-collector", "nginx-container"]
    assert len({e.points[-1] for e in shared}) == 2, "each edge arrives at its own point"


def test_mount_labels_mark_read_only_and_sub_path() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "app",
                    "volumeMounts": [
                        {"name": "cfg", "mountPath": "/etc/app", "readOnly": True},
                        {"name": "data", "mountPath": "/var/data", "subPath": "app"},
                    ],
                }
            ],
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}, {"name": "data", "emptyDir": {}}],
        },
    }
    labels = {e.volume: (e.label.text, e.read_only, e.sub_path) for e in layout(pod).edges}
    assert labels == {"cfg": ("/etc/app (ro)", True, ""), "data": ("/var/data subPath app", False, "app")}


def test_long_mount_path_keeps_its_ends_and_marks() -> None:
    path = "/var/run/secrets/kubernetes.io/serviceaccount/with/a/much/longer/tail"
    mounts = [("data", f"/data/{i}") for i in range(5)]
    pod = pod_with([container("app", *mounts, ("token", path))], ["data", "token"])
    pod["spec"]["containers"][0]["volumeMounts"][-1].update(readOnly=True, subPath="token")
    label = next(e.label for e in layout(pod).edges if e.volume == "token")
    shown, marks = label.text.split(" (ro)")
    head, tail = shown.split("…")
    assert path.startswith(head)
    assert path.endswith(tail)
    assert len(head) >= 6
    assert len(tail) >= 6
    assert "subPath token".startswith(marks.removeprefix(" ").removesuffix("…"))
    assert label.full == f"app mounts token at {path} read-only (subPath token)"


def test_mount_of_a_missing_volume_gets_no_edge() -> None:
    pod = pod_with([container("app", ("gone", "/gone"), ("here", "/here"))], ["here"])
    assert [(e.volume, e.mount_path) for e in layout(pod).edges] == [("here", "/here")]


def test_network_band_lists_ip_hostname_and_ports() -> None:
    pod = example("web-with-proxy")
    d = layout(pod)
    assert (d.network.ip, d.network.hostname) == ("no IP yet", "web-with-proxy")
    assert [p.label.text for p in d.network.ports] == [
        "80/TCP → web-app",
        "3306/TCP → db-proxy",
        "9100/TCP → monitoring",
    ]
    assert any("localhost" in t.text for t in d.network.texts)
    pod["spec"]["hostname"] = "web"
    pod["status"] = {"podIP": "10.244.0.7"}
    pod["spec"]["containers"][0]["ports"][0].update(name="http", protocol="TCP")
    d = layout(pod)
    assert (d.network.ip, d.network.hostname) == ("10.244.0.7", "web")
    assert d.network.ports[0].label.text == "80/TCP http → web-app"


@pytest.mark.parametrize(
    ("volume", "expected"),
    [
        ({"emptyDir": {}}, ("emptyDir", "on the node's disk")),
        ({"emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}, ("emptyDir", "in memory (tmpfs), limit 64Mi")),
        ({"configMap": {"name": "cfg"}}, ("configMap", "cfg")),
        ({"secret": {"secretName": "tls"}}, ("secret", "tls")),
        ({"persistentVolumeClaim": {"claimName": "data"}}, ("PVC", "claim data")),
        ({"hostPath": {"path": "/var/log", "type": "Directory"}}, ("hostPath", "/var/log (Directory)")),
        ({"downwardAPI": {"items": [{"path": "labels"}]}}, ("downwardAPI", "labels")),
        ({"csi": {"driver": "secrets-store.csi.k8s.io"}}, ("csi", "driver secrets-store.csi.k8s.io")),
        ({"nfs": {"server": "nas", "path": "/export"}}, ("nfs", "nas:/export")),
        (
            {"ephemeral": {"volumeClaimTemplate": {"spec": {"resources": {"requests": {"storage": "1Gi"}}}}}},
            ("ephemeral", "claim per pod 1Gi"),
        ),
        ({"iscsi": {"targetPortal": "x"}}, ("iscsi", "")),
    ],
)
def test_volume_type_and_source(volume: dict[str, Any], expected: tuple[str, str]) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [], "volumes": [{"name": "v", **volume}]}}
    (v,) = layout(pod).volumes
    assert (v.type, v.source) == expected
    assert not v.system


def test_service_account_volume_is_kept_as_system() -> None:
    projected = {
        "sources": [
            {"serviceAccountToken": {"path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt"}},
            {"downwardAPI": {"items": []}},
        ]
    }
    pod = example("multicontainer-pod")
    pod["spec"]["volumes"].append({"name": "kube-api-access-abcde", "projected": projected})
    for c in pod["spec"]["containers"]:
        c["volumeMounts"].append({"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets", "readOnly": True})
    d = layout(pod)
    system = d.volumes[-1]
    assert system.system
    assert system.source == "serviceAccountToken, configMap kube-root-ca.crt, downwardAPI"
    assert [b.containers for b in d.badges if b.pattern == "sidecar"] == [("producer",)], "system volume is no link"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "multi-container-pod",
            {"sidecar": (("log-collector",), "log-collector shares volume shared-logs with the main container")},
        ),
        (
            "multicontainer-pod",
            {"sidecar": (("producer",), "producer shares volume webcontent with the main container")},
        ),
        (
            "web-with-proxy",
            {
                "ambassador": (("db-proxy",), "db-proxy runs haproxy, a proxy, on 3306/TCP"),
                "adapter": (("monitoring",), "monitoring runs node-exporter, an exporter, on 9100/TCP"),
            },
        ),
    ],
)
def test_tutorial_pods_get_their_pattern_badges(name: str, expected: dict[str, tuple[tuple[str, ...], str]]) -> None:
    d = layout(example(name))
    assert {b.pattern for b in d.badges} == set(expected)
    for b in d.badges:
        containers, reason = expected[b.pattern]
        assert b.containers == containers
        assert b.reason.startswith(reason)
        assert any(t.full == f"{b.pattern}: {b.reason}" for t in d.texts)


def test_proxy_alone_is_not_an_ambassador() -> None:
    pod = {"spec": {"containers": [{"name": "lb", "image": "haproxy:2.9", "ports": [{"containerPort": 80}]}]}}
    assert layout(pod).badges == ()


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("nginx", "nginx"),
        ("prom/node-exporter:latest", "node-exporter"),
        ("docker.io/envoyproxy/envoy:v1.30@sha256:abc", "envoy"),
        ("localhost:5000/team/HAProxy", "haproxy"),
    ],
)
def test_image_name(image: str, expected: str) -> None:
    assert image_name(image) == expected


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_template_renders_valid_svg_with_every_container(pod: dict[str, Any]) -> None:
    d = layout(pod)
    html = render_to_string("dashboard/_pod_diagram.html", {"diagram": d})
    root = ET.fromstring(html)
    assert root.tag == "div"
    assert root.get("id") == "pod-diagram"
    ns = "{http://www.w3.org/2000/svg}"
    svg = root.find(f"{ns}svg")
    assert svg is not None
    assert svg.get("viewBox") == d.view_box
    groups = {g.get("data-container") for g in svg.iter(f"{ns}g") if "container" in (g.get("class") or "").split()}
    assert groups == {c.name for c in d.containers}
    assert {g.get("data-volume") for g in svg.iter(f"{ns}g") if g.get("data-volume")} == {v.name for v in d.volumes}
    titles = " ".join(t.text or "" for t in svg.iter(f"{ns}title"))
    for c in d.containers:
        assert c.name in titles


@pytest.mark.parametrize("pod", SHAPES.values(), ids=SHAPES.keys())
def test_port_chips_stay_apart_inside_the_band(pod: dict[str, Any]) -> None:
    d = layout(pod)
    chips = [p.rect for p in d.network.ports]
    assert all(d.network.rect.contains(c) for c in chips)
    assert not any(a.overlaps(b) for a, b in itertools.combinations(chips, 2))


def test_host_network_pods_say_they_use_the_node_network() -> None:
    pod = {
        "metadata": {"name": "agent"},
        "spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": "192.168.1.5"},
    }
    texts = [t.full for t in layout(pod).network.texts]
    assert any("node's own IP" in t for t in texts)
    assert not any("reach each other on localhost" in t for t in texts)


def test_a_manifest_without_status_is_not_called_unknown() -> None:
    pod = {"metadata": {"name": "draft"}, "spec": {"containers": [{"name": "a", "image": "busybox"}]}}
    assert layout(pod).phase == "not created yet"
