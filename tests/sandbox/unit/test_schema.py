"""Strict decoding and the OpenAPI v3 document, checked against the API server's own messages."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from sandbox.api import schema
from sandbox.errors import ApiError, go_value

EXAMPLES = sorted(Path(__file__).parents[3].joinpath("examples").glob("*.yaml"))
KINDS = [
    ("Pod", "pods", "", True),
    ("Namespace", "namespaces", "", False),
    ("Service", "services", "", True),
    ("ConfigMap", "configmaps", "", True),
    ("Binding", "bindings", "", True),
]


def _manifests() -> list[dict]:
    return [doc for path in EXAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc]


def _pod(**spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": spec}


def _decode_error(kind: str, obj: dict, validation: str = "Strict", **kwargs: object) -> ApiError:
    with pytest.raises(ApiError) as caught:
        schema.decode(kind, obj, validation, **kwargs)
    return caught.value


@pytest.mark.parametrize("manifest", _manifests(), ids=lambda m: f"{m['kind']}-{m['metadata']['name']}")
def test_decode_accepts_every_example_in_strict_mode(manifest: dict) -> None:
    before = copy.deepcopy(manifest)
    assert schema.decode(manifest["kind"], manifest, "Strict") == []
    assert manifest == before


def test_decode_strict_lists_every_unknown_field_with_its_path() -> None:
    pod = _pod(containers=[{"name": "app", "image": "nginx", "foo": 1}], bar=True)
    error = _decode_error("Pod", pod)
    assert (error.code, error.reason) == (400, "BadRequest")
    assert error.message == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].foo", unknown field "spec.bar"'
    )


def test_decode_does_not_accept_snake_case_names() -> None:
    pod = _pod(containers=[{"name": "app", "image": "nginx", "image_pull_policy": "Always"}])
    assert 'unknown field "spec.containers[0].image_pull_policy"' in _decode_error("Pod", pod).message


def test_decode_warn_returns_warnings_and_drops_the_fields() -> None:
    pod = _pod(containers=[{"name": "app", "image": "nginx", "foo": 1}])
    pod["metadata"]["colour"] = "blue"
    warnings = schema.decode("Pod", pod, "Warn")
    assert warnings == ['unknown field "metadata.colour"', 'unknown field "spec.containers[0].foo"']
    assert pod["spec"]["containers"] == [{"name": "app", "image": "nginx"}]
    assert "colour" not in pod["metadata"]


def test_decode_ignore_drops_unknown_fields_silently() -> None:
    pod = _pod(containers=[{"name": "app", "image": "nginx"}], extra={"deep": 1})
    assert schema.decode("Pod", pod, "Ignore") == []
    assert "extra" not in pod["spec"]


WRONG_TYPES = [
    (
        _pod(containers=[{"name": "a", "image": "i", "ports": [{"containerPort": "80"}]}]),
        "json: cannot unmarshal string into Go struct field "
        "ContainerPort.spec.containers.ports.containerPort "
        "of type int32",
    ),
    (
        {"kind": "Pod", "metadata": {"name": "web", "labels": {"tier": 1}}},
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
    ),
    (
        {"kind": "Pod", "metadata": {"name": "web"}, "spec": "nginx"},
        "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec",
    ),
    (
        _pod(containers=[{"name": "a", "image": "i", "args": ["-c", 5]}]),
        "json: cannot unmarshal number into Go struct field Container.spec.containers.args of type string",
    ),
    (
        _pod(containers={"name": "a"}),
        "json: cannot unmarshal object into Go struct field PodSpec.spec.containers of type []v1.Container",
    ),
    (
        _pod(containers=[], terminationGracePeriodSeconds=1.5),
        "json: cannot unmarshal number 1.5 into Go struct field PodSpec.spec.terminationGracePeriodSeconds "
        "of type int64",
    ),
    (
        _pod(containers=[{"name": "a", "image": "i", "ports": [{"containerPort": 80, "protocol": 6}]}]),
        "json: cannot unmarshal number into Go struct field ContainerPort.spec.containers.ports.protocol "
        "of type v1.Protocol",
    ),
    (
        _pod(containers=[{"name": "a", "image": "i", "stdin": "yes"}]),
        "json: cannot unmarshal string into Go struct field Container.spec.containers.stdin of type bool",
    ),
    (
        _pod(containers=[{"name": "a", "image": "i", "resources": {"limits": {"cpu": "lots"}}}]),
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
    ),
    (
        _pod(containers=[{"name": "a", "image": "i", "livenessProbe": {"tcpSocket": {"port": True}}}]),
        "json: cannot unmarshal bool into Go value of type int32",
    ),
]


@pytest.mark.parametrize("mode", ["Strict", "Warn", "Ignore"])
@pytest.mark.parametrize(("obj", "message"), WRONG_TYPES)
def test_decode_rejects_wrong_json_types_in_every_mode(obj: dict, message: str, mode: str) -> None:
    error = _decode_error("Pod", copy.deepcopy(obj), mode)
    assert error.code == 400
    assert error.message == f'Pod in version "v1" cannot be handled as a Pod: {message}'


def test_decode_reports_the_first_type_error_before_strict_errors() -> None:
    pod = _pod(unknown=1, containers=[{"name": "a", "image": "i", "ports": [{"containerPort": "x"}]}])
    assert "cannot unmarshal string" in _decode_error("Pod", pod).message


def test_decode_accepts_int_or_string_and_numeric_quantities() -> None:
    container = {
        "name": "a",
        "image": "i",
        "readinessProbe": {"httpGet": {"port": "http"}},
        "livenessProbe": {"tcpSocket": {"port": 8080}},
        "resources": {"limits": {"cpu": 0.5, "memory": "1024Mi"}, "requests": {"cpu": 1}},
    }
    pod = _pod(containers=[container])
    assert schema.decode("Pod", pod, "Strict") == []
    assert container["resources"] == {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "1"}}


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("1", "1"),
        ("0.5", "500m"),
        ("1000m", "1"),
        ("100m", "100m"),
        ("1024Mi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("0.1Gi", "107374182400m"),
        ("1500", "1500"),
        ("2k", "2k"),
        ("1e3", "1e3"),
        ("12e2", "1200"),
        ("0.0000000001", "1n"),
        ("-1", "-1"),
        ("0Gi", "0"),
    ],
)
def test_canonical_quantity_matches_resource_quantity(text: str, canonical: str) -> None:
    assert schema.canonical_quantity(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "quantities must match the regular expression"),
        ("1.5.5", "quantities must match the regular expression"),
        ("", "quantities must match the regular expression"),
        ("1K", "unable to parse quantity's suffix"),
        ("1ki", "unable to parse quantity's suffix"),
    ],
)
def test_parse_quantity_rejects_what_the_server_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        schema.parse_quantity(text)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("aGVsbG8=", None),
        ("aGVs\nbG8=", None),
        ("aGVsbG8", "illegal base64 data at input byte 4"),
        ("abc", "illegal base64 data at input byte 0"),
        ("a===", "illegal base64 data at input byte 1"),
        ("aGVs bG8=", "illegal base64 data at input byte 4"),
        ("aGVsbG8=x", "illegal base64 data at input byte 8"),
    ],
)
def test_base64_error_matches_go_std_encoding(text: str, error: str | None) -> None:
    assert schema.base64_error(text) == error


def test_decode_rejects_secret_data_that_is_not_base64() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"password": "abc"}}
    error = _decode_error("Secret", secret)
    assert error.message == (
        'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0'
    )


def test_decode_writes_timestamps_back_in_utc() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "web", "creationTimestamp": "2024-05-01T12:00:00.5+02:00"}}
    schema.decode("Pod", pod, "Strict")
    assert pod["metadata"]["creationTimestamp"] == "2024-05-01T10:00:00Z"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "yesterday",
            'parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"',
        ),
        (
            "2024-05-01 10:00:00Z",
            'parsing time "2024-05-01 10:00:00Z" as "2006-01-02T15:04:05Z07:00": cannot parse " 10:00:00Z" as "T"',
        ),
        ("2024-13-01T10:00:00Z", 'parsing time "2024-13-01T10:00:00Z": month out of range'),
        ("2024-02-30T10:00:00Z", 'parsing time "2024-02-30T10:00:00Z": day out of range'),
    ],
)
def test_decode_rejects_bad_timestamps_like_time_parse(text: str, message: str) -> None:
    pod = {"kind": "Pod", "metadata": {"name": "web", "creationTimestamp": text}}
    assert _decode_error("Pod", pod).message.endswith(message)


def test_decode_removes_nulls_like_a_go_round_trip() -> None:
    pod = _pod(containers=[{"name": "a", "image": "i", "args": ["x", None]}], nodeName=None)
    pod["metadata"]["labels"] = {"tier": None}
    schema.decode("Pod", pod, "Strict")
    assert "nodeName" not in pod["spec"]
    assert pod["spec"]["containers"][0]["args"] == ["x", ""]
    assert pod["metadata"]["labels"] == {"tier": ""}


def test_decode_patch_answers_422_on_the_patch_field() -> None:
    patch = {"spec": {"containers": [{"name": "app", "imagee": "nginx:2"}]}}
    merged = _pod(containers=[{"name": "app", "image": "nginx", "imagee": "nginx:2"}])
    error = _decode_error("Pod", merged, patch=go_value(patch))
    assert (error.code, error.reason) == (422, "Invalid")
    assert error.message == (
        ' "" is invalid: patch: Invalid value: "map[spec:map[containers:[map[imagee:nginx:2 name:app]]]]": '
        'strict decoding error: unknown field "spec.containers[0].imagee"'
    )
    assert error.details["causes"][0]["field"] == "patch"


def test_decode_patch_shows_the_patched_object_when_no_patch_is_given() -> None:
    merged = {"kind": "Pod", "metadata": {"name": "web"}, "spec": {"bogus": 1}}
    error = _decode_error("Pod", merged, verb="patch")
    assert error.code == 422
    assert error.message == (
        ' "" is invalid: patch: Invalid value: "{\\"kind\\":\\"Pod\\",\\"metadata\\":{\\"name\\":\\"web\\"},'
        '\\"spec\\":{\\"bogus\\":1}}": strict decoding error: unknown field "spec.bogus"'
    )


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ({"b": 1, "a": [True, None]}, "map[a:[true <nil>] b:1]"),
        ({"x": 1.5, "y": 2.0, "z": "s p"}, "map[x:1.5 y:2 z:s p]"),
        ([], "[]"),
    ],
)
def test_go_value_prints_like_go_percent_plus_v(value: object, rendered: str) -> None:
    assert go_value(value) == rendered


def test_decode_rejects_unknown_field_validation_values() -> None:
    error = _decode_error("Pod", _pod(containers=[]), "Loud", verb="update")
    assert error.message == (
        'UpdateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loud": '
        'supported values: "", "Ignore", "Strict", "Warn"'
    )


def test_decode_warns_when_field_validation_is_absent() -> None:
    pod = _pod(containers=[], extra=1)
    assert schema.decode("Pod", pod, "") == ['unknown field "spec.extra"']


def test_decode_rejects_a_non_string_api_version_before_anything_else() -> None:
    error = _decode_error("Secret", {"apiVersion": 1, "kind": "Secret"})
    assert error.message.startswith(
        "the object provided is unrecognized (must be of type Secret): couldn't get version/kind; "
        "json parse error: json: cannot unmarshal number into Go struct field .apiVersion of type string ("
    )


# --- OpenAPI v3 -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict:
    """The generated /openapi/v3/api/v1 document for a few kinds."""
    return schema.openapi_v3(KINDS)


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("Pod", "/api/v1/namespaces/{namespace}/pods/{name}"),
        ("Namespace", "/api/v1/namespaces/{name}"),
        ("Service", "/api/v1/namespaces/{namespace}/services/{name}"),
        ("ConfigMap", "/api/v1/namespaces/{namespace}/configmaps/{name}"),
    ],
)
def test_openapi_patch_operations_carry_gvk_and_field_validation(document: dict, kind: str, path: str) -> None:
    patch = document["paths"][path]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "kind": kind, "version": "v1"}
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]


def test_openapi_declares_crud_operations_for_explain(document: dict) -> None:
    pods = document["paths"]["/api/v1/namespaces/{namespace}/pods"]
    assert {"get", "post", "delete"} <= pods.keys()
    assert pods["get"]["x-kubernetes-action"] == "list"
    item = document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert {"get", "put", "patch", "delete"} <= item.keys()
    assert document["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]


def test_openapi_pod_schema_is_a_top_level_kind(document: dict) -> None:
    pod = document["components"]["schemas"]["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert pod["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    ]
    assert pod["description"].startswith("Pod is a collection of containers")


def test_openapi_containers_carry_strategic_merge_markers(document: dict) -> None:
    containers = document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"]["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert "containers" in document["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["required"]


@pytest.mark.parametrize(
    ("definition", "prop", "expected"),
    [
        ("io.k8s.api.core.v1.ContainerPort", "containerPort", {"type": "integer", "format": "int32"}),
        ("io.k8s.api.core.v1.PodSpec", "activeDeadlineSeconds", {"type": "integer", "format": "int64"}),
        ("io.k8s.api.core.v1.Secret", "data", {"type": "object"}),
        ("io.k8s.api.core.v1.Container", "stdin", {"type": "boolean"}),
    ],
)
def test_openapi_property_types_follow_go_types(document: dict, definition: str, prop: str, expected: dict) -> None:
    assert expected.items() <= document["components"]["schemas"][definition]["properties"][prop].items()


def test_openapi_quantities_and_int_or_string_are_named_types(document: dict) -> None:
    schemas = document["components"]["schemas"]
    limits = schemas["io.k8s.api.core.v1.ResourceRequirements"]["properties"]["limits"]
    assert limits["additionalProperties"] == {"$ref": f"#/components/schemas/{schema.QUANTITY}"}
    assert schemas[schema.INT_OR_STRING]["format"] == "int-or-string"


def test_openapi_every_reference_resolves(document: dict) -> None:
    refs = {part.split('"')[0] for part in json.dumps(document).split('"$ref": "#/components/schemas/')[1:]}
    assert refs
    assert refs <= document["components"]["schemas"].keys()


def test_openapi_accepts_entries_without_a_collection_path() -> None:
    short = schema.openapi_v3([("Pod", "pods", True), ("Namespace", "namespaces", False)])
    assert "/api/v1/namespaces/{namespace}/pods/{name}" in short["paths"]
    assert "/api/v1/namespaces/{name}" in short["paths"]


def test_openapi_document_is_cached() -> None:
    assert schema.openapi_v3(KINDS) is schema.openapi_v3(list(KINDS))
