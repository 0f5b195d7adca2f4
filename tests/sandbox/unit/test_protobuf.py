"""Kubernetes protobuf bodies: what kubectl really sends decodes to the JSON it would have sent."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from sandbox.api import protobuf, schema
from sandbox.api.protobuf import MAGIC, decode, encode, go_duration, parse_go_duration
from sandbox.errors import ApiError

DATA = Path(__file__).parent / "data" / "protobuf"
CAPTURES = sorted(p.stem for p in DATA.glob("*.bin"))


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len(number: int, payload: bytes) -> bytes:
    return _key(number, 2) + _varint(len(payload)) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _len(1, api_version.encode()) + _len(2, kind.encode())
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _len(3, b"") + _len(4, b"")


# -- captured kubectl 1.37 requests ------------------------------------------------------------


def test_captures_cover_the_typed_commands() -> None:
    assert {"create-namespace", "create-configmap", "create-secret-tls", "create-token", "debug-copy"} <= set(CAPTURES)


@pytest.mark.parametrize("name", CAPTURES)
def test_kubectl_body_decodes_to_its_json(name: str) -> None:
    expected = json.loads((DATA / f"{name}.json").read_text())
    got = decode((DATA / f"{name}.bin").read_bytes())
    assert got == expected
    # Same key order too: Go marshals struct fields in declaration order.
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("name", CAPTURES)
def test_kubectl_body_survives_encode(name: str) -> None:
    obj = decode((DATA / f"{name}.bin").read_bytes())
    assert decode(encode(obj)) == obj


SERVED = [name for name in CAPTURES if json.loads((DATA / f"{name}.json").read_text())["kind"] in schema.MODELS]


@pytest.mark.parametrize("name", SERVED)
def test_decoded_body_passes_the_strict_json_decoder(name: str) -> None:
    obj = decode((DATA / f"{name}.bin").read_bytes())
    assert schema.decode(obj["kind"], obj, "Strict", verb="create") == []


def test_zero_values_of_pointer_fields_survive_and_others_do_not() -> None:
    pod = decode((DATA / "debug-copy.bin").read_bytes())
    spec = pod["spec"]
    assert spec["priority"] == 0  # *int32, sent because it was set
    assert "hostNetwork" not in spec  # bool with omitempty, sent as false by gogo
    assert "stdin" not in spec["containers"][0]
    assert pod["metadata"] == {"name": "web-copy", "namespace": "default"}  # no zero creationTimestamp
    assert spec["containers"][1]["securityContext"] == {"capabilities": {"add": ["SYS_PTRACE"]}}


def test_required_scalars_keep_their_zero_values() -> None:
    review = decode((DATA / "auth-can-i.bin").read_bytes())
    assert review["status"] == {"allowed": False}
    rules = decode((DATA / "auth-can-i-list.bin").read_bytes())
    # Slices without omitempty marshal as null when nil.
    assert rules["status"] == {"resourceRules": None, "nonResourceRules": None, "incomplete": False}


def test_secret_and_binary_data_are_base64() -> None:
    secret = decode((DATA / "create-secret-generic.bin").read_bytes())
    assert secret["data"] == {"password": "czNjcmV0", "user": "YWRtaW4="}
    configmap = decode((DATA / "create-configmap.bin").read_bytes())
    assert configmap["binaryData"] == {"blob.bin": "AAEC/w=="}
    assert configmap["data"]["empty"] == ""


def test_int_or_string_target_ports() -> None:
    numeric = decode((DATA / "create-service-clusterip.bin").read_bytes())
    assert [p["targetPort"] for p in numeric["spec"]["ports"]] == [8080, 8443]
    named = decode((DATA / "create-service-loadbalancer.bin").read_bytes())
    assert named["spec"]["ports"][0]["targetPort"] == "https"


# -- round trips -------------------------------------------------------------------------------

RICH_POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "rich",
        "namespace": "team-a",
        "uid": "0b0e6b4e-6f5e-4a43-9d0a-1b2c3d4e5f60",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "deletionTimestamp": "2026-01-02T03:05:05Z",
        "deletionGracePeriodSeconds": 0,
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": "ünïcode ✓", "empty": ""},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-123",
                "uid": "11111111-2222-3333-4444-555555555555",
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ],
        "finalizers": ["example.com/guard"],
        "managedFields": [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
            }
        ],
    },
    "spec": {
        "volumes": [
            {"name": "config", "configMap": {"name": "settings", "items": [{"key": "a", "path": "a.txt", "mode": 0}]}},
            {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 256, "optional": False}},
            {"name": "scratch", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}},
            {
                "name": "projected",
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "downwardAPI": {
                                "items": [
                                    {"path": "ns", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                                ]
                            }
                        },
                    ],
                    "defaultMode": 420,
                },
            },
            {
                "name": "ephemeral",
                "ephemeral": {
                    "volumeClaimTemplate": {
                        "metadata": {"labels": {"kind": "scratch"}},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                            "storageClassName": "",
                        },
                    }
                },
            },
        ],
        "initContainers": [
            {
                "name": "init",
                "image": "busybox",
                "command": ["sh", "-c", "true"],
                "resources": {},
                "restartPolicy": "Always",
            }
        ],
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "args": ["--port", "8080"],
                "workingDir": "/srv",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"containerPort": 9090, "hostPort": 19090, "protocol": "UDP", "hostIP": "127.0.0.1"},
                ],
                "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "settings", "optional": True}}],
                "env": [
                    {"name": "EMPTY"},
                    {"name": "PLAIN", "value": "1"},
                    {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {"name": "PASS", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "p", "optional": False}}},
                    {
                        "name": "CPU",
                        "valueFrom": {
                            "resourceFieldRef": {"containerName": "web", "resource": "limits.cpu", "divisor": "1m"}
                        },
                    },
                ],
                "resources": {
                    "limits": {"cpu": "500m", "memory": "128Mi"},
                    "requests": {"cpu": "250m", "memory": "64Mi"},
                },
                "volumeMounts": [
                    {"name": "config", "readOnly": True, "mountPath": "/etc/config", "subPath": "a.txt"},
                    {"name": "scratch", "mountPath": "/tmp", "mountPropagation": "None"},
                ],
                "livenessProbe": {
                    "httpGet": {
                        "path": "/healthz",
                        "port": 8080,
                        "scheme": "HTTP",
                        "httpHeaders": [{"name": "X", "value": ""}],
                    },
                    "initialDelaySeconds": 5,
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3,
                    "terminationGracePeriodSeconds": 0,
                },
                "readinessProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2},
                "startupProbe": {"exec": {"command": ["cat", "/ready"]}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"sleep": {"seconds": 0}}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {
                    "capabilities": {"drop": ["ALL"]},
                    "privileged": False,
                    "runAsUser": 0,
                    "runAsNonRoot": False,
                    "readOnlyRootFilesystem": True,
                    "allowPrivilegeEscalation": False,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "stdin": True,
                "tty": True,
            }
        ],
        "ephemeralContainers": [
            {
                "name": "debugger",
                "image": "busybox",
                "resources": {},
                "terminationMessagePolicy": "File",
                "stdin": True,
                "targetContainerName": "web",
            }
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 0,
        "activeDeadlineSeconds": 600,
        "dnsPolicy": "None",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "robot",
        "automountServiceAccountToken": False,
        "nodeName": "sandbox",
        "hostNetwork": True,
        "shareProcessNamespace": False,
        "securityContext": {"runAsUser": 1000, "runAsGroup": 0, "fsGroup": 2000, "supplementalGroups": [1, 2, 3]},
        "imagePullSecrets": [{"name": "regcred"}],
        "hostname": "rich",
        "subdomain": "web",
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}
                    ]
                }
            }
        },
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}
        ],
        "hostAliases": [{"ip": "10.0.0.1", "hostnames": ["db"]}],
        "priorityClassName": "low",
        "priority": 0,
        "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": ""}]},
        "enableServiceLinks": False,
        "preemptionPolicy": "Never",
        "overhead": {"cpu": "10m"},
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "web"}},
                "minDomains": 1,
            }
        ],
        "setHostnameAsFQDN": False,
        "os": {"name": "linux"},
        "hostUsers": False,
        "schedulingGates": [{"name": "example.com/wait"}],
    },
    "status": {
        "observedGeneration": 3,
        "phase": "Running",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": "2026-01-02T03:04:06Z",
            }
        ],
        "hostIP": "10.0.0.2",
        "hostIPs": [{"ip": "10.0.0.2"}],
        "podIP": "10.244.0.7",
        "podIPs": [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}],
        "startTime": "2026-01-02T03:04:05Z",
        "containerStatuses": [
            {
                "name": "web",
                "state": {"running": {"startedAt": "2026-01-02T03:04:06Z"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 0,
                        "reason": "Completed",
                        "startedAt": None,
                        "finishedAt": "2026-01-02T03:04:05Z",
                    }
                },
                "ready": False,
                "restartCount": 0,
                "image": "nginx:1.27",
                "imageID": "",
                "started": False,
                "allocatedResources": {"cpu": "250m"},
            }
        ],
        "qosClass": "Burstable",
    },
}


def test_rich_pod_round_trips() -> None:
    pod = copy.deepcopy(RICH_POD)
    assert decode(encode(pod)) == RICH_POD
    assert schema.decode("Pod", pod, "Strict", verb="create") == []


def test_event_times_and_non_omitempty_strings() -> None:
    event = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": {"name": "web.1", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "namespace": "default", "name": "web", "apiVersion": "v1"},
        "reason": "Started",
        "message": "Started container web",
        "source": {"component": "kubelet", "host": "sandbox"},
        "firstTimestamp": "2026-01-02T03:04:05Z",
        "lastTimestamp": None,
        "count": 2,
        "type": "Normal",
        "eventTime": "2026-01-02T03:04:05.123456Z",
        "series": {"count": 2, "lastObservedTime": "2026-01-02T03:04:07.000001Z"},
        "reportingComponent": "",
        "reportingInstance": "",
    }
    assert decode(encode(event)) == event


def test_subsecond_time_keeps_whole_seconds_only() -> None:
    time_ = _len(8, _key(1, 0) + bytes([0x85, 0x9E, 0xB1, 0xF5, 0x05]) + _key(2, 0) + bytes([0x80, 0x89, 0x7A]))
    namespace = decode(_envelope("v1", "Namespace", _len(1, time_)))
    assert namespace["metadata"]["creationTimestamp"] == "2020-05-01T16:32:05Z"


def test_token_request_with_options() -> None:
    request = decode((DATA / "create-token-options.bin").read_bytes())
    assert request["spec"] == {
        "audiences": ["https://kubernetes.default.svc", "vault"],
        "expirationSeconds": 3600,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"},
    }


def test_delete_options_sent_to_any_group_version() -> None:
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "propagationPolicy": "Foreground"}
    assert decode(encode(options)) == options


# -- wire details ------------------------------------------------------------------------------


def test_unknown_fields_are_skipped() -> None:
    extra = _key(15, 0) + b"\x01" + _key(16, 1) + b"\x00" * 8 + _key(18, 5) + b"\x00" * 4 + _len(19, b"zz")
    meta = _len(1, b"x") + extra
    assert decode(_envelope("v1", "Namespace", _len(1, meta)))["metadata"] == {"name": "x"}


def test_packed_repeated_integers() -> None:
    context = _len(4, b"\x01\x02\x03")
    spec = _len(14, context) + _len(2, _len(1, b"c"))
    pod = decode(_envelope("v1", "Pod", _len(2, spec)))
    assert pod["spec"]["securityContext"] == {"supplementalGroups": [1, 2, 3]}


def test_repeated_singular_message_merges() -> None:
    raw = _len(1, _len(1, b"first")) + _len(1, _len(3, b"ns"))
    assert decode(_envelope("v1", "Namespace", raw))["metadata"] == {"name": "first", "namespace": "ns"}


def test_envelope_defaults_from_the_endpoint() -> None:
    body = MAGIC + _len(2, _len(1, _len(1, b"x")))
    assert decode(body, expected_kind="Namespace", expected_api_version="v1") == {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {"name": "x"},
    }


def test_table_is_closed_over_its_references() -> None:
    for fields in protobuf.MESSAGES.values():
        for field in fields:
            if field.message is not None:
                assert field.message in protobuf.MESSAGES
            if field.map_types and "." in field.map_types[1]:
                assert field.map_types[1] in protobuf.MESSAGES
    assert {"core.v1.Pod", "core.v1.Secret", "authentication.v1.TokenRequest", "meta.v1.Status"} <= protobuf.ROOTS


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (90 * 10**9, "1m30s"),
        (3600 * 10**9, "1h0m0s"),
        (-(3723 * 10**9 + 500_000_000), "-1h2m3.5s"),
    ],
)
def test_go_duration(nanoseconds: int, text: str) -> None:
    assert go_duration(nanoseconds) == text
    assert parse_go_duration(text) == nanoseconds


# -- errors ------------------------------------------------------------------------------------


def _bad(body: bytes, **kwargs: str) -> str:
    with pytest.raises(ApiError) as caught:
        decode(body, **kwargs)
    assert caught.value.code == 400
    assert caught.value.reason == "BadRequest"
    return caught.value.message


def test_json_body_is_not_protobuf() -> None:
    assert _bad(b'{"kind":"Pod"}') == (
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )
    assert _bad(b'{"kind":"Pod"}', expected_kind="Pod") == (
        "the object provided is unrecognized (must be of type Pod): provided data does not appear to be a "
        'protobuf message, expected prefix [107 56 115 0] ({"kind":"Pod"})'
    )


def test_empty_and_truncated_bodies() -> None:
    assert _bad(b"") == "empty data"
    assert _bad(MAGIC) == "empty body"
    assert _bad(MAGIC + b"\x0a\x05\x0a") == "unexpected EOF"
    assert _bad(MAGIC + b"\x0a\x05\x0a", expected_kind="Pod") == (
        "the object provided is unrecognized (must be of type Pod): unexpected EOF (6b3873000a050a)"
    )


def test_garbage_after_the_prefix() -> None:
    assert _bad(MAGIC + b"\x00\x00") == "proto: Unknown: illegal tag 0 (wire type 0)"
    assert _bad(MAGIC + b"\x08\x01") == "proto: wrong wireType = 0 for field TypeMeta"
    assert _bad(MAGIC + b"\x0f") == "proto: illegal wireType 7"
    assert _bad(MAGIC + b"\x0a" + b"\xff" * 11) == "proto: integer overflow"


def test_garbage_inside_the_object_names_the_kind() -> None:
    body = _envelope("v1", "Pod", b"\x12\x05\x0a")
    assert _bad(body, expected_kind="Pod") == 'Pod in version "v1" cannot be handled as a Pod: unexpected EOF'
    wrong_wire = _envelope("v1", "Pod", _key(1, 0) + b"\x01")
    assert _bad(wrong_wire) == "proto: wrong wireType = 0 for field Metadata"


def test_unknown_kind() -> None:
    body = _envelope("apps/v1", "Deployment", b"")
    assert _bad(body, expected_kind="Pod") == (
        'Deployment in version "v1" cannot be handled as a Pod: no kind "Deployment" is registered for version '
        '"apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"'
    )


def test_missing_kind_without_a_default() -> None:
    body = MAGIC + _len(1, _len(1, b"v1")) + _len(2, b"")
    assert _bad(body) == "Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:\"v1\", Kind:\"\"}'"


def test_encode_rejects_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="no protobuf message"):
        encode({"kind": "Deployment", "apiVersion": "apps/v1"})


def test_mangled_bodies_only_ever_fail_with_400() -> None:
    rng = random.Random(7)
    bodies = [(DATA / f"{name}.bin").read_bytes() for name in CAPTURES]
    codes: set[int] = set()
    for _ in range(500):
        body = bytearray(rng.choice(bodies))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(body))
            if rng.random() < 0.6:
                body[pos] = rng.randrange(256)
            else:
                del body[pos : pos + rng.randint(1, 4)]
        try:
            decode(bytes(body), expected_kind="Pod")
        except ApiError as exc:
            codes.add(exc.code)
    assert codes == {400}
