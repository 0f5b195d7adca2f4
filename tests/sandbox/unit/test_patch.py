"""JSON patch, JSON merge patch and strategic merge patch, checked against the RFCs and the apiserver."""

from __future__ import annotations

import copy
import json

import pytest

from sandbox.api.patch import json_patch, list_schema, merge_patch, strategic_merge_patch
from sandbox.errors import ApiError

# -- JSON patch (RFC 6902 appendix A) -----------------------------------------------------------

RFC6902_CASES = [
    (
        "add_object_member",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "add_array_element",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    (
        "remove_object_member",
        {"baz": "qux", "foo": "bar"},
        [{"op": "remove", "path": "/baz"}],
        {"foo": "bar"},
    ),
    (
        "remove_array_element",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "replace_value",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "move_value",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "move_array_element",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "test_success",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "add_nested_member_object",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "ignore_unrecognized_elements",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    (
        "escape_ordering",
        {"/": 9, "~1": 10},
        [{"op": "test", "path": "/~01", "value": 10}],
        {"/": 9, "~1": 10},
    ),
    (
        "add_array_value",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
    (
        "copy_value",
        {"a": {"b": 1}},
        [{"op": "copy", "from": "/a", "path": "/c"}],
        {"a": {"b": 1}, "c": {"b": 1}},
    ),
    (
        "pointer_escapes",
        {"metadata": {"labels": {"app.kubernetes.io/name": "web", "a~b": "1"}}},
        [
            {"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1name", "value": "api"},
            {"op": "remove", "path": "/metadata/labels/a~0b"},
        ],
        {"metadata": {"labels": {"app.kubernetes.io/name": "api"}}},
    ),
    # json-patch.v4 accepts negative indexes for add and remove, counting from the end.
    ("negative_index_add", {"l": [1, 2]}, [{"op": "add", "path": "/l/-1", "value": 3}], {"l": [1, 2, 3]}),
    ("negative_index_remove", {"l": [1, 2, 3]}, [{"op": "remove", "path": "/l/-1"}], {"l": [1, 2]}),
    # json-patch.v4 reads a missing member as null.
    ("test_missing_member_is_null", {"a": 1}, [{"op": "test", "path": "/b", "value": None}], {"a": 1}),
]


@pytest.mark.parametrize(("doc", "ops", "expected"), [c[1:] for c in RFC6902_CASES], ids=[c[0] for c in RFC6902_CASES])
def test_json_patch_applies_rfc6902_examples(doc, ops, expected):
    assert json_patch(doc, ops) == expected


FAILING_OPS = [
    ("test_fails", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),
    ("add_to_nonexistent_target", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),
    ("string_is_not_number", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),
    ("remove_missing_member", {"a": 1}, [{"op": "remove", "path": "/b"}]),
    ("replace_missing_member", {"a": 1}, [{"op": "replace", "path": "/b", "value": 2}]),
    ("move_from_missing_member", {"a": 1}, [{"op": "move", "from": "/b", "path": "/c"}]),
    ("index_out_of_range", {"l": [1]}, [{"op": "add", "path": "/l/3", "value": 2}]),
    ("unknown_op", {"a": 1}, [{"op": "frobnicate", "path": "/a"}]),
    ("root_path", {"a": 1}, [{"op": "add", "path": "", "value": {}}]),
    ("test_number_against_float_text", {"a": 1}, [{"op": "test", "path": "/a", "value": 1.0}]),
]


@pytest.mark.parametrize(("doc", "ops"), [c[1:] for c in FAILING_OPS], ids=[c[0] for c in FAILING_OPS])
def test_json_patch_failure_answers_like_the_apiserver(doc, ops):
    with pytest.raises(ApiError) as caught:
        json_patch(doc, ops)
    assert caught.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "details": {},
        "code": 422,
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("x", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
    ],
)
def test_json_patch_rejects_a_body_that_is_not_an_operation_list(body, message):
    with pytest.raises(ApiError) as caught:
        json_patch({}, body)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (400, "BadRequest", message)


def test_json_patch_does_not_touch_its_inputs():
    doc, ops = {"a": {"b": [1]}}, [{"op": "add", "path": "/a/b/-", "value": {"c": 2}}]
    before = copy.deepcopy((doc, ops))
    result = json_patch(doc, ops)
    result["a"]["b"][1]["c"] = 3
    assert (doc, ops) == before


def test_json_patch_failure_leaves_the_document_unchanged():
    doc = {"a": 1}
    with pytest.raises(ApiError):
        json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 9}])
    assert doc == {"a": 1}


