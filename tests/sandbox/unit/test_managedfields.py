"""Field ownership and server-side apply, checked against managedFields the real apiserver wrote."""

from __future__ import annotations

import copy

import pytest

from sandbox.api.managedfields import apply, fields_of, record_update
from sandbox.errors import ApiError

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"


def _entry(obj: dict, manager: str, operation: str = "Apply") -> dict:
    return next(e for e in obj["metadata"]["managedFields"] if (e["manager"], e["operation"]) == (manager, operation))


def _managers(obj: dict) -> list[tuple[str, str]]:
    return [(e["manager"], e["operation"]) for e in obj["metadata"]["managedFields"]]


def _intent(image: str = "nginx:1.25", **labels: str) -> dict:
    """What `kubectl apply --server-side` sends for a small two-container pod."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": labels or {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "image": image,
                    "env": [{"name": "MODE", "value": "prod"}],
                    "ports": [{"containerPort": 80}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                },
                {"name": "sidecar", "image": "busybox:1.36"},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


def _stored(obj: dict) -> dict:
    """The object as the store keeps it after create: server-owned metadata filled in."""
    stored = copy.deepcopy(obj)
    stored["metadata"].update(uid="u-1", resourceVersion="1", creationTimestamp=T0)
    stored["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    return stored


# -- the fieldsV1 format ------------------------------------------------------------------------


def test_fields_of_matches_a_real_server_side_apply_of_a_pod():
    """`kubectl run nginx --image=nginx --dry-run=client -o yaml | kubectl apply --server-side -f -`,
    whose managedFields entry was published in a public bug report."""
    intent = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "creationTimestamp": None,
            "labels": {"run": "nginx"},
            "name": "nginx",
            "namespace": "default",
        },
        "spec": {
            "containers": [{"image": "nginx", "name": "nginx", "resources": {}}],
            "dnsPolicy": "ClusterFirst",
            "restartPolicy": "Never",
        },
        "status": {},
    }
    assert fields_of(intent, "Pod") == {
        "f:metadata": {"f:labels": {"f:run": {}}},
        "f:spec": {
            "f:containers": {'k:{"name":"nginx"}': {".": {}, "f:image": {}, "f:name": {}, "f:resources": {}}},
            "f:dnsPolicy": {},
            "f:restartPolicy": {},
        },
    }


def test_record_update_on_create_matches_a_real_client_side_apply():
    """The entry a real apiserver wrote when client-side `kubectl apply` created nginx:1.14.2 with port 80."""
    created = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "uid": "eae00ed2",
            "creationTimestamp": T0,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
        },
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1.14.2",
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
            "enableServiceLinks": True,
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }
    container = {
        ".": {},
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:name": {},
        "f:ports": {
            ".": {},
            'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}, "f:protocol": {}},
        },
        "f:resources": {},
        "f:terminationMessagePath": {},
        "f:terminationMessagePolicy": {},
    }
    assert record_update(None, created, "kubectl-client-side-apply", "Pod", T0) == [
        {
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:annotations": {".": {}, "f:kubectl.kubernetes.io/last-applied-configuration": {}}},
                "f:spec": {
                    "f:containers": {'k:{"name":"nginx"}': container},
                    "f:dnsPolicy": {},
                    "f:enableServiceLinks": {},
                    "f:restartPolicy": {},
                    "f:schedulerName": {},
                    "f:securityContext": {},
                    "f:terminationGracePeriodSeconds": {},
                },
            },
        }
    ]


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "selfLink",
        "managedFields",
    ],
)
def test_fields_of_leaves_out_server_owned_metadata(field):
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {field: "x", "labels": {"a": "b"}},
        "data": {"k": "v"},
    }
    assert fields_of(obj, "ConfigMap") == {"f:data": {"f:k": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}


LIST_ITEM_CASES = [
    (
        "Pod",
        {"metadata": {"finalizers": ["example.com/a"]}},
        {"f:metadata": {"f:finalizers": {'v:"example.com/a"': {}}}},
    ),
    # OwnerReference is +structType=atomic: the item is owned whole.
    (
        "Pod",
        {"metadata": {"ownerReferences": [{"uid": "u", "kind": "ReplicaSet", "name": "rs"}]}},
        {"f:metadata": {"f:ownerReferences": {'k:{"uid":"u"}': {}}}},
    ),
    (
        "Service",
        {"spec": {"ports": [{"port": 53, "protocol": "UDP", "targetPort": 5353}]}},
        {
            "f:spec": {
                "f:ports": {
                    'k:{"port":53,"protocol":"UDP"}': {
                        ".": {},
                        "f:port": {},
                        "f:protocol": {},
                        "f:targetPort": {},
                    }
                }
            }
        },
    ),
    (
        "Pod",
        {
            "spec": {
                "containers": [
                    {
                        "name": "c",
                        "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                    }
                ]
            }
        },
        {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"c"}': {
                        ".": {},
                        "f:env": {'k:{"name":"N"}': {".": {}, "f:name": {}, "f:valueFrom": {"f:fieldRef": {}}}},
                        "f:name": {},
                    }
                }
            }
        },
    ),
    (
        "Pod",
        {
            "spec": {
                "nodeSelector": {"disk": "ssd"},
                "tolerations": [{"key": "a"}],
                "initContainers": [{"name": "i", "command": ["sh"]}],
            }
        },
        {
            "f:spec": {
                "f:initContainers": {'k:{"name":"i"}': {".": {}, "f:command": {}, "f:name": {}}},
                "f:nodeSelector": {},
                "f:tolerations": {},
            }
        },
    ),
    (
        "Node",
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}},
        {},
    ),
    (
        "ServiceAccount",
        {"secrets": [{"name": "token"}], "imagePullSecrets": [{"name": "pull"}]},
        {"f:imagePullSecrets": {}, "f:secrets": {'k:{"name":"token"}': {}}},
    ),
]


@pytest.mark.parametrize(("kind", "obj", "expected"), LIST_ITEM_CASES)
def test_fields_of_names_list_items_by_their_keys(kind, obj, expected):
    assert fields_of(obj, kind) == expected


def test_fields_of_splits_spec_and_status_by_subresource():
    pod = {
        "spec": {"nodeName": "n"},
        "status": {"podIPs": [{"ip": "10.1.0.5"}], "hostIPs": [{"ip": "10.0.0.1"}]},
    }
    assert fields_of(pod, "Pod") == {"f:spec": {"f:nodeName": {}}}
    assert fields_of(pod, "Pod", subresource="status") == {
        "f:status": {"f:hostIPs": {}, "f:podIPs": {'k:{"ip":"10.1.0.5"}': {".": {}, "f:ip": {}}}}
    }
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    assert fields_of(node, "Node", subresource="status") == {
        "f:status": {"f:addresses": {'k:{"type":"InternalIP"}': {".": {}, "f:address": {}, "f:type": {}}}}
    }


# -- record_update ------------------------------------------------------------------------------


def _created(manager: str = "kubectl-create") -> dict:
    pod = _stored(_intent())
    pod["metadata"]["managedFields"] = record_update(None, pod, manager, "Pod", T0)
    return pod


def test_record_update_moves_changed_fields_to_the_writer():
    old = _created()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    managed = record_update(old, new, "kubectl-set", "Pod", T1)
    assert [(e["manager"], e["time"]) for e in managed] == [("kubectl-create", T0), ("kubectl-set", T1)]
    creator, setter = (e["fieldsV1"] for e in managed)
    assert setter == {"f:spec": {"f:containers": {'k:{"name":"nginx"}': {"f:image": {}}}}}
    assert "f:image" not in creator["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert "f:image" in creator["f:spec"]["f:containers"]['k:{"name":"sidecar"}']


def test_record_update_drops_managers_left_without_fields():
    old = _created()
    old["metadata"]["managedFields"].append(
        {
            "manager": "labeler",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}},
        }
    )
    new = copy.deepcopy(old)
    del new["metadata"]["labels"]["app"]
    assert [e["manager"] for e in record_update(old, new, "kubectl-edit", "Pod", T1)] == ["kubectl-create"]


def test_record_update_without_changes_keeps_the_entries():
    old = _created()
    assert record_update(old, copy.deepcopy(old), "kubectl-replace", "Pod", T1) == old["metadata"]["managedFields"]


def test_record_update_through_status_owns_only_status():
    old = _created()
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    new["spec"]["nodeName"] = "ignored-by-status"
    managed = record_update(old, new, "kubelet", "Pod", T1, subresource="status")
    kubelet = next(e for e in managed if e["manager"] == "kubelet")
    assert kubelet["subresource"] == "status"
    assert kubelet["fieldsV1"] == {
        "f:status": {
            "f:conditions": {".": {}, 'k:{"type":"Ready"}': {".": {}, "f:status": {}, "f:type": {}}},
            "f:phase": {},
        }
    }


def test_record_update_never_owns_spec_or_status_whole():
    old = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}
    new = {**old, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
    [entry] = record_update(old, new, "kubectl-edit", "Namespace", T1)
    assert entry["fieldsV1"] == {"f:spec": {"f:finalizers": {}}}
    [entry] = record_update(old, new, "kube-controller-manager", "Namespace", T1, subresource="status")
    assert entry["fieldsV1"] == {"f:status": {"f:phase": {}}}


def test_record_update_takes_managed_fields_the_client_sent():
    old = _created()
    migrated = copy.deepcopy(old)
    migrated["metadata"]["managedFields"][0]["manager"] = "kubectl"
    assert [e["manager"] for e in record_update(old, migrated, "kubectl", "Pod", T1)] == ["kubectl"]
    cleared = copy.deepcopy(old)
    cleared["metadata"]["managedFields"] = [{}]
    assert record_update(old, cleared, "kubectl", "Pod", T1) == []


def test_record_update_does_not_touch_its_inputs():
    old = _created()
    new = copy.deepcopy(old)
    new["metadata"]["labels"]["tier"] = "front"
    before = copy.deepcopy((old, new))
    record_update(old, new, "kubectl-label", "Pod", T1)
    assert (old, new) == before


# -- apply --------------------------------------------------------------------------------------


def test_apply_creates_with_an_apply_entry():
    intent = _intent()
    intent["status"] = {"phase": "Succeeded"}
    obj = apply(None, intent, "kubectl", "Pod", T0, force=False)
    assert obj["spec"] == _intent()["spec"]
    assert "status" not in obj
    [entry] = obj["metadata"]["managedFields"]
    nginx = {
        ".": {},
        "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
        "f:image": {},
        "f:name": {},
        "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
        "f:volumeMounts": {'k:{"mountPath":"/data"}': {".": {}, "f:mountPath": {}, "f:name": {}}},
    }
    assert entry == {
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "v1",
        "time": T0,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:containers": {
                    'k:{"name":"nginx"}': nginx,
                    'k:{"name":"sidecar"}': {".": {}, "f:image": {}, "f:name": {}},
                },
                "f:volumes": {'k:{"name":"data"}': {".": {}, "f:emptyDir": {}, "f:name": {}}},
            },
        },
    }


def test_apply_twice_gives_an_identical_object():
    first = _stored(apply(None, _intent(), "kubectl", "Pod", T0, force=False))
    second = apply(first, _intent(), "kubectl", "Pod", T1, force=False)
    assert second == first


def test_apply_updates_the_time_only_when_the_object_changes():
    first = _stored(apply(None, _intent(), "kubectl", "Pod", T0, force=False))
    changed = apply(first, _intent(image="nginx:1.26"), "kubectl", "Pod", T1, force=False)
    assert _entry(changed, "kubectl")["time"] == T1
    assert changed["spec"]["containers"][0]["image"] == "nginx:1.26"


def test_apply_removes_fields_dropped_from_the_intent():
    first = _stored(apply(None, _intent(app="web", tier="front"), "kubectl", "Pod", T0, force=False))
    smaller = _intent(app="web")
    del smaller["spec"]["containers"][1]
    smaller["spec"]["containers"][0]["env"] = []
    result = apply(first, smaller, "kubectl", "Pod", T1, force=False)
    assert result["metadata"]["labels"] == {"app": "web"}
    assert [c["name"] for c in result["spec"]["containers"]] == ["nginx"]
    assert "env" not in result["spec"]["containers"][0] or result["spec"]["containers"][0]["env"] == []
    assert 'k:{"name":"sidecar"}' not in _entry(result, "kubectl")["fieldsV1"]["f:spec"]["f:containers"]


def test_apply_keeps_dropped_fields_another_manager_owns():
    first = _stored(apply(None, _intent(app="web", tier="front"), "kubectl", "Pod", T0, force=False))
    labeled = copy.deepcopy(first)
    labeled["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-label",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:tier": {}}}},
        }
    )
    result = apply(labeled, _intent(app="web"), "kubectl", "Pod", T2, force=False)
    assert result["metadata"]["labels"] == {"app": "web", "tier": "front"}


def _edited() -> dict:
    """A pod applied by kubectl whose first image someone then changed with an Update."""
    first = _stored(apply(None, _intent(), "kubectl", "Pod", T0, force=False))
    edited = copy.deepcopy(first)
    edited["spec"]["containers"][0]["image"] = "nginx:edited"
    edited["metadata"]["managedFields"] = record_update(first, edited, "kubectl-client-side-apply", "Pod", T1)
    return edited


def test_apply_conflicts_with_a_field_another_manager_changed():
    with pytest.raises(ApiError) as caught:
        apply(_edited(), _intent(image="nginx:1.27"), "kubectl", "Pod", T2, force=False)
    assert caught.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
        '.spec.containers[name="nginx"].image',
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "kubectl-client-side-apply" using v1',
                    "field": '.spec.containers[name="nginx"].image',
                }
            ]
        },
        "code": 409,
    }


def test_apply_with_force_takes_ownership():
    result = apply(_edited(), _intent(image="nginx:1.27"), "kubectl", "Pod", T2, force=True)
    assert result["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert _managers(result) == [("kubectl", "Apply")]
    assert "f:image" in _entry(result, "kubectl")["fieldsV1"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']


def test_apply_shares_fields_whose_value_it_keeps():
    edited = _edited()
    result = apply(edited, _intent(image="nginx:edited"), "other-applier", "Pod", T2, force=False)
    # Nothing changed, so the new applier's entry has no time and sorts first among the appliers.
    assert _managers(result) == [
        ("other-applier", "Apply"),
        ("kubectl", "Apply"),
        ("kubectl-client-side-apply", "Update"),
    ]
    assert "time" not in _entry(result, "other-applier")
    image_owner = _entry(result, "kubectl-client-side-apply", "Update")["fieldsV1"]["f:spec"]["f:containers"]
    assert image_owner == {'k:{"name":"nginx"}': {"f:image": {}}}


def test_apply_lists_several_conflicts_by_manager():
    edited = _edited()
    edited["metadata"]["managedFields"].append(
        {
            "manager": "a-labeler",
            "operation": "Update",
            "apiVersion": "v1",
            "time": T1,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"sidecar"}': {"f:image": {}}}},
            },
        }
    )
    intent = _intent(image="nginx:1.27", app="api")
    intent["spec"]["containers"][1]["image"] = "busybox:1.37"
    with pytest.raises(ApiError) as caught:
        apply(edited, intent, "kubectl", "Pod", T2, force=False)
    assert caught.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "a-labeler" using v1:\n'
        "- .metadata.labels.app\n"
        '- .spec.containers[name="sidecar"].image\n'
        'conflicts with "kubectl-client-side-apply" using v1:\n'
        '- .spec.containers[name="nginx"].image'
    )
    assert [c["field"] for c in caught.value.details["causes"]] == [
        ".metadata.labels.app",
        '.spec.containers[name="sidecar"].image',
        '.spec.containers[name="nginx"].image',
    ]


def test_apply_to_an_unmanaged_object_conflicts_with_before_first_apply():
    unmanaged = _stored(_intent())
    with pytest.raises(ApiError) as caught:
        apply(unmanaged, _intent(image="nginx:1.27"), "kubectl", "Pod", T1, force=False)
    assert caught.value.details["causes"][0]["message"] == 'conflict with "before-first-apply" using v1'


def test_apply_rejects_managed_fields_in_the_intent():
    intent = _intent()
    intent["metadata"]["managedFields"] = []
    with pytest.raises(ApiError) as caught:
        apply(None, intent, "kubectl", "Pod", T0, force=False)
    assert (caught.value.code, caught.value.message) == (400, "metadata.managedFields must be nil")


def test_apply_merges_into_fields_it_does_not_manage():
    live = _created("kubectl-create")
    live["metadata"]["finalizers"] = ["example.com/keep"]
    live["metadata"]["managedFields"] = record_update(_created(), live, "kubectl-edit", "Pod", T1)
    intent = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "finalizers": ["example.com/mine"]},
        "spec": {"containers": [{"name": "sidecar", "env": [{"name": "X", "value": "1"}]}]},
    }
    result = apply(live, intent, "sidecar-injector", "Pod", T2, force=False)
    assert result["metadata"]["finalizers"] == ["example.com/keep", "example.com/mine"]
    assert [c["name"] for c in result["spec"]["containers"]] == ["nginx", "sidecar"]
    assert result["spec"]["containers"][1] == {
        "name": "sidecar",
        "image": "busybox:1.36",
        "env": [{"name": "X", "value": "1"}],
    }
    assert _managers(result)[0] == ("sidecar-injector", "Apply")


def test_noop_apply_by_a_new_manager_records_no_time():
    """As the apiserver does for kubectl-last-applied when the annotation is already there."""
    first = _stored(apply(None, _intent(), "kubectl", "Pod", T0, force=False))
    result = apply(
        first,
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "web"}}},
        "late",
        "Pod",
        T1,
        force=False,
    )
    assert "time" not in _entry(result, "late")
    assert _managers(result) == [("late", "Apply"), ("kubectl", "Apply")]


def test_apply_does_not_touch_its_inputs():
    live = _edited()
    intent = _intent(image="nginx:1.27")
    before = copy.deepcopy((live, intent))
    apply(live, intent, "kubectl", "Pod", T2, force=True)
    assert (live, intent) == before
