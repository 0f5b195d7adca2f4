"""Defaulting and admission: what the API server fills in before it validates and stores an object."""

from __future__ import annotations

import copy
import ipaddress
import random
from pathlib import Path

import pytest
import yaml

from sandbox.api import defaults, schema
from sandbox.errors import ApiError

EXAMPLES = Path(__file__).parents[3] / "examples"
TOKEN_MOUNT = {
    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
    "name": "kube-api-access-x7k2p",
    "readOnly": True,
}
DEFAULT_TOLERATIONS = [
    {
        "effect": "NoExecute",
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "tolerationSeconds": 300,
    },
    {
        "effect": "NoExecute",
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "tolerationSeconds": 300,
    },
]

# What a real API server answers to `kubectl apply -f examples/multicontainer-pod.yaml` in namespace
# default, minus what the store adds (uid, resourceVersion, creationTimestamp, managedFields) and the
# last-applied annotation kubectl sends.
MULTICONTAINER_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"generation": 1, "name": "multicontainer-pod", "namespace": "default"},
    "spec": {
        "containers": [
            {
                "args": [
                    "-c",
                    "while true; do echo $(hostname) $(date) >> /var/log/index.html; sleep 10; done",
                ],
                "command": ["/bin/bash"],
                "image": "ubuntu",
                "imagePullPolicy": "Always",
                "name": "producer",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/var/log", "name": "webcontent"}, TOKEN_MOUNT],
            },
            {
                "image": "nginx",
                "imagePullPolicy": "Always",
                "name": "consumer",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "volumeMounts": [{"mountPath": "/usr/share/nginx/html", "name": "webcontent"}, TOKEN_MOUNT],
            },
        ],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": DEFAULT_TOLERATIONS,
        "volumes": [
            {"emptyDir": {}, "name": "webcontent"},
            {
                "name": "kube-api-access-x7k2p",
                "projected": {
                    "defaultMode": 420,
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                "name": "kube-root-ca.crt",
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                        "path": "namespace",
                                    }
                                ]
                            }
                        },
                    ],
                },
            },
        ],
    },
    "status": {"phase": "Pending", "qosClass": "BestEffort"},
}


def _pod(*containers: dict, **spec: object) -> dict:
    body = {"containers": list(containers) or [{"name": "app", "image": "nginx"}], **spec}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": body,
    }


def _defaulted_pod(*containers: dict, **spec: object) -> dict:
    return defaults.apply_defaults("Pod", _pod(*containers, **spec), suffix="x7k2p")


