"""Create and update validation: the server's messages, in the server's order."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sandbox.api import defaults, schema, validation
from sandbox.errors import ApiError

EXAMPLES = sorted(Path(__file__).parents[3].joinpath("examples").glob("*.yaml"))

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
UPDATABLE = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _manifests() -> list[dict]:
    return [doc for path in EXAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc]


def _admitted(kind: str, obj: dict) -> dict:
    """An object as the server has it just before validation: decoded, namespaced, defaulted."""
    obj = copy.deepcopy(obj)
    schema.decode(kind, obj, "Strict")
    if kind not in ("Namespace", "Node"):
        obj.setdefault("metadata", {}).setdefault("namespace", "default")
    return defaults.apply_defaults(kind, obj, suffix="x7k2p")


def _pod(*containers: dict, **spec: object) -> dict:
    body = {"containers": list(containers) or [{"name": "app", "image": "nginx"}], **spec}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": body}


def _create_error(kind: str, obj: dict) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validation.validate_create(kind, obj)
    return caught.value


def _update_error(kind: str, new: dict, old: dict) -> ApiError:
    with pytest.raises(ApiError) as caught:
        validation.validate_update(kind, new, old)
    return caught.value


def _stored(kind: str, obj: dict) -> dict:
    stored = _admitted(kind, obj)
    stored["metadata"].update(resourceVersion="7", uid="1b4e28ba", creationTimestamp="2024-05-01T10:00:00Z")
    return stored


@pytest.mark.parametrize("manifest", _manifests(), ids=lambda m: f"{m['kind']}-{m['metadata']['name']}")
def test_examples_validate_cleanly_after_defaults(manifest: dict) -> None:
    validation.validate_create(manifest["kind"], _admitted(manifest["kind"], manifest))


POD_ERRORS = [
    (
        {"spec": {"containers": []}},
        "spec.containers: Required value",
    ),
    (
        {"spec": {"containers": [{"name": "app"}]}},
        "spec.containers[0].image: Required value",
    ),
    (
        {"metadata": {"name": "Web_1"}},
        f'metadata.name: Invalid value: "Web_1": {SUBDOMAIN_MSG}',
    ),
    (
        {"spec": {"containers": [{"name": "App", "image": "nginx"}]}},
        f'spec.containers[0].name: Invalid value: "App": {LABEL_MSG}',
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a"}, {"name": "app", "image": "b"}]}},
        'spec.containers[1].name: Duplicate value: "app"',
    ),
    (
        {
            "spec": {
                "containers": [{"name": "app", "image": "a"}],
                "initContainers": [{"name": "app", "image": "b"}],
            }
        },
        'spec.initContainers[0].name: Duplicate value: "app"',
    ),
    (
        {
            "spec": {
                "containers": [{"name": "app", "image": "a", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]
            }
        },
        'spec.containers[0].volumeMounts[0].name: Not found: "data"',
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a", "ports": [{"containerPort": 70000}]}]}},
        "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a", "ports": [{"containerPort": 80, "protocol": "HTTP"}]}]}},
        'spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
    ),
    (
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "a",
                        "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "2"}},
                    }
                ]
            }
        },
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1',
    ),
    (
        {
            "spec": {
                "containers": [{"name": "app", "image": "a"}],
                "initContainers": [{"name": "setup", "image": "b", "restartPolicy": "OnFailure"}],
            }
        },
        'spec.initContainers[0].restartPolicy: Unsupported value: "OnFailure": supported values: "Always"',
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a"}], "restartPolicy": "Sometimes"}},
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a", "env": [{"name": "A=B", "value": "1"}]}]}},
        'spec.containers[0].env[0].name: Invalid value: "A=B": a valid '
        "environment variable name must consist "
        "only of printable ASCII characters other than '='",
    ),
    (
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "a",
                        "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2},
                    }
                ]
            }
        },
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a", "livenessProbe": {"periodSeconds": 5}}]}},
        "spec.containers[0].livenessProbe: Required value: must specify a handler type",
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": "a"}], "activeDeadlineSeconds": 0}},
        "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
    ),
    (
        {"metadata": {"name": "web", "labels": {"tier": "front end"}}},
        'metadata.labels: Invalid value: "front end": a valid label must be an empty string or consist of '
        "alphanumeric characters, '-', '_' or '.', and must start and end with "
        "an alphanumeric character (e.g. "
        "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
        "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
    ),
    (
        {"spec": {"containers": [{"name": "app", "image": " nginx"}]}},
        'spec.containers[0].image: Invalid value: " nginx": must not have leading or trailing whitespace',
    ),
]


def _merged(base: dict, change: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in change.items():
        merged[key] = {**merged.get(key, {}), **value}
    return merged


@pytest.mark.parametrize(("change", "message"), POD_ERRORS)
def test_invalid_pods_get_the_servers_message(change: dict, message: str) -> None:
    pod = _admitted("Pod", _merged(_pod(), change))
    error = _create_error("Pod", pod)
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == f'Pod "{pod["metadata"]["name"]}" is invalid: {message}'


def test_several_errors_are_listed_in_brackets_with_causes() -> None:
    pod = _admitted("Pod", _pod({"name": "a"}, {"name": "a"}))
    error = _create_error("Pod", pod)
    assert error.message == (
        'Pod "web" is invalid: [spec.containers[0].image: Required value, spec.containers[1].image: Required '
        'value, spec.containers[1].name: Duplicate value: "a"]'
    )
    assert error.details["causes"][2] == {
        "reason": "FieldValueDuplicate",
        "message": 'Duplicate value: "a"',
        "field": "spec.containers[1].name",
    }


def test_mount_paths_must_be_unique_within_a_container() -> None:
    mounts = [{"name": "data", "mountPath": "/d"}, {"name": "data", "mountPath": "/d"}]
    pod = _admitted("Pod", _pod({"name": "app", "image": "a", "volumeMounts": mounts}, volumes=[{"name": "data"}]))
    assert _create_error("Pod", pod).message == (
        'Pod "web" is invalid: spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/d": must be unique'
    )


def test_volumes_need_exactly_one_source_and_unique_names() -> None:
    volumes = [
        {"name": "a", "emptyDir": {}, "configMap": {"name": "cm"}},
        {"name": "b", "emptyDir": {}},
        {"name": "b", "emptyDir": {}},
    ]
    pod = _admitted("Pod", _pod(volumes=volumes))
    assert _create_error("Pod", pod).message == (
        'Pod "web" is invalid: [spec.volumes[0].configMap: Forbidden: may not '
        "specify more than 1 volume type, "
        'spec.volumes[2].name: Duplicate value: "b"]'
    )


def test_named_container_ports_must_be_unique_iana_names() -> None:
    ports = [
        {"containerPort": 80, "name": "http"},
        {"containerPort": 81, "name": "http"},
        {"containerPort": 82, "name": "9"},
    ]
    pod = _admitted("Pod", _pod({"name": "app", "image": "a", "ports": ports}))
    assert _create_error("Pod", pod).message == (
        'Pod "web" is invalid: [spec.containers[0].ports[1].name: Duplicate value: "http", '
        'spec.containers[0].ports[2].name: Invalid value: "9": must contain at least one letter (a-z)]'
    )


def test_pods_need_a_namespace() -> None:
    pod = defaults.apply_defaults("Pod", _pod(), suffix="x7k2p")
    assert _create_error("Pod", pod).message == 'Pod "web" is invalid: metadata.namespace: Required value'


def test_pods_need_a_name() -> None:
    pod = _admitted("Pod", _pod())
    del pod["metadata"]["name"]
    assert _create_error("Pod", pod).message == (
        'Pod "" is invalid: metadata.name: Required value: name or generateName is required'
    )


def test_negative_grace_period_is_accepted_with_a_warning() -> None:
    pod = _admitted("Pod", _pod(terminationGracePeriodSeconds=-5))
    validation.validate_create("Pod", pod)
    assert validation.pod_warnings(pod) == [
        "spec.terminationGracePeriodSeconds: must be >= 0; negative values are invalid and will be treated as 1"
    ]


@pytest.mark.parametrize(
    ("kind", "obj", "message"),
    [
        (
            "Namespace",
            {"kind": "Namespace", "metadata": {"name": "team.a"}},
            'Namespace "team.a" is invalid: metadata.name: Invalid value: "team.a": must not contain dots',
        ),
        (
            "Service",
            {"kind": "Service", "metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}},
            'Service "1web" is invalid: metadata.name: Invalid value: "1web": a '
            "DNS-1035 label must consist of "
            "lower case alphanumeric characters or '-', start with an alphabetic character, and end with an "
            "alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
            "'[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
        (
            "Service",
            {"kind": "Service", "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}}},
            'Service "web" is invalid: spec.ports: Required value',
        ),
        (
            "Service",
            {
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 80}, {"port": 443}]},
            },
            'Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]',
        ),
        (
            "Service",
            {
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            },
            'Service "web" is invalid: spec.ports[1]: Duplicate value: '
            'core.ServicePort{Name:"", Protocol:"TCP", '
            "AppProtocol:(*string)(nil), Port:80, "
            'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, '
            "NodePort:0}",
        ),
        (
            "Service",
            {
                "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"type": "Magic", "ports": [{"port": 80}]},
            },
            'Service "web" is invalid: spec.type: Unsupported value: "Magic": supported values: "ClusterIP", '
            '"ExternalName", "LoadBalancer", "NodePort"',
        ),
        (
            "ConfigMap",
            {"kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"bad key": "v"}},
            'ConfigMap "cfg" is invalid: data[bad key]: Invalid value: "bad key": '
            "a valid config key must consist "
            "of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
            "'KEY_NAME',  or 'key-name', regex "
            "used for validation is '[-._a-zA-Z0-9]+')",
        ),
        (
            "Secret",
            {"kind": "Secret", "metadata": {"name": "tls"}, "type": "kubernetes.io/tls", "data": {}},
            'Secret "tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]',
        ),
        (
            "PersistentVolumeClaim",
            {"kind": "PersistentVolumeClaim", "metadata": {"name": "data"}, "spec": {}},
            'PersistentVolumeClaim "data" is invalid: [spec.accessModes: Required '
            "value: at least 1 access mode "
            "is required, spec.resources[storage]: Required value]",
        ),
        (
            "PersistentVolumeClaim",
            {
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteSometimes"], "resources": {"requests": {"storage": "0"}}},
            },
            'PersistentVolumeClaim "data" is invalid: [spec.accessModes: '
            'Unsupported value: "ReadWriteSometimes": '
            'supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod", '
            'spec.resources[storage]: Invalid value: "0": must be greater than zero]',
        ),
        (
            "Event",
            {
                "kind": "Event",
                "metadata": {"name": "web.1", "namespace": "default"},
                "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"},
            },
            'Event "web.1" is invalid: involvedObject.namespace: Invalid value: "other": does not match '
            "event.namespace",
        ),
        (
            "Event",
            {"kind": "Event", "metadata": {"name": "a/b", "namespace": "default"}, "involvedObject": {}},
            'Event "a/b" is invalid: metadata.name: Invalid value: "a/b": may not contain \'/\'',
        ),
    ],
)
def test_other_kinds_get_the_servers_message(kind: str, obj: dict, message: str) -> None:
    assert _create_error(kind, _admitted(kind, obj)).message == message


def test_namespaces_may_not_carry_a_namespace() -> None:
    namespace = _admitted("Namespace", {"kind": "Namespace", "metadata": {"name": "team-a", "namespace": "x"}})
    assert _create_error("Namespace", namespace).message == (
        'Namespace "team-a" is invalid: metadata.namespace: Forbidden: not allowed on this type'
    )


def test_an_invalid_binding_is_a_bare_internal_error() -> None:
    error = _create_error("Binding", {"kind": "Binding", "metadata": {"name": "web"}, "target": {"kind": "Pod"}})
    assert (error.code, error.message) == (
        500,
        '[target.kind: Unsupported value: "Pod": supported values: "Node", "<empty>", target.name: Required value]',
    )


# --- updates --------------------------------------------------------------------------------------------


@pytest.fixture
def stored_pod() -> dict:
    """A pod as the store holds it."""
    return _stored("Pod", _pod({"name": "app", "image": "nginx:1"}))


def test_pod_image_and_label_changes_are_allowed(stored_pod: dict) -> None:
    new = copy.deepcopy(stored_pod)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    new["metadata"]["labels"] = {"tier": "web"}
    new["spec"]["tolerations"].append({"key": "gpu", "operator": "Exists"})
    validation.validate_update("Pod", new, stored_pod)


def test_pod_spec_changes_are_forbidden_with_the_updatable_fields_listed(stored_pod: dict) -> None:
    new = copy.deepcopy(stored_pod)
    new["spec"]["restartPolicy"] = "Never"
    message = _update_error("Pod", new, stored_pod).message
    assert message.startswith(f'Pod "web" is invalid: spec: Forbidden: {UPDATABLE}\n  core.PodSpec{{')
    assert '- \tRestartPolicy: "Always",' in message
    assert '+ \tRestartPolicy: "Never",' in message


def test_pod_containers_may_not_be_added(stored_pod: dict) -> None:
    new = copy.deepcopy(stored_pod)
    new["spec"]["containers"].append(copy.deepcopy(new["spec"]["containers"][0]) | {"name": "two"})
    assert _update_error("Pod", new, stored_pod).message == (
        'Pod "web" is invalid: spec.containers: Forbidden: pod updates may not add or remove containers'
    )


def test_pod_tolerations_may_only_be_added(stored_pod: dict) -> None:
    new = copy.deepcopy(stored_pod)
    new["spec"]["tolerations"] = new["spec"]["tolerations"][:1]
    assert _update_error("Pod", new, stored_pod).message == (
        'Pod "web" is invalid: spec.tolerations: Forbidden: existing toleration '
        "can not be modified except its "
        "tolerationSeconds"
    )


def test_pod_active_deadline_may_only_shrink(stored_pod: dict) -> None:
    stored_pod["spec"]["activeDeadlineSeconds"] = 60
    new = copy.deepcopy(stored_pod)
    new["spec"]["activeDeadlineSeconds"] = 30
    validation.validate_update("Pod", new, stored_pod)
    new["spec"]["activeDeadlineSeconds"] = 90
    assert _update_error("Pod", new, stored_pod).message == (
        'Pod "web" is invalid: spec.activeDeadlineSeconds: Invalid value: 90: must be less than or equal to '
        "previous value"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "other", 'metadata.name: Invalid value: "other": field is immutable'),
        ("uid", "2c5f", 'metadata.uid: Invalid value: "2c5f": field is immutable'),
        (
            "resourceVersion",
            "",
            'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        ),
    ],
)
def test_metadata_identity_is_immutable(stored_pod: dict, field: str, value: str, message: str) -> None:
    new = copy.deepcopy(stored_pod)
    new["metadata"][field] = value
    assert message in _update_error("Pod", new, stored_pod).message


def test_secret_type_is_immutable() -> None:
    old = _stored("Secret", {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "YQ=="}})
    new = copy.deepcopy(old)
    new["type"] = "kubernetes.io/basic-auth"
    new["data"]["username"] = "dQ=="
    assert _update_error("Secret", new, old).message == (
        'Secret "s" is invalid: type: Invalid value: "kubernetes.io/basic-auth": field is immutable'
    )


@pytest.mark.parametrize("kind", ["ConfigMap", "Secret"])
def test_immutable_data_may_not_change(kind: str) -> None:
    old = _stored(kind, {"kind": kind, "metadata": {"name": "c"}, "data": {"a": "YQ=="}, "immutable": True})
    new = copy.deepcopy(old)
    new["data"]["a"] = "Yg=="
    assert _update_error(kind, new, old).message == (
        f'{kind} "c" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )
    new = copy.deepcopy(old)
    new["immutable"] = False
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in _update_error(kind, new, old).message


def test_service_cluster_ip_may_not_change() -> None:
    old = _stored("Service", {"kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}})
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = new["spec"]["clusterIPs"][0] = "10.96.0.77"
    assert _update_error("Service", new, old).message == (
        'Service "web" is invalid: spec.clusterIPs[0]: Invalid value: []string{"10.96.0.77"}: may not change once set'
    )


def test_bound_claims_may_grow_but_not_change_class() -> None:
    old = _stored(
        "PersistentVolumeClaim",
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
    )
    old["status"] = {"phase": "Bound", "capacity": {"storage": "1Gi"}}
    bigger = copy.deepcopy(old)
    bigger["spec"]["resources"]["requests"]["storage"] = "2Gi"
    validation.validate_update("PersistentVolumeClaim", bigger, old)
    other_class = copy.deepcopy(old)
    other_class["spec"]["storageClassName"] = "fast"
    message = _update_error("PersistentVolumeClaim", other_class, old).message
    assert message.startswith(
        'PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except '
        "resources.requests and volumeAttributesClassName for bound claims\n"
    )
