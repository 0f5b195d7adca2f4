"""The store: resourceVersions, conflicts, watch resume and expiry, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox import errors
from sandbox.store import ADDED, DELETED, MODIFIED, Store


def cm(name: str, namespace: str = "default", **data: str) -> dict:
    return {"metadata": {"name": name, "namespace": namespace}, "data": dict(data)}


def test_every_write_bumps_one_global_resource_version():
    store = Store()
    versions = [store.create("configmaps", cm("a"))["metadata"]["resourceVersion"]]
    versions.append(store.create("secrets", cm("b"))["metadata"]["resourceVersion"])
    versions.append(store.update("configmaps", cm("a", k="v"))["metadata"]["resourceVersion"])
    versions.append(store.delete("secrets", "default", "b")["metadata"]["resourceVersion"])
    assert versions == ["1", "2", "3", "4"]
    assert store.resource_version == "4"


def test_create_stamps_identity_and_rejects_duplicates():
    store = Store()
    made = store.create("configmaps", cm("a"))
    assert made["metadata"]["uid"]
    assert made["metadata"]["creationTimestamp"].endswith("Z")
    with pytest.raises(errors.ApiError) as caught:
        store.create("configmaps", cm("a"))
    assert caught.value.code == 409
    assert caught.value.message == 'configmaps "a" already exists'


def test_update_with_stale_version_is_a_conflict():
    store = Store()
    made = store.create("configmaps", cm("a"))
    stale = dict(made, metadata={**made["metadata"]})
    made["data"] = {"x": "1"}
    store.update("configmaps", made)
    stale["data"] = {"x": "2"}
    with pytest.raises(errors.ApiError) as caught:
        store.update("configmaps", stale)
    assert caught.value.code == 409
    assert caught.value.reason == "Conflict"


def test_update_without_change_keeps_the_version():
    store = Store()
    made = store.create("configmaps", cm("a", k="v"))
    again = store.update("configmaps", {**made, "metadata": {**made["metadata"]}})
    assert again["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]


def test_update_keeps_server_owned_metadata():
    store = Store()
    made = store.create("configmaps", cm("a"))
    forged = cm("a", k="v")
    forged["metadata"]["uid"] = "forged"
    forged["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z"
    updated = store.update("configmaps", forged)
    assert updated["metadata"]["uid"] == made["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == made["metadata"]["creationTimestamp"]


def test_generation_is_kept_unless_the_writer_moves_it_on():
    store = Store()
    obj = store.create("pods", {"metadata": {"name": "p", "namespace": "d"}, "spec": {"a": 1}, "status": {}})
    assert obj["metadata"]["generation"] == 1
    obj["spec"] = {"a": 2, "nodeName": "n"}
    del obj["metadata"]["generation"]
    obj = store.update("pods", obj)
    assert obj["metadata"]["generation"] == 1
    obj["metadata"]["generation"] = 2
    assert store.update("pods", obj)["metadata"]["generation"] == 2


def test_list_is_sorted_and_filtered_by_namespace():
    store = Store()
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y")]:
        store.create("configmaps", cm(name, ns))
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in store.list("configmaps")] == [
        ("a", "y"),
        ("a", "z"),
        ("b", "x"),
    ]
    assert [o["metadata"]["name"] for o in store.list("configmaps", "a")] == ["y", "z"]


async def test_watch_resumes_from_a_version_and_sees_live_changes():
    store = Store()
    first = store.create("configmaps", cm("a"))
    since = int(first["metadata"]["resourceVersion"])
    store.create("configmaps", cm("b"))
    watcher = store.watch("configmaps", since=since)
    store.delete("configmaps", "default", "a")
    got = [await watcher.queue.get(), await watcher.queue.get()]
    assert [(c.type, c.object["metadata"]["name"]) for c in got] == [(ADDED, "b"), (DELETED, "a")]
    assert int(got[1].object["metadata"]["resourceVersion"]) > since


async def test_watch_is_scoped_to_resource_and_namespace():
    store = Store()
    watcher = store.watch("configmaps", namespace="mine")
    store.create("configmaps", cm("other", "theirs"))
    store.create("secrets", cm("secret", "mine"))
    store.create("configmaps", cm("ours", "mine"))
    change = await watcher.queue.get()
    assert change.object["metadata"]["name"] == "ours"
    assert watcher.queue.empty()


def test_watch_from_a_version_older_than_history_is_expired():
    store = Store(history=3)
    for i in range(5):
        store.create("configmaps", cm(f"c{i}"))
    with pytest.raises(errors.ApiError) as caught:
        store.watch("configmaps", since=1)
    assert caught.value.code == 410
    assert caught.value.message == "too old resource version: 1 (3)"
    store.watch("configmaps", since=3)


async def test_modified_change_carries_the_previous_object():
    store = Store()
    made = store.create("configmaps", cm("a", k="1"))
    watcher = store.watch("configmaps")
    made["data"] = {"k": "2"}
    store.update("configmaps", made)
    change = await watcher.queue.get()
    assert change.type == MODIFIED
    assert change.previous is not None
    assert change.previous["data"] == {"k": "1"}
    assert change.object["data"] == {"k": "2"}


async def test_stopped_watch_reads_none():
    store = Store()
    watcher = store.watch("configmaps")
    store.stop_watch(watcher)
    assert await watcher.queue.get() is None
    assert store.watcher_count() == 0


def test_objects_and_version_persist(tmp_path: Path):
    path = tmp_path / "objects.db"
    store = Store(path)
    made = store.create("configmaps", cm("kept", k="v"))
    store.create("configmaps", cm("dropped"))
    store.delete("configmaps", "default", "dropped")
    rv = store.resource_version
    store.close()
    reopened = Store(path)
    assert reopened.get("configmaps", "default", "kept") == made
    assert reopened.find("configmaps", "default", "dropped") is None
    assert reopened.resource_version == rv
    with pytest.raises(errors.ApiError) as caught:
        reopened.watch("configmaps", since=1)
    assert caught.value.code == 410