def _service(**spec: object) -> dict:
    return {"kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def test_multicontainer_pod_matches_what_a_real_server_returns() -> None:
    pod = yaml.safe_load((EXAMPLES / "multicontainer-pod.yaml").read_text())
    pod["metadata"]["namespace"] = "default"
    schema.decode("Pod", pod, "Strict")
    assert defaults.apply_defaults("Pod", pod, suffix="x7k2p") == MULTICONTAINER_POD


def test_defaulting_is_idempotent() -> None:
    pod = copy.deepcopy(MULTICONTAINER_POD)
    defaults.apply_defaults("Pod", pod, suffix="other")
    assert pod == MULTICONTAINER_POD


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("NGINX", "IfNotPresent"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = _defaulted_pod({"name": "app", "image": image})
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_token_is_mounted_in_init_containers_too_unless_the_path_is_taken() -> None:
    own_mount = {"name": "mine", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    pod = _defaulted_pod(
        {"name": "app", "image": "nginx", "volumeMounts": [own_mount]},
        initContainers=[{"name": "setup", "image": "busybox"}],
        volumes=[{"name": "mine", "emptyDir": {}}],
    )
    assert pod["spec"]["initContainers"][0]["volumeMounts"] == [TOKEN_MOUNT]
    assert pod["spec"]["containers"][0]["volumeMounts"] == [own_mount]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["mine", "kube-api-access-x7k2p"]


@pytest.mark.parametrize(
    ("pod_setting", "account"),
    [(False, {}), (None, {"automountServiceAccountToken": False})],
)
def test_token_automount_can_be_turned_off(pod_setting: bool | None, account: dict) -> None:
    pod = _pod(automountServiceAccountToken=pod_setting) if pod_setting is not None else _pod()
    defaults.apply_defaults("Pod", pod, service_account=account, suffix="x7k2p")
    assert "volumes" not in pod["spec"]
    assert "volumeMounts" not in pod["spec"]["containers"][0]


def test_pod_setting_wins_over_the_account() -> None:
    pod = _pod(automountServiceAccountToken=True)
    defaults.apply_defaults("Pod", pod, service_account={"automountServiceAccountToken": False}, suffix="x7k2p")
    assert pod["spec"]["volumes"][0]["name"] == "kube-api-access-x7k2p"


def test_missing_service_account_is_refused() -> None:
    pod = _pod(serviceAccountName="builder")
    with pytest.raises(ApiError) as caught:
        defaults.apply_defaults("Pod", pod, service_account=None, suffix="x7k2p")
    assert (caught.value.code, caught.value.message) == (
        403,
        'pods "web" is forbidden: error looking up service account default/builder: serviceaccount "builder" not found',
    )


def test_account_pull_secrets_are_copied_to_the_pod() -> None:
    pod = _pod()
    defaults.apply_defaults("Pod", pod, service_account={"imagePullSecrets": [{"name": "regcred"}]}, suffix="abcde")
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]


def test_deprecated_service_account_field_is_honoured() -> None:
    pod = _defaulted_pod(serviceAccount="builder")
    assert (pod["spec"]["serviceAccountName"], pod["spec"]["serviceAccount"]) == ("builder", "builder")


def test_default_tolerations_are_not_added_twice() -> None:
    pod = _defaulted_pod(tolerations=[{"operator": "Exists"}])
    assert pod["spec"]["tolerations"] == [{"operator": "Exists"}]
    pod = _defaulted_pod(tolerations=[{"key": "node.kubernetes.io/unreachable", "operator": "Exists"}])
    assert pod["spec"]["tolerations"][1:] == DEFAULT_TOLERATIONS[:1]


@pytest.mark.parametrize(
    ("class_name", "priority"),
    [("system-cluster-critical", 2000000000), ("system-node-critical", 2000001000)],
)
def test_system_priority_classes_set_the_priority(class_name: str, priority: int) -> None:
    assert _defaulted_pod(priorityClassName=class_name)["spec"]["priority"] == priority


def test_unknown_priority_class_is_refused() -> None:
    with pytest.raises(ApiError) as caught:
        _defaulted_pod(priorityClassName="gold")
    assert caught.value.message == 'pods "web" is forbidden: no PriorityClass with name gold was found'


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ([{}], "BestEffort"),
        ([{"requests": {"cpu": "100m"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
        (
            [{"limits": {"cpu": "1", "memory": "1Gi"}}, {"limits": {"cpu": "2", "memory": "2Gi"}}],
            "Guaranteed",
        ),
        ([{"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}], "BestEffort"),
    ],
)
def test_qos_class_follows_the_real_rules(resources: list[dict], qos: str) -> None:
    containers = [{"name": f"c{i}", "image": "nginx", "resources": r} for i, r in enumerate(resources)]
    assert _defaulted_pod(*containers)["status"]["qosClass"] == qos


def test_requests_default_to_limits_rounded_up_to_milli() -> None:
    pod = _defaulted_pod({"name": "app", "image": "nginx", "resources": {"limits": {"cpu": "0.0001", "memory": "1Gi"}}})
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "1m", "memory": "1Gi"},
        "requests": {"cpu": "1m", "memory": "1Gi"},
    }


def test_probes_handlers_and_field_refs_get_their_defaults() -> None:
    container = {
        "name": "app",
        "image": "nginx",
        "livenessProbe": {"httpGet": {"port": 80}},
        "readinessProbe": {"grpc": {"port": 9090}, "periodSeconds": 5},
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        ],
    }
    pod = _defaulted_pod(container)["spec"]["containers"][0]
    assert pod["livenessProbe"] == {
        "httpGet": {"path": "/", "port": 80, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert pod["readinessProbe"]["grpc"] == {"port": 9090, "service": ""}
    assert pod["readinessProbe"]["periodSeconds"] == 5
    assert pod["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert pod["env"][1]["valueFrom"]["resourceFieldRef"]["divisor"] == "0"


def test_volume_sources_get_their_defaults() -> None:
    volumes = [
        {"name": "cfg", "configMap": {"name": "c"}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
        {"name": "host", "hostPath": {"path": "/var/log"}},
        {"name": "scratch"},
    ]
    spec = _defaulted_pod(volumes=volumes)["spec"]
    assert spec["volumes"][:4] == [
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
        {"name": "scratch", "emptyDir": {}},
    ]


def test_scheduling_gates_leave_the_pod_unscheduled() -> None:
    status = _defaulted_pod(schedulingGates=[{"name": "wait"}])["status"]
    assert status["conditions"][0]["reason"] == "SchedulingGated"


def test_services_get_a_cluster_ip_in_the_service_range() -> None:
    used = {"10.96.0.1", "10.96.0.10"}
    service = defaults.apply_defaults(
        "Service",
        _service(ports=[{"port": 80}], selector={"app": "web"}),
        used_cluster_ips=used,
        rng=random.Random(4),
    )
    spec = service["spec"]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert spec["clusterIP"] not in used
    assert spec == {
        "clusterIP": spec["clusterIP"],
        "clusterIPs": [spec["clusterIP"]],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    assert service["status"] == {"loadBalancer": {}}


def test_headless_and_external_name_services_get_no_address() -> None:
    headless = defaults.apply_defaults("Service", _service(clusterIP="None", ports=[{"port": 80}]))
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = defaults.apply_defaults("Service", _service(type="ExternalName", externalName="db.example.com"))
    assert "clusterIP" not in external["spec"]
    assert "internalTrafficPolicy" not in external["spec"]


@pytest.mark.parametrize(
    ("requested", "used", "detail"),
    [
        (
            "10.0.0.5",
            set(),
            "failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in "
            "the valid range. The range of "
            "valid IPs is 10.96.0.0/12",
        ),
        ("10.96.0.10", {"10.96.0.10"}, "failed to allocate IP 10.96.0.10: provided IP is already allocated"),
    ],
)
def test_requested_cluster_ips_must_be_free_and_in_range(requested: str, used: set[str], detail: str) -> None:
    with pytest.raises(ApiError) as caught:
        defaults.apply_defaults("Service", _service(clusterIP=requested, ports=[{"port": 53}]), used_cluster_ips=used)
    assert caught.value.message == (
        f'Service "web" is invalid: spec.clusterIPs: Invalid value: []string{{"{requested}"}}: {detail}'
    )


def test_node_port_services_get_free_node_ports() -> None:
    ports = [{"port": 80, "name": "http"}, {"port": 443, "name": "https", "nodePort": 30443}]
    service = defaults.apply_defaults(
        "Service", _service(type="NodePort", ports=ports), used_node_ports={30000}, rng=random.Random(1)
    )
    spec = service["spec"]
    assert spec["ports"][0]["nodePort"] in range(30001, 32768)
    assert spec["ports"][0]["nodePort"] != 30443
    assert spec["ports"][1]["nodePort"] == 30443
    assert spec["externalTrafficPolicy"] == "Cluster"


def test_namespace_defaults() -> None:
    namespace = defaults.apply_defaults("Namespace", {"kind": "Namespace", "metadata": {"name": "team-a"}})
    assert namespace == {
        "kind": "Namespace",
        "metadata": {"labels": {"kubernetes.io/metadata.name": "team-a"}, "name": "team-a"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def test_namespace_keeps_its_own_finalizers_and_gains_kubernetes() -> None:
    namespace = {"kind": "Namespace", "metadata": {"name": "a"}, "spec": {"finalizers": ["example.com/keep"]}}
    defaults.apply_defaults("Namespace", namespace)
    assert namespace["spec"]["finalizers"] == ["example.com/keep", "kubernetes"]


def test_claim_defaults() -> None:
    claim = {
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    defaults.apply_defaults("PersistentVolumeClaim", claim, default_storage_class="standard")
    assert claim["spec"]["volumeMode"] == "Filesystem"
    assert claim["spec"]["storageClassName"] == "standard"
    assert claim["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert claim["status"] == {"phase": "Pending"}


def test_secret_string_data_is_folded_into_data() -> None:
    secret = {"kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "YQ=="}, "stringData": {"b": "hi"}}
    defaults.apply_defaults("Secret", secret)
    assert secret == {
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"a": "YQ==", "b": "aGk="},
        "type": "Opaque",
    }


def test_service_accounts_and_config_maps_are_left_alone() -> None:
    for kind in ("ServiceAccount", "ConfigMap"):
        obj = {"kind": kind, "metadata": {"name": "x", "namespace": "default"}}
        assert defaults.apply_defaults(kind, copy.deepcopy(obj)) == obj


def test_token_suffix_may_come_from_a_function() -> None:
    pod = defaults.apply_defaults("Pod", _pod(), suffix=lambda: "q9z2b")
    assert pod["spec"]["volumes"][0]["name"] == "kube-api-access-q9z2b"


def test_random_suffix_uses_the_name_alphabet() -> None:
    suffix = defaults.random_suffix(random.Random(7))
    assert len(suffix) == 5
    assert set(suffix) <= set(defaults.NAME_ALPHABET)


def test_updates_keep_allocated_service_addresses() -> None:
    old = defaults.apply_defaults("Service", _service(ports=[{"port": 80}]), rng=random.Random(2))
    new = defaults.apply_update_defaults("Service", _service(ports=[{"port": 80}]), old)
    assert new["spec"]["clusterIPs"] == old["spec"]["clusterIPs"]
    assert new["spec"]["ipFamilies"] == ["IPv4"]


def test_pod_updates_keep_status_and_count_spec_generations() -> None:
    old = _defaulted_pod()
    same = defaults.apply_update_defaults("Pod", copy.deepcopy(old), old)
    assert (same["metadata"]["generation"], same["status"]) == (1, old["status"])
    changed = copy.deepcopy(old)
    changed["spec"]["containers"][0]["image"] = "nginx:2"
    changed.pop("status")
    changed = defaults.apply_update_defaults("Pod", changed, old)
    assert (changed["metadata"]["generation"], changed["status"]) == (2, old["status"])
