"""Unit tests of the pod list and the pod page's cards: kubectl's pod columns (pod_status, pod_table), ages
(durations), filtering by name and label selector and paging (pod_table), and container cards (cards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboard.cards import ContainerCard, ContainerPort, Mount, container_cards, port_owner
from dashboard.durations import age
from dashboard.pod_status import ready, restarts, status
from dashboard.pod_table import PodRow, filter_pods, paginate, row
from kubetext.selectors import SelectorError

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    """An RFC 3339 timestamp the given time before NOW."""
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cs(
    name: str,
    state: str = "running",
    *,
    ready: bool = False,
    restarts: int = 0,
    started: bool | None = None,
    last_finished: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A container status in one state, with the state's fields and optionally a last termination."""
    found: dict[str, Any] = {"name": name, "ready": ready, "restartCount": restarts, "state": {state: fields}}
    if started is not None:
        found["started"] = started
    if last_finished:
        found["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": last_finished}}
    return found


def up(name: str, **kw: Any) -> dict[str, Any]:
    """A running, ready, started container status."""
    return cs(name, "running", ready=True, started=True, startedAt=ago(hours=1), **kw)


def done(name: str, code: int = 0, reason: str | None = "Completed", **kw: Any) -> dict[str, Any]:
    """A terminated container status."""
    fields = {"exitCode": code, **({"reason": reason} if reason else {}), **kw}
    return cs(name, "terminated", **fields)


def wait(name: str, reason: str, **kw: Any) -> dict[str, Any]:
    """A waiting container status."""
    return cs(name, "waiting", reason=reason, **kw)


def make_pod(
    statuses: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    *,
    phase: str | None = "Running",
    containers: tuple[str, ...] | None = None,
    inits: tuple[str, ...] = (),
    sidecars: tuple[str, ...] = (),
    ready_condition: bool | None = None,
    initialized: bool | None = None,
    reason: str | None = None,
    deleting: bool = False,
    **meta: Any,
) -> dict[str, Any]:
    """A pod with the given container statuses; names in sidecars become init containers with restartPolicy Always."""
    statuses = statuses or []
    names = containers if containers is not None else tuple(s["name"] for s in statuses) or ("app",)
    spec: dict[str, Any] = {"containers": [{"name": n, "image": "nginx"} for n in names]}
    if inits:
        spec["initContainers"] = [
            {"name": n, "image": "busybox", **({"restartPolicy": "Always"} if n in sidecars else {})} for n in inits
        ]
    pod_status: dict[str, Any] = {"containerStatuses": statuses}
    if phase:
        pod_status["phase"] = phase
    if init_statuses is not None:
        pod_status["initContainerStatuses"] = init_statuses
    conditions = []
    if initialized is not None:
        conditions.append({"type": "Initialized", "status": str(initialized)})
    if ready_condition is not None:
        conditions.append({"type": "Ready", "status": str(ready_condition)})
    if conditions:
        pod_status["conditions"] = conditions
    if reason:
        pod_status["reason"] = reason
    metadata = {"name": "web", "namespace": "shop", "creationTimestamp": ago(hours=2), **meta}
    if deleting:
        metadata["deletionTimestamp"] = ago(seconds=10)
    return {"metadata": metadata, "spec": spec, "status": pod_status}


# --- age ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (None, "<unknown>"),
        ("", "<unknown>"),
        ("not a time", "<unknown>"),
        ("2026-11-22T10:00:00Z", "120m"),
        ("2026-11-22T08:30:00Z", "3h30m"),
        ("2026-11-22T11:59:30.123456Z", "29s"),
        ("2026-11-22T11:59:30.123456789Z", "29s"),
        ("2026-11-22T13:00:00+02:00", "60m"),
        ("2026-11-22T12:00:05Z", "0s"),
        (datetime(2026, 11, 22, 11, 55, tzinfo=UTC), "5m"),
        (datetime(2026, 11, 22, 11, 55), "5m"),
    ],
)
def test_age_reads_rfc3339_and_datetimes(timestamp: str | datetime | None, expected: str) -> None:
    assert age(timestamp, NOW) == expected


def test_age_accepts_a_naive_now_as_utc() -> None:
    assert age("2026-11-22T11:00:00Z", NOW.replace(tzinfo=None)) == "60m"


