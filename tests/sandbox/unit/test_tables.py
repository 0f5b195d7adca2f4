"""Server-side Table output: columns, cells and durations as the API server prints them for kubectl."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from kubernetes.client import models

from sandbox.api.tables import table
from sandbox.errors import ApiError

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
MINUTE, HOUR, DAY, YEAR = 60, 3600, 86400, 365 * 86400


def ago(seconds: float) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- pods -------------------------------------------------------------------------------------------


def container_status(name: str, *, ready: bool = True, restarts: int = 0, **state: dict) -> dict:
    status = {"name": name, "ready": ready, "restartCount": restarts, "started": ready, "image": "nginx"}
    status["state"] = state or {"running": {"startedAt": ago(HOUR)}}
    return status


def crashed(name: str, restarts: int, finished: float) -> dict:
    status = container_status(
        name,
        ready=False,
        restarts=restarts,
        waiting={"reason": "CrashLoopBackOff", "message": "back-off 5m0s"},
    )
    status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(finished)}}
    return status


def make_pod(
    containers: list[str],
    status: dict | None,
    *,
    init: list[dict] | None = None,
    deleted: bool = False,
    gates: list[str] | None = None,
) -> dict:
    metadata = {
        "name": "web",
        "namespace": "default",
        "uid": "1f0c",
        "resourceVersion": "7",
        "creationTimestamp": ago(HOUR),
        "labels": {"app": "web"},
    }
    if deleted:
        metadata["deletionTimestamp"] = ago(10)
    spec: dict = {"containers": [{"name": c, "image": "nginx"} for c in containers]}
    if init:
        spec["initContainers"] = init
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    obj = {"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


RUNNING_2_OF_2 = make_pod(
    ["app", "proxy"],
    {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "podIP": "10.244.0.7",
        "podIPs": [{"ip": "10.244.0.7"}],
        "containerStatuses": [container_status("app"), container_status("proxy")],
    },
)
RUNNING_2_OF_2["spec"]["nodeName"] = "node-1"

SIDECAR = make_pod(
    ["app"],
    {
        "phase": "Running",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "initContainerStatuses": [
            {
                **container_status("migrate", ready=False, terminated={"exitCode": 0, "reason": "Completed"}),
                "started": False,
            },
            {
                **container_status("log-shipper", restarts=2),
                "lastState": {"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": ago(3 * MINUTE)}},
            },
        ],
        "containerStatuses": [container_status("app")],
    },
    init=[
        {"name": "migrate", "image": "busybox"},
        {"name": "log-shipper", "image": "fluent", "restartPolicy": "Always"},
    ],
)

INIT_STARTING_SIDECAR = make_pod(
    ["app"],
    {
        "phase": "Pending",
        "conditions": [{"type": "Initialized", "status": "False"}],
        "initContainerStatuses": [
            {**container_status("log-shipper", ready=False), "started": False},
        ],
        "containerStatuses": [
            container_status("app", ready=False, waiting={"reason": "PodInitializing"}),
        ],
    },
    init=[{"name": "log-shipper", "image": "fluent", "restartPolicy": "Always"}],
)


def init_pod(*init_statuses: dict, main_waiting: str = "PodInitializing") -> dict:
    init = [{"name": s["name"], "image": "busybox"} for s in init_statuses]
    return make_pod(
        ["app"],
        {
            "phase": "Pending",
            "conditions": [{"type": "Initialized", "status": "False"}],
            "initContainerStatuses": list(init_statuses),
            "containerStatuses": [container_status("app", ready=False, waiting={"reason": main_waiting})],
        },
        init=init,
    )


DONE = {"terminated": {"exitCode": 0, "reason": "Completed"}}

POD_CASES = {
    "pending-without-status-from-the-kubelet": (
        make_pod(
            ["app"],
            {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
            },
        ),
        ["web", "0/1", "Pending", "0", "60m"],
    ),
    "no-status-at-all": (make_pod(["app"], None), ["web", "0/1", "", "0", "60m"]),
    "scheduling-gated": (
        make_pod(
            ["app"],
            {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
            },
        ),
        ["web", "0/1", "SchedulingGated", "0", "60m"],
    ),
    "container-creating": (
        make_pod(
            ["app"],
            {
                "phase": "Pending",
                "containerStatuses": [container_status("app", ready=False, waiting={"reason": "ContainerCreating"})],
            },
        ),
        ["web", "0/1", "ContainerCreating", "0", "60m"],
    ),
    "running-2-of-2": (RUNNING_2_OF_2, ["web", "2/2", "Running", "0", "60m"]),
    "crash-loop-with-restarts": (
        make_pod(
            ["app", "proxy"],
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [crashed("app", 3, 5 * MINUTE), container_status("proxy")],
            },
        ),
        ["web", "1/2", "CrashLoopBackOff", "3 (5m ago)", "60m"],
    ),
    "restarts-since-the-latest-termination": (
        make_pod(
            ["a", "b"],
            {
                "phase": "Running",
                "containerStatuses": [crashed("a", 4, 30 * MINUTE), crashed("b", 1, 90)],
            },
        ),
        ["web", "0/2", "CrashLoopBackOff", "5 (90s ago)", "60m"],
    ),
    "init-in-progress": (
        init_pod(container_status("migrate", ready=False, **DONE), container_status("seed", ready=False)),
        ["web", "0/1", "Init:1/2", "0", "60m"],
    ),
    "init-waiting-to-start": (
        init_pod(container_status("migrate", ready=False, waiting={"reason": "PodInitializing"})),
        ["web", "0/1", "Init:0/1", "0", "60m"],
    ),
    "init-crash-loop": (
        init_pod(crashed("migrate", 2, 40)),
        ["web", "0/1", "Init:CrashLoopBackOff", "2 (40s ago)", "60m"],
    ),
    "init-failed-with-exit-code": (
        init_pod(container_status("migrate", ready=False, terminated={"exitCode": 3})),
        ["web", "0/1", "Init:ExitCode:3", "0", "60m"],
    ),
    "init-killed-by-signal": (
        init_pod(container_status("migrate", ready=False, terminated={"exitCode": 137, "signal": 9})),
        ["web", "0/1", "Init:Signal:9", "0", "60m"],
    ),
    "init-failed-with-reason": (
        init_pod(container_status("migrate", ready=False, terminated={"exitCode": 1, "reason": "Error"})),
        ["web", "0/1", "Init:Error", "0", "60m"],
    ),
    "pod-initializing": (
        make_pod(
            ["app"],
            {
                "phase": "Pending",
                "conditions": [{"type": "Initialized", "status": "True"}],
                "initContainerStatuses": [container_status("migrate", ready=False, restarts=1, **DONE)],
                "containerStatuses": [container_status("app", ready=False, waiting={"reason": "PodInitializing"})],
            },
            init=[{"name": "migrate", "image": "busybox"}],
        ),
        ["web", "0/1", "PodInitializing", "0", "60m"],
    ),
    "completed": (
        make_pod(
            ["job"],
            {"phase": "Succeeded", "containerStatuses": [container_status("job", ready=False, **DONE)]},
        ),
        ["web", "0/1", "Completed", "0", "60m"],
    ),
    "error": (
        make_pod(
            ["job"],
            {
                "phase": "Failed",
                "containerStatuses": [
                    container_status("job", ready=False, terminated={"exitCode": 1, "reason": "Error"})
                ],
            },
        ),
        ["web", "0/1", "Error", "0", "60m"],
    ),
    "oom-killed": (
        make_pod(
            ["app"],
            {
                "phase": "Running",
                "containerStatuses": [
                    container_status("app", ready=False, terminated={"exitCode": 137, "reason": "OOMKilled"})
                ],
            },
        ),
        ["web", "0/1", "OOMKilled", "0", "60m"],
    ),
    "exit-code-without-reason": (
        make_pod(
            ["app"],
            {
                "phase": "Running",
                "containerStatuses": [container_status("app", ready=False, terminated={"exitCode": 2})],
            },
        ),
        ["web", "0/1", "ExitCode:2", "0", "60m"],
    ),
    "one-completed-one-still-running-and-ready": (
        make_pod(
            ["app", "setup"],
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [
                    container_status("app"),
                    container_status("setup", ready=False, **DONE),
                ],
            },
        ),
        ["web", "1/2", "Running", "0", "60m"],
    ),
    "one-completed-one-still-running-not-ready": (
        make_pod(
            ["app", "setup"],
            {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "False"}],
                "containerStatuses": [
                    container_status("app"),
                    container_status("setup", ready=False, **DONE),
                ],
            },
        ),
        ["web", "1/2", "NotReady", "0", "60m"],
    ),
    "terminating": (
        make_pod(["app"], {**RUNNING_2_OF_2["status"]}, deleted=True),
        ["web", "2/1", "Terminating"],
    ),
    "terminating-after-completion-keeps-its-status": (
        make_pod(
            ["job"],
            {"phase": "Succeeded", "containerStatuses": [container_status("job", ready=False, **DONE)]},
            deleted=True,
        ),
        ["web", "0/1", "Completed"],
    ),
    "node-lost": (
        make_pod(["app"], {"phase": "Running", "reason": "NodeLost"}, deleted=True),
        ["web", "0/1", "Unknown"],
    ),
    "evicted": (
        make_pod(["app"], {"phase": "Failed", "reason": "Evicted", "message": "low on memory"}),
        ["web", "0/1", "Evicted", "0", "60m"],
    ),
    "native-sidecar": (SIDECAR, ["web", "2/2", "Running", "2 (3m ago)", "60m"]),
    "native-sidecar-not-started-yet": (INIT_STARTING_SIDECAR, ["web", "0/2", "Init:0/1", "0", "60m"]),
}


@pytest.mark.parametrize(("pod", "expected"), POD_CASES.values(), ids=POD_CASES.keys())
def test_pod_ready_status_restarts_and_age(pod: dict, expected: list) -> None:
    (row,) = table("Pod", [pod], NOW)["rows"]
    assert row["cells"][: len(expected)] == expected


@pytest.mark.parametrize(
    ("pod", "wide"),
    [
        (RUNNING_2_OF_2, ["10.244.0.7", "node-1", "<none>", "<none>"]),
        (
            make_pod(["app"], {"phase": "Pending", "nominatedNodeName": "node-2"}),
            ["<none>", "<none>", "node-2", "<none>"],
        ),
        (
            make_pod(["app"], {"phase": "Running", "podIPs": [{"ip": "fd00::7"}, {"ip": "10.0.0.7"}]}),
            ["fd00::7"],
        ),
        (
            make_pod(
                ["app"],
                {"phase": "Running", "conditions": [{"type": "example.com/lb", "status": "True"}]},
                gates=["example.com/lb", "example.com/dns"],
            ),
            ["<none>", "<none>", "<none>", "1/2"],
        ),
    ],
)
def test_pod_wide_columns(pod: dict, wide: list) -> None:
    (row,) = table("Pod", [pod], NOW)["rows"]
    assert row["cells"][5 : 5 + len(wide)] == wide


@pytest.mark.parametrize(
    ("phase", "conditions"),
    [
        ("Running", None),
        (
            "Succeeded",
            [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "Succeeded",
                    "message": "The pod has completed successfully.",
                }
            ],
        ),
        (
            "Failed",
            [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}],
        ),
    ],
)
def test_finished_pods_carry_row_conditions(phase: str, conditions: list | None) -> None:
    (row,) = table("Pod", [make_pod(["app"], {"phase": phase})], NOW)["rows"]
    assert row.get("conditions") == conditions
    assert list(row) == (["cells", "conditions", "object"] if conditions else ["cells", "object"])


# -- the Table itself -----------------------------------------------------------------------------


def test_table_has_the_shape_kubectl_decodes() -> None:
    result = table("Pod", [RUNNING_2_OF_2], NOW, resource_version="100")
    assert list(result) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert (result["kind"], result["apiVersion"], result["metadata"]) == (
        "Table",
        "meta.k8s.io/v1",
        {"resourceVersion": "100"},
    )
    assert result["columnDefinitions"][0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": (
            "Name must be unique within a namespace. Is required when creating resources, although some "
            "resources may allow a client to request the generation of an appropriate name automatically. "
            "Name is primarily intended for creation idempotence and configuration definition. "
            "Cannot be updated. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
        ),
        "priority": 0,
    }
    assert result["rows"][0]["cells"] == [
        "web",
        "2/2",
        "Running",
        "0",
        "60m",
        "10.244.0.7",
        "node-1",
        "<none>",
        "<none>",
    ]
    assert json.loads(json.dumps(result)) == result


def test_empty_list_has_empty_rows() -> None:
    assert table("ConfigMap", [], NOW)["rows"] == []


def test_pagination_metadata() -> None:
    result = table("Pod", [], NOW, resource_version="9", continue_token="abc", remaining=4)
    assert result["metadata"] == {"resourceVersion": "9", "continue": "abc", "remainingItemCount": 4}


def test_watch_events_after_the_first_have_no_headers() -> None:
    result = table("Pod", [RUNNING_2_OF_2], NOW, with_headers=False)
    assert result["columnDefinitions"] is None
    assert len(result["rows"][0]["cells"]) == 9


@pytest.mark.parametrize("include_object", ["Metadata", ""])
def test_rows_carry_partial_object_metadata_by_default(include_object: str) -> None:
    (row,) = table("Pod", [RUNNING_2_OF_2], NOW, include_object=include_object)["rows"]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": RUNNING_2_OF_2["metadata"],
    }
    assert row["object"]["metadata"] is not RUNNING_2_OF_2["metadata"]


def test_rows_carry_the_whole_object_for_sort_by() -> None:
    (row,) = table("Pod", [RUNNING_2_OF_2], NOW, include_object="Object")["rows"]
    assert row["object"] == RUNNING_2_OF_2


def test_rows_carry_no_object_when_asked() -> None:
    (row,) = table("Pod", [RUNNING_2_OF_2], NOW, include_object="None")["rows"]
    assert row["object"] is None


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as caught:
        table("Pod", [], NOW, include_object="Everything")
    assert (caught.value.code, caught.value.message) == (
        400,
        'unrecognized includeObject value: "Everything"',
    )


@pytest.mark.parametrize(
    ("kind", "columns"),
    [
        (
            "Pod",
            [
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1),
            ],
        ),
        ("Namespace", [("Name", 0), ("Status", 0), ("Age", 0)]),
        (
            "Node",
            [
                ("Name", 0),
                ("Status", 0),
                ("Roles", 0),
                ("Age", 0),
                ("Version", 0),
                ("Internal-IP", 1),
                ("External-IP", 1),
                ("OS-Image", 1),
                ("Kernel-Version", 1),
                ("Container-Runtime", 1),
            ],
        ),
        (
            "Event",
            [
                ("Last Seen", 0),
                ("Type", 0),
                ("Reason", 0),
                ("Object", 0),
                ("Subobject", 1),
                ("Source", 1),
                ("Message", 0),
                ("First Seen", 1),
                ("Count", 1),
                ("Name", 1),
            ],
        ),
        ("ConfigMap", [("Name", 0), ("Data", 0), ("Age", 0)]),
        ("Secret", [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]),
        ("ServiceAccount", [("Name", 0), ("Secrets", 0), ("Age", 0)]),
        (
            "Service",
            [
                ("Name", 0),
                ("Type", 0),
                ("Cluster-IP", 0),
                ("External-IP", 0),
                ("Port(s)", 0),
                ("Age", 0),
                ("Selector", 1),
            ],
        ),
        (
            "PersistentVolumeClaim",
            [
                ("Name", 0),
                ("Status", 0),
                ("Volume", 0),
                ("Capacity", 0),
                ("Access Modes", 0),
                ("StorageClass", 0),
                ("VolumeAttributesClass", 0),
                ("Age", 0),
                ("VolumeMode", 1),
            ],
        ),
    ],
)
def test_column_names_and_priorities(kind: str, columns: list[tuple[str, int]]) -> None:
    definitions = table(kind, [], NOW)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in definitions] == columns
    assert all(c["type"] == "string" for c in definitions)
    assert [c["name"] for c in definitions if c["format"] == "name"] == ["Name"]


# The Python client's models carry the same OpenAPI field docs, with "\n\n" flattened to two spaces.
FIELD_DOCS = [
    ("Pod", "Age", models.V1ObjectMeta, "creation_timestamp"),
    ("Pod", "IP", models.V1PodStatus, "pod_ip"),
    ("Pod", "Node", models.V1PodSpec, "node_name"),
    ("Pod", "Nominated Node", models.V1PodStatus, "nominated_node_name"),
    ("Pod", "Readiness Gates", models.V1PodSpec, "readiness_gates"),
    ("Node", "Version", models.V1NodeSystemInfo, "kubelet_version"),
    ("Node", "Internal-IP", models.V1NodeStatus, "addresses"),
    ("Node", "OS-Image", models.V1NodeSystemInfo, "os_image"),
    ("Node", "Kernel-Version", models.V1NodeSystemInfo, "kernel_version"),
    ("Node", "Container-Runtime", models.V1NodeSystemInfo, "container_runtime_version"),
    ("Event", "Last Seen", models.CoreV1Event, "last_timestamp"),
    ("Event", "Type", models.CoreV1Event, "type"),
    ("Event", "Reason", models.CoreV1Event, "reason"),
    ("Event", "Subobject", models.V1ObjectReference, "field_path"),
    ("Event", "Message", models.CoreV1Event, "message"),
    ("Event", "First Seen", models.CoreV1Event, "first_timestamp"),
    ("Event", "Count", models.CoreV1Event, "count"),
    ("ConfigMap", "Data", models.V1ConfigMap, "data"),
    ("Secret", "Type", models.V1Secret, "type"),
    ("Secret", "Data", models.V1Secret, "data"),
    ("ServiceAccount", "Secrets", models.V1ServiceAccount, "secrets"),
    ("Service", "Type", models.V1ServiceSpec, "type"),
    ("Service", "Cluster-IP", models.V1ServiceSpec, "cluster_ip"),
    ("Service", "External-IP", models.V1ServiceSpec, "external_ips"),
    ("Service", "Port(s)", models.V1ServiceSpec, "ports"),
    ("Service", "Selector", models.V1ServiceSpec, "selector"),
    ("PersistentVolumeClaim", "Status", models.V1PersistentVolumeClaimStatus, "phase"),
    ("PersistentVolumeClaim", "Volume", models.V1PersistentVolumeClaimSpec, "volume_name"),
    ("PersistentVolumeClaim", "Capacity", models.V1PersistentVolumeClaimStatus, "capacity"),
    ("PersistentVolumeClaim", "Access Modes", models.V1PersistentVolumeClaimStatus, "access_modes"),
    ("PersistentVolumeClaim", "VolumeMode", models.V1PersistentVolumeClaimSpec, "volume_mode"),
]


@pytest.mark.parametrize(("kind", "column", "model", "field"), FIELD_DOCS)
def test_column_descriptions_are_the_openapi_field_docs(kind: str, column: str, model: type, field: str) -> None:
    (definition,) = [c for c in table(kind, [], NOW)["columnDefinitions"] if c["name"] == column]
    openapi = model.model_fields[field].description.split("  Possible enum values:")[0]
    assert definition["description"].replace("\n\n", "  ") == openapi


# -- other kinds ----------------------------------------------------------------------------------


def node(conditions: list[dict], **extra: object) -> dict:
    obj = {
        "metadata": {"name": "node-1", "creationTimestamp": ago(30 * DAY), "labels": {}},
        "spec": {},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "InternalIP", "address": "192.168.1.11"},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.37.1",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "kernelVersion": "6.1.0-18-amd64",
                "containerRuntimeVersion": "containerd://1.7.13",
            },
        },
    }
    for key, value in extra.items():
        obj[key].update(value)
    return obj


READY = [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}]


@pytest.mark.parametrize(
    ("obj", "cells"),
    [
        (
            node(READY),
            [
                "node-1",
                "Ready",
                "<none>",
                "30d",
                "v1.37.1",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.7.13",
            ],
        ),
        (
            node([{"type": "Ready", "status": "Unknown"}], spec={"unschedulable": True}),
            ["node-1", "NotReady,SchedulingDisabled"],
        ),
        (node([]), ["node-1", "Unknown"]),
        (
            node(
                READY,
                metadata={"labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": ""}},
            ),
            ["node-1", "Ready", "control-plane"],
        ),
        (
            node(
                READY,
                metadata={"labels": {"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "edge"}},
            ),
            ["node-1", "Ready", "edge,worker"],
        ),
    ],
)
def test_node_cells(obj: dict, cells: list) -> None:
    (row,) = table("Node", [obj], NOW)["rows"]
    assert row["cells"][: len(cells)] == cells


def test_node_without_info_prints_placeholders() -> None:
    (row,) = table("Node", [{"metadata": {"name": "bare"}}], NOW)["rows"]
    assert row["cells"] == ["bare", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>"] + ["<unknown>"] * 3


def event(**fields: object) -> dict:
    obj = {
        "metadata": {"name": "web.17c8f", "namespace": "default", "creationTimestamp": ago(10 * MINUTE)},
        "involvedObject": {
            "kind": "Pod",
            "namespace": "default",
            "name": "web",
            "fieldPath": "spec.containers{app}",
        },
        "reason": "BackOff",
        "message": "Back-off restarting failed container app\n",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(10 * MINUTE),
        "lastTimestamp": ago(5 * MINUTE),
        "count": 3,
    }
    obj.update(fields)
    return obj


@pytest.mark.parametrize(
    ("obj", "cells"),
    [
        (
            event(),
            [
                "5m",
                "Warning",
                "BackOff",
                "pod/web",
                "spec.containers{app}",
                "kubelet, node-1",
                "Back-off restarting failed container app",
                "10m",
                3,
                "web.17c8f",
            ],
        ),
        (event(lastTimestamp=None), ["10m"]),
        (event(firstTimestamp=None, lastTimestamp=None), ["<unknown>"]),
        (
            event(
                firstTimestamp=None,
                lastTimestamp=None,
                eventTime="2025-06-01T11:58:00.000000Z",
                source={},
                reportingComponent="default-scheduler",
                reportingInstance="default-scheduler-cp-1",
                count=None,
                involvedObject={"kind": "Pod", "name": "web"},
                reason="Scheduled",
                type="Normal",
            ),
            [
                "2m",
                "Normal",
                "Scheduled",
                "pod/web",
                "",
                "default-scheduler, default-scheduler-cp-1",
                "Back-off restarting failed container app",
                "2m",
                1,
            ],
        ),
        (
            event(
                firstTimestamp=None,
                lastTimestamp=None,
                eventTime="2025-06-01T11:00:00.000000Z",
                series={"count": 7, "lastObservedTime": "2025-06-01T11:59:00.000000Z"},
                count=0,
            ),
            [
                "60s",
                "Warning",
                "BackOff",
                "pod/web",
                "spec.containers{app}",
                "kubelet, node-1",
                "Back-off restarting failed container app",
                "60m",
                7,
            ],
        ),
        (
            event(count=0, source={"component": "kubelet"}),
            ["5m", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet"],
        ),
        (event(involvedObject={"kind": "Node"}), ["5m", "Warning", "BackOff", "node", ""]),
    ],
)
def test_event_cells(obj: dict, cells: list) -> None:
    (row,) = table("Event", [{k: v for k, v in obj.items() if v is not None}], NOW)["rows"]
    assert row["cells"][: len(cells)] == cells


def service(spec: dict, status: dict | None = None) -> dict:
    return {
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(2 * HOUR)},
        "spec": spec,
        "status": status or {"loadBalancer": {}},
    }


HTTP = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}


@pytest.mark.parametrize(
    ("obj", "cells"),
    [
        (
            service(
                {
                    "type": "ClusterIP",
                    "clusterIP": "10.96.0.10",
                    "clusterIPs": ["10.96.0.10"],
                    "ports": [HTTP],
                    "selector": {"tier": "fe", "app": "web"},
                }
            ),
            ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "120m", "app=web,tier=fe"],
        ),
        (
            service({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"]}),
            ["web", "ClusterIP", "None", "<none>", "<none>", "120m", "<none>"],
        ),
        (
            service(
                {
                    "type": "NodePort",
                    "clusterIPs": ["10.96.0.11"],
                    "ports": [{**HTTP, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}],
                }
            ),
            ["web", "NodePort", "10.96.0.11", "<none>", "80:30080/TCP,53/UDP"],
        ),
        (
            service({"type": "ClusterIP", "clusterIPs": ["10.96.0.12"], "externalIPs": ["203.0.113.1"]}),
            ["web", "ClusterIP", "10.96.0.12", "203.0.113.1"],
        ),
        (
            service({"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"]}),
            ["web", "LoadBalancer", "10.96.0.13", "<pending>"],
        ),
        (
            service(
                {"type": "LoadBalancer", "clusterIPs": ["10.96.0.13"], "externalIPs": ["203.0.113.9"]},
                {
                    "loadBalancer": {
                        "ingress": [{"ip": "198.51.100.7"}, {"hostname": "a-very-long-name.elb.example.com"}]
                    }
                },
            ),
            [
                "web",
                "LoadBalancer",
                "10.96.0.13",
                "198.51.100.7,a-very-long-name.elb.example.com,203.0.113.9",
            ],
        ),
        (
            service({"type": "ExternalName", "externalName": "db.example.com"}),
            ["web", "ExternalName", "<none>", "db.example.com"],
        ),
        (service({"clusterIP": "10.96.0.14"}), ["web", "", "10.96.0.14", "<unknown>"]),
    ],
)
def test_service_cells(obj: dict, cells: list) -> None:
    (row,) = table("Service", [obj], NOW)["rows"]
    assert row["cells"][: len(cells)] == cells


def claim(spec: dict, status: dict, **metadata: object) -> dict:
    return {
        "metadata": {"name": "data", "namespace": "default", "creationTimestamp": ago(3 * DAY), **metadata},
        "spec": spec,
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "cells"),
    [
        (
            claim(
                {"storageClassName": "standard", "resources": {"requests": {"storage": "1Gi"}}},
                {"phase": "Pending"},
            ),
            ["data", "Pending", "", "", "", "standard", "<unset>", "3d", "<unset>"],
        ),
        (
            claim(
                {"storageClassName": "standard", "volumeName": "pvc-8d1e", "volumeMode": "Filesystem"},
                {
                    "phase": "Bound",
                    "capacity": {"storage": "10Gi"},
                    "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                },
            ),
            ["data", "Bound", "pvc-8d1e", "10Gi", "RWO,RWX", "standard", "<unset>", "3d", "Filesystem"],
        ),
        (
            claim(
                {"volumeName": "pvc-1", "volumeAttributesClassName": "gold"},
                {"phase": "Bound"},
                annotations={"volume.beta.kubernetes.io/storage-class": "legacy"},
                deletionTimestamp=ago(5),
            ),
            ["data", "Terminating", "pvc-1", "0", "", "legacy", "gold"],
        ),
    ],
)
def test_persistent_volume_claim_cells(obj: dict, cells: list) -> None:
    (row,) = table("PersistentVolumeClaim", [obj], NOW)["rows"]
    assert row["cells"][: len(cells)] == cells


@pytest.mark.parametrize(
    ("kind", "obj", "cells"),
    [
        (
            "Namespace",
            {"metadata": {"name": "default", "creationTimestamp": ago(DAY)}, "status": {"phase": "Active"}},
            ["default", "Active", "24h"],
        ),
        (
            "Namespace",
            {"metadata": {"name": "old", "deletionTimestamp": ago(1)}, "status": {"phase": "Terminating"}},
            ["old", "Terminating", "<unknown>"],
        ),
        (
            "ConfigMap",
            {
                "metadata": {"name": "cfg", "creationTimestamp": ago(40)},
                "data": {"a": "1", "b": "2"},
                "binaryData": {"c": "AA=="},
            },
            ["cfg", 3, "40s"],
        ),
        ("ConfigMap", {"metadata": {"name": "empty", "creationTimestamp": ago(40)}}, ["empty", 0, "40s"]),
        (
            "Secret",
            {
                "metadata": {"name": "tls", "creationTimestamp": ago(7 * MINUTE)},
                "type": "kubernetes.io/tls",
                "data": {"tls.crt": "", "tls.key": ""},
            },
            ["tls", "kubernetes.io/tls", 2, "7m"],
        ),
        (
            "ServiceAccount",
            {"metadata": {"name": "default", "creationTimestamp": ago(HOUR)}},
            ["default", 0, "60m"],
        ),
        (
            "ServiceAccount",
            {"metadata": {"name": "ci", "creationTimestamp": ago(HOUR)}, "secrets": [{"name": "ci-token"}]},
            ["ci", 1, "60m"],
        ),
    ],
)
def test_simple_kind_cells(kind: str, obj: dict, cells: list) -> None:
    (row,) = table(kind, [obj], NOW)["rows"]
    assert row["cells"] == cells
