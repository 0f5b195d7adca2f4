"""The kubelet's phase and condition rules over container states."""

from __future__ import annotations

import pytest

from sandbox.runtime import status as st

RUNNING = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
CREATING = {"waiting": {"reason": "ContainerCreating"}}
BACKOFF = {"waiting": {"reason": "CrashLoopBackOff"}}


def done(code: int = 0) -> dict:
    return {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error"}}


def record(name: str, kind: str, state: dict, *, last: dict | None = None, ready: bool = False, started: bool = False):
    return st.ContainerRecord(name, kind, "img", state=state, last_state=last or {}, ready=ready, started=started)


@pytest.mark.parametrize(
    ("policy", "records", "expected"),
    [
        ("Always", [record("a", st.MAIN, CREATING)], "Pending"),
        ("Always", [record("a", st.MAIN, RUNNING), record("b", st.MAIN, CREATING)], "Pending"),
        ("Always", [record("a", st.MAIN, RUNNING), record("b", st.MAIN, RUNNING)], "Running"),
        ("Always", [record("a", st.MAIN, BACKOFF, last=done(1))], "Running"),
        ("Always", [record("a", st.MAIN, done(0))], "Running"),
        ("Never", [record("a", st.MAIN, done(0)), record("b", st.MAIN, done(0))], "Succeeded"),
        ("Never", [record("a", st.MAIN, done(0)), record("b", st.MAIN, done(2))], "Failed"),
        ("OnFailure", [record("a", st.MAIN, done(0))], "Succeeded"),
        ("OnFailure", [record("a", st.MAIN, BACKOFF, last=done(1))], "Running"),
        ("Always", [record("i", st.INIT, RUNNING), record("a", st.MAIN, CREATING)], "Pending"),
        ("Never", [record("i", st.INIT, done(1)), record("a", st.MAIN, CREATING)], "Failed"),
        ("Always", [record("i", st.INIT, BACKOFF, last=done(1)), record("a", st.MAIN, CREATING)], "Pending"),
        ("Always", [record("i", st.INIT, done(0)), record("a", st.MAIN, RUNNING)], "Running"),
        ("Always", [record("s", st.SIDECAR, RUNNING, started=False), record("a", st.MAIN, CREATING)], "Pending"),
        ("Always", [record("s", st.SIDECAR, RUNNING, started=True), record("a", st.MAIN, RUNNING)], "Running"),
        ("Never", [record("s", st.SIDECAR, RUNNING, started=True), record("a", st.MAIN, done(0))], "Succeeded"),
    ],
    ids=[
        "creating",
        "one-of-two-up",
        "all-running",
        "crash-looping",
        "always-restarts-completed",
        "never-all-succeeded",
        "never-one-failed",
        "onfailure-succeeded",
        "onfailure-restarting",
        "init-running",
        "init-failed-never",
        "init-crash-looping",
        "initialised",
        "sidecar-not-started",
        "sidecar-and-app",
        "sidecar-outlives-job",
    ],
)
def test_phase(policy: str, records: list[st.ContainerRecord], expected: str):
    assert st.phase(policy, records) == expected


def test_conditions_name_the_unready_and_uninitialised_containers():
    records = [
        record("init", st.INIT, RUNNING),
        record("web", st.MAIN, CREATING),
        record("proxy", st.MAIN, CREATING),
    ]
    got = {c["type"]: c for c in st.conditions(records, sandbox_ready=True, terminal=None, readiness_gates=[])}
    assert got["PodReadyToStartContainers"]["status"] == "True"
    assert got["Initialized"] == {
        "type": "Initialized",
        "status": "False",
        "lastProbeTime": None,
        "reason": "ContainersNotInitialized",
        "message": "containers with incomplete status: [init]",
    }
    assert got["Ready"]["message"] == "containers with unready status: [web proxy]"
    assert got["ContainersReady"]["reason"] == "ContainersNotReady"


def test_ready_when_every_container_is_ready():
    records = [record("web", st.MAIN, RUNNING, ready=True), record("s", st.SIDECAR, RUNNING, ready=True, started=True)]
    got = {c["type"]: c["status"] for c in st.conditions(records, True, None, [])}
    assert got == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
    }


def test_succeeded_pod_is_not_ready_with_pod_completed():
    records = [record("job", st.MAIN, done(0))]
    ready = next(c for c in st.conditions(records, True, "Succeeded", []) if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "PodCompleted"


def test_merge_keeps_transition_times_of_unchanged_conditions():
    before = [
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": "T0"},
        {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": "T1"},
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": "T1"},
    ]
    fresh = [
        {"type": "Ready", "status": "True", "lastProbeTime": None},
        {"type": "Initialized", "status": "True", "lastProbeTime": None},
    ]
    merged = st.merge_conditions(before, fresh, "T2")
    assert [(c["type"], c["lastTransitionTime"]) for c in merged] == [
        ("Initialized", "T1"),
        ("Ready", "T2"),
        ("PodScheduled", "T0"),
    ]