# --- status, ready, restarts --------------------------------------------------------------------------------------

STATUS_CASES = {
    "no status at all": ({"metadata": {"name": "new"}, "spec": {"containers": [{"name": "a"}]}}, "Pending", "warn"),
    "just created": (make_pod([], phase="Pending"), "Pending", "warn"),
    "unschedulable": (make_pod(phase="Pending", ready_condition=False), "Pending", "warn"),
    "creating": (make_pod([wait("app", "ContainerCreating")], phase="Pending"), "ContainerCreating", "warn"),
    "running ready": (make_pod([up("app"), up("db")], ready_condition=True), "Running", "ok"),
    "running, no conditions, all ready": (make_pod([up("app")]), "Running", "ok"),
    "running not ready": (
        make_pod([up("app"), cs("db", "running", started=True)], ready_condition=False),
        "Running",
        "warn",
    ),
    "crash loop": (make_pod([up("app"), wait("db", "CrashLoopBackOff")]), "CrashLoopBackOff", "error"),
    "image pull back-off": (make_pod([wait("app", "ImagePullBackOff")], phase="Pending"), "ImagePullBackOff", "error"),
    "err image pull": (make_pod([wait("app", "ErrImagePull")], phase="Pending"), "ErrImagePull", "error"),
    "config error": (
        make_pod([wait("app", "CreateContainerConfigError")], phase="Pending"),
        "CreateContainerConfigError",
        "error",
    ),
    "completed": (make_pod([done("job")], phase="Succeeded"), "Completed", "done"),
    "succeeded without reasons": (make_pod([], phase="Succeeded", containers=("job",)), "Succeeded", "done"),
    "error": (make_pod([done("job", 1, "Error")], phase="Failed"), "Error", "error"),
    "oom killed": (make_pod([done("app", 137, "OOMKilled")]), "OOMKilled", "error"),
    "exit code without reason": (make_pod([done("app", 2, None)], phase="Failed"), "ExitCode:2", "error"),
    "signal without reason": (make_pod([done("app", 0, None, signal=9)]), "Signal:9", "error"),
    "first container's reason wins": (
        make_pod([wait("a", "CrashLoopBackOff"), wait("b", "ContainerCreating")]),
        "CrashLoopBackOff",
        "error",
    ),
    "completed beside running, ready": (
        make_pod([done("once"), up("app")], ready_condition=True),
        "Running",
        "ok",
    ),
    "completed beside running, not ready": (
        make_pod([done("once"), up("app")], ready_condition=False),
        "NotReady",
        "warn",
    ),
    "init running": (
        make_pod(
            [wait("app", "PodInitializing")],
            [cs("migrate", "running")],
            phase="Pending",
            inits=("migrate", "seed"),
        ),
        "Init:0/2",
        "warn",
    ),
    "second init running": (
        make_pod(
            [wait("app", "PodInitializing")],
            [done("migrate"), cs("seed", "running")],
            phase="Pending",
            inits=("migrate", "seed"),
        ),
        "Init:1/2",
        "warn",
    ),
    "init waiting to initialise": (
        make_pod(
            [wait("app", "PodInitializing")],
            [wait("migrate", "PodInitializing")],
            phase="Pending",
            inits=("migrate",),
        ),
        "Init:0/1",
        "warn",
    ),
    "init crash loop": (
        make_pod(
            [wait("app", "PodInitializing")],
            [wait("migrate", "CrashLoopBackOff", restarts=3)],
            phase="Pending",
            inits=("migrate",),
        ),
        "Init:CrashLoopBackOff",
        "error",
    ),
    "init error": (
        make_pod([], [done("migrate", 1, "Error")], phase="Failed", inits=("migrate",)),
        "Init:Error",
        "error",
    ),
    "init oom": (
        make_pod([], [done("migrate", 137, "OOMKilled")], phase="Pending", inits=("migrate",)),
        "Init:OOMKilled",
        "error",
    ),
    "init exit code": (
        make_pod([], [done("migrate", 3, None)], phase="Pending", inits=("migrate",)),
        "Init:ExitCode:3",
        "error",
    ),
    "init signal": (
        make_pod([], [done("migrate", 143, None, signal=15)], phase="Pending", inits=("migrate",)),
        "Init:Signal:15",
        "error",
    ),
    "sidecar started, app running": (
        make_pod(
            [up("app")],
            [up("proxy")],
            inits=("proxy",),
            sidecars=("proxy",),
            ready_condition=True,
            initialized=True,
        ),
        "Running",
        "ok",
    ),
    "sidecar not started yet": (
        make_pod(
            [wait("app", "PodInitializing")],
            [cs("proxy", "running", started=False), wait("migrate", "PodInitializing")],
            phase="Pending",
            inits=("proxy", "migrate"),
            sidecars=("proxy",),
        ),
        "Init:0/2",
        "warn",
    ),
    "sidecar started, later init running": (
        make_pod(
            [wait("app", "PodInitializing")],
            [up("proxy"), cs("migrate", "running")],
            phase="Pending",
            inits=("proxy", "migrate"),
            sidecars=("proxy",),
        ),
        "Init:1/2",
        "warn",
    ),
    "terminating": (make_pod([up("app")], ready_condition=True, deleting=True), "Terminating", "warn"),
    "deleted after success": (make_pod([done("job")], phase="Succeeded", deleting=True), "Completed", "done"),
    "node lost": (
        make_pod([up("app")], reason="NodeLost", deleting=True),
        "Unknown",
        "error",
    ),
    "evicted": (make_pod([], phase="Failed", reason="Evicted"), "Evicted", "error"),
    "shut down with the node": (make_pod([], phase="Failed", reason="Shutdown"), "Shutdown", "error"),
    "phase unknown": (make_pod([], phase="Unknown"), "Unknown", "error"),
    "scheduling gated": (
        {
            "metadata": {"name": "gated"},
            "spec": {"containers": [{"name": "a"}], "schedulingGates": [{"name": "example.com/quota"}]},
            "status": {
                "phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
            },
        },
        "SchedulingGated",
        "warn",
    ),
}