# -- JSON merge patch (RFC 7386 appendix A) -----------------------------------------------------

RFC7386_CASES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ({"a": "foo"}, {"a": {"b": "c"}}, {"a": {"b": "c"}}),
]


@pytest.mark.parametrize(("doc", "patch", "expected"), RFC7386_CASES)
def test_merge_patch_applies_rfc7386_examples(doc, patch, expected):
    assert merge_patch(doc, patch) == expected


def test_merge_patch_replaces_lists_and_keeps_inputs():
    doc = {
        "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]},
        "metadata": {"labels": {"k": "v"}},
    }
    patch = {
        "spec": {"containers": [{"name": "a", "image": "y"}]},
        "metadata": {"labels": {"k": None, "n": "m"}},
    }
    before = copy.deepcopy((doc, patch))
    assert merge_patch(doc, patch) == {
        "spec": {"containers": [{"name": "a", "image": "y"}]},
        "metadata": {"labels": {"n": "m"}},
    }
    assert (doc, patch) == before


def test_merge_patch_rejects_a_patch_that_is_not_an_object():
    with pytest.raises(ApiError) as caught:
        merge_patch({}, [1])
    assert (caught.value.code, caught.value.message) == (400, "Invalid JSON Patch")


# -- strategic merge patch ----------------------------------------------------------------------