@pytest.mark.parametrize(("pod", "text", "cls"), STATUS_CASES.values(), ids=STATUS_CASES.keys())
def test_status_matches_kubectl(pod: dict[str, Any], text: str, cls: str) -> None:
    assert status(pod, NOW) == (text, cls)


READY_CASES = {
    "no status": ({"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}, "0/2"),
    "one of two": (make_pod([up("app"), cs("db", "running")]), "1/2"),
    "waiting is not ready": (make_pod([wait("app", "ContainerCreating")], phase="Pending"), "0/1"),
    "finished init is not counted": (make_pod([up("app")], [done("migrate")], inits=("migrate",)), "1/1"),
    "sidecar counted": (
        make_pod([up("app")], [up("proxy")], inits=("proxy",), sidecars=("proxy",), initialized=True),
        "2/2",
    ),
    "sidecar started but not ready": (
        make_pod(
            [up("app")],
            [cs("proxy", "running", started=True)],
            inits=("proxy",),
            sidecars=("proxy",),
            initialized=True,
        ),
        "1/2",
    ),
    "sidecar not started": (
        make_pod(
            [wait("app", "PodInitializing")],
            [cs("proxy", "running", started=False)],
            phase="Pending",
            inits=("proxy",),
            sidecars=("proxy",),
        ),
        "0/2",
    ),
    "main containers not counted while initialising": (
        make_pod([up("app")], [wait("migrate", "CrashLoopBackOff")], inits=("migrate",)),
        "0/1",
    ),
}


@pytest.mark.parametrize(("pod", "expected"), READY_CASES.values(), ids=READY_CASES.keys())
def test_ready_counts_like_kubectl(pod: dict[str, Any], expected: str) -> None:
    assert ready(pod) == expected


RESTART_CASES = {
    "no status": ({"spec": {"containers": [{"name": "a"}]}}, "0"),
    "never restarted": (make_pod([up("app")]), "0"),
    "restarted": (make_pod([up("app", restarts=3, last_finished=ago(minutes=5, seconds=12))]), "3 (5m12s ago)"),
    "restarted, no last state": (make_pod([up("app", restarts=3)]), "3"),
    "summed, latest wins": (
        make_pod(
            [
                up("a", restarts=1, last_finished=ago(hours=1)),
                wait("b", "CrashLoopBackOff", restarts=4, last_finished=ago(seconds=40)),
            ]
        ),
        "5 (40s ago)",
    ),
    "init restarts while initialising": (
        make_pod(
            [wait("app", "PodInitializing")],
            [wait("migrate", "CrashLoopBackOff", restarts=2, last_finished=ago(seconds=90))],
            phase="Pending",
            inits=("migrate",),
        ),
        "2 (90s ago)",
    ),
    "finished init restarts dropped once initialised": (
        make_pod([up("app")], [done("migrate", restarts=2, last_finished=ago(hours=1))], inits=("migrate",)),
        "0",
    ),
    "sidecar restarts kept": (
        make_pod(
            [up("app", restarts=1, last_finished=ago(minutes=2))],
            [up("proxy", restarts=2, last_finished=ago(minutes=10))],
            inits=("proxy",),
            sidecars=("proxy",),
            initialized=True,
        ),
        "3 (2m ago)",
    ),
    "finished in the future": (make_pod([up("app", restarts=1, last_finished=ago(seconds=-30))]), "1 (0s ago)"),
}


@pytest.mark.parametrize(("pod", "expected"), RESTART_CASES.values(), ids=RESTART_CASES.keys())
def test_restarts_count_and_last_restart(pod: dict[str, Any], expected: str) -> None:
    assert restarts(pod, NOW) == expected


def test_row_has_every_wide_column() -> None:
    pod = make_pod([up("app"), up("db")], ready_condition=True, labels={"tier": "web", "app": "shop"})
    pod["spec"]["nodeName"] = "node-1"
    pod["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"}, {"conditionType": "example.com/dns"}]
    pod["status"]["podIPs"] = [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}]
    pod["status"]["podIP"] = "10.0.0.7"
    pod["status"]["nominatedNodeName"] = "node-2"
    pod["status"]["conditions"].append({"type": "example.com/lb", "status": "True"})
    pod["status"]["conditions"].append({"type": "example.com/dns", "status": "False"})
    assert row(pod, NOW) == PodRow(
        name="web",
        namespace="shop",
        ready="2/2",
        status="Running",
        status_class="ok",
        restarts="0",
        age="120m",
        ip="10.0.0.7",
        node="node-1",
        labels=(("app", "shop"), ("tier", "web")),
        nominated_node="node-2",
        readiness_gates="1/2",
    )


@pytest.mark.parametrize(
    "pod",
    [{}, {"metadata": {"name": "bare"}}, {"metadata": {"name": "bare"}, "spec": {}, "status": {}}],
    ids=["empty dict", "metadata only", "empty spec and status"],
)
def test_row_of_a_bare_pod_shows_none(pod: dict[str, Any]) -> None:
    got = row(pod, NOW)
    assert (got.ip, got.node, got.nominated_node, got.readiness_gates) == ("<none>",) * 4
    assert (got.ready, got.status, got.status_class, got.restarts, got.age) == (
        "0/0",
        "Pending",
        "warn",
        "0",
        "<unknown>",
    )
    assert got.namespace == "default"
    assert got.labels == ()


def test_row_falls_back_to_pod_ip() -> None:
    pod = make_pod([up("app")])
    pod["status"]["podIP"] = "10.1.2.3"
    assert row(pod, NOW).ip == "10.1.2.3"


# --- filtering ----------------------------------------------------------------------------------------------------


def named(name: str, labels: dict[str, str] | None = None, namespace: str = "default") -> dict[str, Any]:
    """A minimal pod with a name, namespace and labels."""
    return {"metadata": {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})}}


PODS = [
    named("web-7d9f", {"app": "web", "tier": "frontend"}),
    named("api-1", {"app": "api"}),
    named("Web-canary", {"app": "web", "track": "canary"}),
    named("db-0", {"app": "db"}),
    named("unlabelled"),
    {"metadata": {}},
    {},
]