def _pod() -> dict:
    """A live pod with two containers, env, ports, mounts and volumes, as the API serves it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": "nginx:1.25",
                    "command": ["nginx", "-g", "daemon off;"],
                    "env": [{"name": "MODE", "value": "prod"}, {"name": "PORT", "value": "80"}],
                    "ports": [
                        {"containerPort": 80, "protocol": "TCP"},
                        {"containerPort": 443, "protocol": "TCP"},
                    ],
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "cache", "mountPath": "/cache"},
                    ],
                },
                {
                    "name": "sidecar",
                    "image": "busybox:1.36",
                    "env": [{"name": "TARGET", "value": "app"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                },
            ],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "cache", "emptyDir": {"medium": "Memory"}},
            ],
            "tolerations": [{"key": "a", "operator": "Exists"}],
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_strategic_merge_merges_a_realistic_pod_by_merge_keys():
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "sidecar",
                    "image": "busybox:1.37",
                    "volumeMounts": [{"mountPath": "/data", "readOnly": False}],
                },
                {
                    "name": "app",
                    "env": [{"name": "PORT", "value": "8080"}, {"name": "DEBUG", "value": "1"}],
                    "ports": [{"containerPort": 443, "name": "https"}],
                    "volumeMounts": [{"mountPath": "/logs", "name": "logs"}],
                },
            ],
            "volumes": [{"name": "logs", "emptyDir": {}}],
        }
    }
    result = strategic_merge_patch(_pod(), patch, "Pod")["spec"]
    # The patch lists the sidecar first, and the patch's order wins over the live order.
    sidecar, app = result["containers"]
    assert [v["name"] for v in result["volumes"]] == ["logs", "data", "cache"]
    assert app["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "PORT", "value": "8080"},
        {"name": "DEBUG", "value": "1"},
    ]
    assert app["ports"] == [
        {"containerPort": 80, "protocol": "TCP"},
        {"containerPort": 443, "protocol": "TCP", "name": "https"},
    ]
    assert [m["mountPath"] for m in app["volumeMounts"]] == ["/logs", "/data", "/cache"]
    assert app["image"] == "nginx:1.25"
    assert sidecar == {
        "name": "sidecar",
        "image": "busybox:1.37",
        "env": [{"name": "TARGET", "value": "app"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": False}],
    }


def test_strategic_merge_applies_kubectl_client_side_apply_patch():
    """The body kubectl apply sends when the image changed (k8s-protocols.md 5.5)."""
    live = {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "c"}],
            "containers": [{"image": "nginx:2", "name": "c"}],
        },
    }
    assert strategic_merge_patch(live, patch, "Pod") == {
        "metadata": {
            "name": "x",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
        },
        "spec": {"containers": [{"name": "c", "image": "nginx:2"}]},
    }


SMP_CASES = [
    (
        "null_deletes_a_key",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"a": None, "c": "3"}}},
        {"metadata": {"labels": {"b": "2", "c": "3"}}},
    ),
    (
        "maps_merge_recursively",
        {"spec": {"securityContext": {"runAsUser": 1, "fsGroup": 2}}},
        {"spec": {"securityContext": {"runAsUser": 3}}},
        {"spec": {"securityContext": {"runAsUser": 3, "fsGroup": 2}}},
    ),
    (
        "null_for_a_missing_key_is_ignored",
        {"spec": {}},
        {"spec": {"nodeName": None}},
        {"spec": {}},
    ),
    (
        "list_without_strategy_is_replaced",
        {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}},
        {"spec": {"tolerations": [{"key": "c"}]}},
        {"spec": {"tolerations": [{"key": "c"}]}},
    ),
    (
        "atomic_resize_policy_is_replaced",
        {
            "spec": {
                "containers": [{"name": "c", "resizePolicy": [{"resourceName": "cpu"}, {"resourceName": "memory"}]}]
            }
        },
        {"spec": {"containers": [{"name": "c", "resizePolicy": [{"resourceName": "memory"}]}]}},
        {"spec": {"containers": [{"name": "c", "resizePolicy": [{"resourceName": "memory"}]}]}},
    ),
    (
        # As in the kubectl patch docs: a container patched in without $setElementOrder comes first.
        "new_item_goes_in_front_of_live_items",
        {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
        {"spec": {"containers": [{"name": "c"}]}},
        {"spec": {"containers": [{"name": "c"}, {"name": "a"}, {"name": "b"}]}},
    ),
    (
        "patch_order_wins_over_live_order",
        {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        {"spec": {"containers": [{"name": "c", "image": "z"}, {"name": "a", "image": "x"}]}},
        {"spec": {"containers": [{"name": "b"}, {"name": "c", "image": "z"}, {"name": "a", "image": "x"}]}},
    ),
    (
        "finalizers_union_without_duplicates",
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"finalizers": ["b", "c", "c"]}},
        {"metadata": {"finalizers": ["a", "b", "c"]}},
    ),
    (
        "owner_references_merge_by_uid",
        {"metadata": {"ownerReferences": [{"uid": "1", "name": "rs"}, {"uid": "2", "name": "job"}]}},
        {"metadata": {"ownerReferences": [{"uid": "2", "controller": True}]}},
        {
            "metadata": {
                "ownerReferences": [
                    {"uid": "1", "name": "rs"},
                    {"uid": "2", "name": "job", "controller": True},
                ]
            }
        },
    ),
    (
        "pod_conditions_merge_by_type",
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "False"},
                    {"type": "PodScheduled", "status": "True"},
                ]
            }
        },
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        {
            "status": {
                "conditions": [
                    {"type": "Ready", "status": "True"},
                    {"type": "PodScheduled", "status": "True"},
                ]
            }
        },
    ),
    (
        "init_containers_and_volume_devices",
        {"spec": {"initContainers": [{"name": "i", "volumeDevices": [{"devicePath": "/d", "name": "a"}]}]}},
        {"spec": {"initContainers": [{"name": "i", "volumeDevices": [{"devicePath": "/d", "name": "b"}]}]}},
        {"spec": {"initContainers": [{"name": "i", "volumeDevices": [{"devicePath": "/d", "name": "b"}]}]}},
    ),
    (
        "host_aliases_merge_by_ip_and_pull_secrets_by_name",
        {
            "spec": {
                "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
                "imagePullSecrets": [{"name": "r1"}],
            }
        },
        {
            "spec": {
                "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                "imagePullSecrets": [{"name": "r2"}],
            }
        },
        {
            "spec": {
                "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
                "imagePullSecrets": [{"name": "r2"}, {"name": "r1"}],
            }
        },
    ),
]


@pytest.mark.parametrize(("live", "patch", "expected"), [c[1:] for c in SMP_CASES], ids=[c[0] for c in SMP_CASES])
def test_strategic_merge_follows_the_pod_schema(live, patch, expected):
    assert strategic_merge_patch(live, patch, "Pod") == expected


OTHER_KIND_CASES = [
    (
        "Service",
        {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}},
        {"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 443}]}},
    ),
    (
        "ServiceAccount",
        {"secrets": [{"name": "a"}], "imagePullSecrets": [{"name": "p"}]},
        {"secrets": [{"name": "a", "namespace": "x"}], "imagePullSecrets": [{"name": "q"}]},
        {"secrets": [{"name": "a", "namespace": "x"}], "imagePullSecrets": [{"name": "q"}]},
    ),
    (
        "Node",
        {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "10.0.0.1"},
                    {"type": "Hostname", "address": "n"},
                ]
            }
        },
        {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}]}},
        {
            "status": {
                "addresses": [
                    {"type": "InternalIP", "address": "10.0.0.2"},
                    {"type": "Hostname", "address": "n"},
                ]
            }
        },
    ),
    (
        "Node",
        {"spec": {"podCIDRs": ["10.0.0.0/24"], "taints": [{"key": "a", "effect": "NoSchedule"}]}},
        {"spec": {"podCIDRs": ["fd00::/64"], "taints": []}},
        {"spec": {"podCIDRs": ["fd00::/64", "10.0.0.0/24"], "taints": []}},
    ),
    (
        "Namespace",
        {"spec": {"finalizers": ["kubernetes"]}, "status": {"conditions": [{"type": "A", "status": "True"}]}},
        {"spec": {"finalizers": ["other"]}, "status": {"conditions": [{"type": "B", "status": "True"}]}},
        {
            "spec": {"finalizers": ["other"]},
            "status": {"conditions": [{"type": "B", "status": "True"}, {"type": "A", "status": "True"}]},
        },
    ),
    (
        "ConfigMap",
        {"metadata": {"finalizers": ["x"]}, "data": {"a": "1", "b": "2"}},
        {"metadata": {"finalizers": ["x", "y"]}, "data": {"a": None}},
        {"metadata": {"finalizers": ["x", "y"]}, "data": {"b": "2"}},
    ),
    (
        "Unknown",
        {"metadata": {"finalizers": ["x"]}, "spec": {"items": [{"name": "a"}]}},
        {"metadata": {"finalizers": ["y"]}, "spec": {"items": [{"name": "b"}]}},
        {"metadata": {"finalizers": ["y", "x"]}, "spec": {"items": [{"name": "b"}]}},
    ),
]


@pytest.mark.parametrize(("kind", "live", "patch", "expected"), OTHER_KIND_CASES)
def test_strategic_merge_uses_each_kinds_merge_keys(kind, live, patch, expected):
    assert strategic_merge_patch(live, patch, kind) == expected


DIRECTIVE_CASES = [
    (
        "patch_delete_in_list",
        {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
        {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}},
        {"spec": {"containers": [{"name": "b"}]}},
    ),
    (
        "patch_replace_in_list",
        {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}},
        {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}},
        {"spec": {"containers": [{"name": "c"}]}},
    ),
    (
        "patch_merge_in_list_element",
        {"spec": {"containers": [{"name": "a", "image": "x"}]}},
        {"spec": {"containers": [{"name": "a", "tty": True, "$patch": "merge"}]}},
        {"spec": {"containers": [{"name": "a", "image": "x", "tty": True}]}},
    ),
    (
        "patch_replace_in_map",
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
        {"metadata": {"labels": {"$patch": "replace", "c": "3"}}},
        {"metadata": {"labels": {"c": "3"}}},
    ),
    (
        "patch_delete_in_map",
        {"spec": {"securityContext": {"runAsUser": 1}, "nodeName": "n"}},
        {"spec": {"securityContext": {"$patch": "delete"}}},
        {"spec": {"securityContext": {}, "nodeName": "n"}},
    ),
    (
        "patch_merge_in_map",
        {"metadata": {"labels": {"a": "1"}}},
        {"metadata": {"labels": {"$patch": "merge", "b": "2"}}},
        {"metadata": {"labels": {"a": "1", "b": "2"}}},
    ),
    (
        "set_element_order_reorders",
        {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}},
        {
            "spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}],
                "containers": [{"name": "c"}],
            }
        },
        {"spec": {"containers": [{"name": "b"}, {"name": "a"}, {"name": "c"}]}},
    ),
    (
        # Items the order does not mention keep their live position relative to the ordered ones.
        "set_element_order_keeps_live_only_items",
        {"spec": {"containers": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}},
        {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}]}},
        {"spec": {"containers": [{"name": "b"}, {"name": "c"}, {"name": "a"}]}},
    ),
    (
        "set_element_order_on_primitives",
        {"metadata": {"finalizers": ["a", "b"]}},
        {"metadata": {"$setElementOrder/finalizers": ["b", "c", "a"], "finalizers": ["c"]}},
        {"metadata": {"finalizers": ["b", "c", "a"]}},
    ),
    (
        "retain_keys_clears_other_members",
        {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}},
        {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}, "$retainKeys": ["hostPath", "name"]}]}},
        {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}},
    ),
    (
        "delete_from_primitive_list",
        {"metadata": {"finalizers": ["a", "b", "c"]}},
        {
            "metadata": {
                "$deleteFromPrimitiveList/finalizers": ["b"],
                "$setElementOrder/finalizers": ["a", "c"],
            }
        },
        {"metadata": {"finalizers": ["a", "c"]}},
    ),
    (
        "directives_in_new_content_are_stripped",
        {"spec": {}},
        {
            "spec": {
                "containers": [
                    {"name": "a", "env": [{"name": "X", "$patch": "delete"}], "$retainKeys": ["name", "env"]}
                ],
                "securityContext": {"$patch": "replace", "runAsUser": 1, "fsGroup": None},
            }
        },
        {"spec": {"containers": [{"name": "a", "env": []}], "securityContext": {"runAsUser": 1}}},
    ),
]


@pytest.mark.parametrize(
    ("live", "patch", "expected"), [c[1:] for c in DIRECTIVE_CASES], ids=[c[0] for c in DIRECTIVE_CASES]
)
def test_strategic_merge_honours_directives(live, patch, expected):
    result = strategic_merge_patch(live, patch, "Pod")
    assert result == expected
    assert "$" not in json.dumps(result)


def test_retain_keys_without_volume_directive_keeps_both_sources():
    live = {"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}
    patch = {"spec": {"volumes": [{"name": "v", "hostPath": {"path": "/x"}}]}}
    assert strategic_merge_patch(live, patch, "Pod")["spec"]["volumes"] == [
        {"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}
    ]


SMP_ERRORS = [
    (
        "missing_merge_key",
        {"spec": {"containers": [{"image": "x"}]}},
        500,
        "",
        "map: map[image:x] does not contain declared merge key: name",
    ),
    (
        # Go decodes JSON numbers into float64 and %v prints a whole one without a fraction.
        "numbers_in_message_print_like_go",
        {"spec": {"containers": [{"image": "x", "ports": [{"containerPort": 80.0}], "weight": 0.5}]}},
        500,
        "",
        "map: map[image:x ports:[map[containerPort:80]] weight:0.5] does not contain declared merge key: name",
    ),
    (
        "unknown_patch_type",
        {"spec": {"$patch": "frob"}},
        500,
        "",
        "unknown patch type: frob in map: map[$patch:frob]",
    ),
    (
        "retain_keys_not_a_list",
        {"spec": {"$retainKeys": "name"}},
        400,
        "BadRequest",
        "invalid patch format of retainKeys",
    ),
    (
        "patch_outside_retain_keys",
        {"spec": {"$retainKeys": ["a"], "b": 1}},
        400,
        "BadRequest",
        "invalid patch format of retainKeys",
    ),
    (
        "delete_list_not_a_list",
        {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
        400,
        "BadRequest",
        "invalid patch format of primitive list",
    ),
    (
        "set_order_not_a_list",
        {"spec": {"$setElementOrder/containers": {"name": "a"}}},
        400,
        "BadRequest",
        "invalid patch format of setElementOrder list",
    ),
    (
        "list_of_lists",
        {"metadata": {"finalizers": [["a"]]}},
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
    ),
    (
        "not_an_object",
        [{"spec": {}}],
        400,
        "BadRequest",
        "json: cannot unmarshal array into Go value of type map[string]interface {}",
    ),
]


@pytest.mark.parametrize(
    ("patch", "code", "reason", "message"), [c[1:] for c in SMP_ERRORS], ids=[c[0] for c in SMP_ERRORS]
)
def test_strategic_merge_errors_answer_like_the_apiserver(patch, code, reason, message):
    live = {"metadata": {"finalizers": ["z"]}, "spec": {"containers": [{"name": "a"}]}}
    with pytest.raises(ApiError) as caught:
        strategic_merge_patch(live, patch, "Pod")
    assert (caught.value.code, caught.value.reason, caught.value.message) == (code, reason, message)


def test_set_element_order_must_list_the_patched_items():
    live = {"spec": {"containers": [{"name": "a"}]}}
    patch = {"spec": {"$setElementOrder/containers": [{"name": "a"}], "containers": [{"name": "b"}]}}
    with pytest.raises(ApiError) as caught:
        strategic_merge_patch(live, patch, "Pod")
    assert caught.value.code == 500
    assert "doesn't match $setElementOrder list" in caught.value.message


def test_strategic_merge_does_not_touch_its_inputs():
    live, patch = _pod(), {"spec": {"containers": [{"name": "app", "env": [{"name": "X", "value": "1"}]}]}}
    before = copy.deepcopy((live, patch))
    result = strategic_merge_patch(live, patch, "Pod")
    result["spec"]["containers"][0]["env"].clear()
    assert (live, patch) == before


@pytest.mark.parametrize(
    ("kind", "path", "merge_key", "list_type"),
    [
        ("Pod", "spec.containers", "name", "map"),
        ("Pod", "spec.ephemeralContainers[].env", "name", "map"),
        ("Pod", "spec.containers[].ports", "containerPort", "map"),
        ("Pod", "status.hostIPs", "ip", "atomic"),
        ("Service", "metadata.finalizers", "", "set"),
        ("Event", "metadata.ownerReferences", "uid", "map"),
    ],
)
def test_list_schema_table(kind, path, merge_key, list_type):
    schema = list_schema(kind, path)
    assert (schema.merge_key, schema.list_type) == (merge_key, list_type)


@pytest.mark.parametrize(
    ("kind", "path"),
    [("Pod", "spec.tolerations"), ("Pod", "status.containerStatuses"), ("Service", "spec.containers")],
)
def test_list_schema_treats_unlisted_lists_as_atomic(kind, path):
    assert list_schema(kind, path) is None