@pytest.mark.parametrize(
    ("name", "selector", "expected"),
    [
        ("", "", ["", "", "Web-canary", "api-1", "db-0", "unlabelled", "web-7d9f"]),
        ("web", "", ["Web-canary", "web-7d9f"]),
        ("WEB", "", ["Web-canary", "web-7d9f"]),
        ("  web ", "", ["Web-canary", "web-7d9f"]),
        ("", "app=web", ["Web-canary", "web-7d9f"]),
        ("", "app=web,!track", ["web-7d9f"]),
        ("", "app in (api,db)", ["api-1", "db-0"]),
        ("", "!app", ["", "", "unlabelled"]),
        ("-", "app notin (web)", ["api-1", "db-0"]),
        ("nothing", "", []),
    ],
)
def test_filter_pods_by_name_and_selector(name: str, selector: str, expected: list[str]) -> None:
    got = filter_pods(PODS, name=name, selector=selector)
    assert [(p.get("metadata") or {}).get("name", "") for p in got] == expected


def test_filter_pods_sorts_same_names_by_namespace() -> None:
    pods = [named("web", namespace="b"), named("web", namespace="a")]
    assert [p["metadata"]["namespace"] for p in filter_pods(pods)] == ["a", "b"]


def test_filter_pods_rejects_a_bad_selector_even_without_pods() -> None:
    with pytest.raises(SelectorError, match="found 'web' expected: '\\('"):
        filter_pods([], selector="app in web")


def test_filter_pods_accepts_any_iterable() -> None:
    assert [p["metadata"]["name"] for p in filter_pods(iter(PODS[:2]))] == ["api-1", "web-7d9f"]


# --- paging -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "number", "per_page", "expected"),
    [
        (0, 1, 100, (1, 1, 0, 0, 0)),
        (0, 7, 100, (1, 1, 0, 0, 0)),
        (1, 1, 100, (1, 1, 1, 1, 1)),
        (100, 1, 100, (1, 1, 1, 100, 100)),
        (101, 2, 100, (2, 2, 101, 101, 1)),
        (3412, 1, 100, (1, 35, 1, 100, 100)),
        (3412, 2, 100, (2, 35, 101, 200, 100)),
        (3412, 35, 100, (35, 35, 3401, 3412, 12)),
        (3412, 99, 100, (35, 35, 3401, 3412, 12)),
        (3412, 0, 100, (1, 35, 1, 100, 100)),
        (3412, -4, 100, (1, 35, 1, 100, 100)),
        (10, 3, 3, (3, 4, 7, 9, 3)),
        (10, 4, 3, (4, 4, 10, 10, 1)),
    ],
)
def test_paginate(total: int, number: int, per_page: int, expected: tuple[int, int, int, int, int]) -> None:
    page = paginate(list(range(total)), number, per_page)
    assert (page.number, page.pages, page.first, page.last, len(page.items)) == expected
    assert page.total == total
    assert page.items == (tuple(range(total))[page.first - 1 : page.last] if total else ())


def test_paginate_neighbours() -> None:
    assert (paginate(range(250), 1).previous, paginate(range(250), 1).next) == (None, 2)
    assert (paginate(range(250), 2).previous, paginate(range(250), 2).next) == (1, 3)
    assert (paginate(range(250), 3).previous, paginate(range(250), 3).next) == (2, None)
    assert (paginate([], 1).previous, paginate([], 1).next) == (None, None)


def test_paginate_items_are_a_tuple_of_the_slice() -> None:
    assert paginate(range(250), 2).items == tuple(range(100, 200))


@pytest.mark.parametrize("per_page", [0, -1])
def test_paginate_rejects_pages_without_room(per_page: int) -> None:
    with pytest.raises(ValueError, match="per_page"):
        paginate([1], 1, per_page)


# --- container cards ----------------------------------------------------------------------------------------------


def card_pod(container: dict[str, Any], container_status: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pod holding one regular container and, if given, its status."""
    statuses = [container_status] if container_status else []
    return {"metadata": {"name": "p"}, "spec": {"containers": [container]}, "status": {"containerStatuses": statuses}}


def one_card(container: dict[str, Any], container_status: dict[str, Any] | None = None, **kw: Any) -> ContainerCard:
    """The card of a pod's only container."""
    (card,) = container_cards(card_pod(container, container_status), NOW, **kw)
    return card


def test_cards_come_in_spec_order_with_kinds() -> None:
    pod = {
        "spec": {
            "initContainers": [
                {"name": "migrate", "image": "app:1"},
                {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
                {"name": "warm", "image": "app:1"},
            ],
            "containers": [{"name": "app", "image": "app:1"}, {"name": "metrics", "image": "exporter"}],
            "ephemeralContainers": [{"name": "debug", "image": "busybox", "targetContainerName": "app"}],
        },
        "status": {
            "initContainerStatuses": [done("migrate"), up("proxy"), done("warm")],
            "containerStatuses": [up("metrics"), up("app")],
            "ephemeralContainerStatuses": [cs("debug", "running", startedAt=ago(seconds=30))],
        },
    }
    cards = container_cards(pod, NOW)
    assert [(c.name, c.kind, c.order) for c in cards] == [
        ("migrate", "init", 1),
        ("proxy", "sidecar", 2),
        ("warm", "init", 3),
        ("app", "container", None),
        ("metrics", "container", None),
        ("debug", "ephemeral", None),
    ]
    assert [c.state_class for c in cards] == ["done", "ok", "done", "ok", "ok", "ok"]


def test_cards_of_a_pod_without_containers() -> None:
    assert container_cards({}, NOW) == []


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"command": ["sh", "-c", "echo hello && sleep 1"]}, "sh -c 'echo hello && sleep 1'"),
        ({"command": ["nginx"], "args": ["-g", "daemon off;"]}, "nginx -g 'daemon off;'"),
        ({"command": ["python", "-m", "http.server", 8000]}, "python -m http.server 8000"),
        ({}, "(image default)"),
        ({"command": [], "args": []}, "(image default)"),
        ({"args": ["--port", "80"]}, "(image default) --port 80"),
    ],
)
def test_card_command(container: dict[str, Any], expected: str) -> None:
    assert one_card({"name": "c", **container}).command == expected


STATE_CASES = {
    "no status": (None, "container", ("unknown", "No status yet", "unknown")),
    "empty state": ({"name": "c", "state": {}}, "container", ("unknown", "Unknown state", "unknown")),
    "running ready": (
        cs("c", "running", ready=True, startedAt="2026-11-22T11:55:00Z"),
        "container",
        ("running", "Running since 2026-11-22 11:55:00 UTC (5m)", "ok"),
    ),
    "running not ready": (
        cs("c", "running", startedAt="2026-11-22T11:55:00Z"),
        "container",
        ("running", "Running since 2026-11-22 11:55:00 UTC (5m)", "warn"),
    ),
    "running without a start time": (cs("c", "running", ready=True), "container", ("running", "Running", "ok")),
    "running init": (cs("c", "running"), "init", ("running", "Running", "warn")),
    "running ephemeral": (cs("c", "running"), "ephemeral", ("running", "Running", "ok")),
    "crash loop": (
        wait("c", "CrashLoopBackOff", message="back-off 40s restarting failed container=c pod=p_default(1)"),
        "container",
        ("waiting", "Waiting: CrashLoopBackOff — back-off 40s restarting failed container=c pod=p_default(1)", "error"),
    ),
    "creating": (wait("c", "ContainerCreating"), "container", ("waiting", "Waiting: ContainerCreating", "warn")),
    "initialising": (wait("c", "PodInitializing"), "container", ("waiting", "Waiting: PodInitializing", "warn")),
    "image pull": (wait("c", "ErrImagePull"), "container", ("waiting", "Waiting: ErrImagePull", "error")),
    "waiting without reason": (cs("c", "waiting"), "container", ("waiting", "Waiting", "warn")),
    "exited with error": (
        done("c", 1, "Error", finishedAt="2026-11-22T11:58:00Z"),
        "container",
        ("terminated", "Terminated: exit 1 (Error) at 2026-11-22 11:58:00 UTC", "error"),
    ),
    "completed": (
        done("c", 0, "Completed", finishedAt="2026-11-22T11:58:00Z"),
        "init",
        ("terminated", "Terminated: exit 0 (Completed) at 2026-11-22 11:58:00 UTC", "done"),
    ),
    "oom with message": (
        done("c", 137, "OOMKilled", message=" out of memory \n"),
        "container",
        ("terminated", "Terminated: exit 137 (OOMKilled) — out of memory", "error"),
    ),
    "signal": (done("c", 137, None, signal=9), "container", ("terminated", "Terminated: exit 137, signal 9", "error")),
    "terminated, nothing known": (cs("c", "terminated"), "container", ("terminated", "Terminated: exit 0", "done")),
}


@pytest.mark.parametrize(("container_status", "kind", "expected"), STATE_CASES.values(), ids=STATE_CASES.keys())
def test_card_state(container_status: dict[str, Any] | None, kind: str, expected: tuple[str, str, str]) -> None:
    spec = {"name": "c", "image": "img"}
    key = {"init": "initContainers", "ephemeral": "ephemeralContainers", "container": "containers"}[kind]
    status_key = {"init": "initContainerStatuses", "ephemeral": "ephemeralContainerStatuses"}.get(
        kind, "containerStatuses"
    )
    pod = {"spec": {key: [spec]}, "status": {status_key: [container_status] if container_status else []}}
    (card,) = container_cards(pod, NOW)
    assert (card.state, card.state_text, card.state_class) == expected


def test_card_status_fields() -> None:
    container_status = wait(
        "app", "CrashLoopBackOff", ready=False, started=False, restarts=4, last_finished="2026-11-22T11:59:20Z"
    )
    card = one_card({"name": "app", "image": "shop:2.1"}, container_status)
    assert (card.image, card.ready, card.started, card.restarts) == ("shop:2.1", False, False, 4)
    assert card.last_state_text == "Terminated: exit 1 (Error) at 2026-11-22 11:59:20 UTC"


@pytest.mark.parametrize(
    ("container_status", "started"),
    [(up("c"), True), (cs("c", "running", started=False), False), (cs("c", "running"), None), (None, None)],
)
def test_card_started(container_status: dict[str, Any] | None, started: bool | None) -> None:
    assert one_card({"name": "c"}, container_status).started is started


def test_card_of_a_container_with_only_a_name() -> None:
    card = one_card({"name": "bare"})
    assert card == ContainerCard(
        name="bare",
        kind="container",
        order=None,
        image="",
        command="(image default)",
        state="unknown",
        state_text="No status yet",
        state_class="unknown",
        ready=False,
        started=None,
        restarts=0,
        last_state_text="",
        ports=(),
        mounts=(),
        env_count=0,
        env_from=(),
        resources=(),
        probes=(),
        cpu="",
        memory="",
    )


def test_card_ports() -> None:
    ports = [
        {"containerPort": 80, "name": "http", "protocol": "TCP"},
        {"containerPort": 53, "protocol": "UDP"},
        {"containerPort": 8080, "hostPort": 30080},
    ]
    card = one_card({"name": "c", "ports": ports})
    assert card.ports == ("80/TCP (http)", "53/UDP", "8080/TCP host 30080")
    assert card.port_list == (
        ContainerPort(80, "TCP", "80/TCP (http)"),
        ContainerPort(53, "UDP", "53/UDP"),
        ContainerPort(8080, "TCP", "8080/TCP host 30080"),
    )


@pytest.mark.parametrize(
    ("port", "owner"),
    [(80, "web"), (8080, "proxy"), (53, ""), (9090, "sidecar"), (1234, "")],
)
def test_port_owner_is_the_container_declaring_the_tcp_port(port: int, owner: str) -> None:
    pod = {
        "spec": {
            "initContainers": [{"name": "sidecar", "restartPolicy": "Always", "ports": [{"containerPort": 9090}]}],
            "containers": [
                {
                    "name": "web",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}],
                },
                {"name": "proxy", "ports": [{"containerPort": 8080}]},
            ],
        }
    }
    assert port_owner(pod, port) == owner


def test_card_mounts() -> None:
    mounts = [
        {"name": "data", "mountPath": "/var/lib/data"},
        {"name": "config", "mountPath": "/etc/app/app.yaml", "subPath": "app.yaml", "readOnly": True},
        {"name": "logs", "mountPath": "/logs", "subPathExpr": "$(POD_NAME)"},
    ]
    assert one_card({"name": "c", "volumeMounts": mounts}).mounts == (
        Mount("data", "/var/lib/data", False, ""),
        Mount("config", "/etc/app/app.yaml", True, "app.yaml"),
        Mount("logs", "/logs", False, "$(POD_NAME)"),
    )


def test_card_env() -> None:
    container = {
        "name": "c",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "db"}, "prefix": "DB_"}, {}],
    }
    card = one_card(container)
    assert card.env_count == 2
    assert card.env_from == ("configMap settings", "secret db (prefix DB_)", "unknown source")


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, ()),
        ({"requests": {"cpu": "100m"}}, (("cpu request", "100m"),)),
        (
            {
                "requests": {"memory": "64Mi", "cpu": "100m"},
                "limits": {"nvidia.com/gpu": 1, "memory": "128Mi", "ephemeral-storage": "1Gi"},
            },
            (
                ("cpu request", "100m"),
                ("memory request", "64Mi"),
                ("memory limit", "128Mi"),
                ("ephemeral-storage limit", "1Gi"),
                ("nvidia.com/gpu limit", "1"),
            ),
        ),
    ],
)
def test_card_resources(resources: dict[str, Any], expected: tuple[tuple[str, str], ...]) -> None:
    assert one_card({"name": "c", "resources": resources}).resources == expected


@pytest.mark.parametrize(
    ("probe", "expected"),
    [
        ({"httpGet": {"path": "/", "port": 80}}, "http-get :80/ delay 0s period 10s"),
        (
            {"httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"}, "timeoutSeconds": 3},
            "http-get https://:https/healthz delay 0s timeout 3s period 10s",
        ),
        ({"httpGet": {"port": 8080, "host": "127.0.0.1"}}, "http-get 127.0.0.1:8080/ delay 0s period 10s"),
        (
            {"exec": {"command": ["cat", "/tmp/healthy"]}, "initialDelaySeconds": 5, "periodSeconds": 5},
            "exec cat /tmp/healthy delay 5s period 5s",
        ),
        (
            {"exec": {"command": ["sh", "-c", "pg_isready -U app"]}},
            "exec sh -c 'pg_isready -U app' delay 0s period 10s",
        ),
        ({"tcpSocket": {"port": 6379}}, "tcp-socket :6379 delay 0s period 10s"),
        ({"grpc": {"port": 9000}}, "grpc :9000 delay 0s period 10s"),
        ({"grpc": {"port": 9000, "service": "health"}}, "grpc :9000 service health delay 0s period 10s"),
        (
            {"tcpSocket": {"port": 5432}, "successThreshold": 2, "failureThreshold": 30, "timeoutSeconds": 1},
            "tcp-socket :5432 delay 0s period 10s success 2 failure 30",
        ),
        ({"periodSeconds": 10}, "unknown action delay 0s period 10s"),
    ],
)
def test_card_probe_text(probe: dict[str, Any], expected: str) -> None:
    assert one_card({"name": "c", "readinessProbe": probe}).probes == (("readiness", expected),)


def test_card_probes_in_kubectl_describe_order() -> None:
    container = {
        "name": "c",
        "startupProbe": {"tcpSocket": {"port": 80}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 80}},
        "livenessProbe": {"exec": {"command": ["true"]}},
    }
    assert [kind for kind, _ in one_card(container).probes] == ["liveness", "readiness", "startup"]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (None, ("", "")),
        ({}, ("", "")),
        ({"cpu": "1234567n", "memory": "52428800"}, ("2m", "50Mi")),
        ({"cpu": "3m", "memory": "12Mi"}, ("3m", "12Mi")),
        ({"cpu": "1", "memory": "1Gi"}, ("1", "1Gi")),
        ({"cpu": "250u", "memory": "204800Ki"}, ("1m", "200Mi")),
        ({"cpu": "0.5", "memory": "1e9"}, ("500m", "953.7Mi")),
        ({"cpu": "lots", "memory": ""}, ("lots", "")),
    ],
)
def test_card_usage_from_metrics(usage: dict[str, str] | None, expected: tuple[str, str]) -> None:
    metrics = None if usage is None else {"c": usage, "other": {"cpu": "9", "memory": "9Gi"}}
    card = one_card({"name": "c"}, metrics=metrics)
    assert (card.cpu, card.memory) == expected
