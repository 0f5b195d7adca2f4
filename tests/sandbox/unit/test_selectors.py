"""Label and field selectors: the grammar, matching and the exact 400 messages of a real API server."""

from __future__ import annotations

import pytest

from kubetext.gotext import go_quote
from sandbox.api.selectors import parse_field_selector, parse_label_selector
from sandbox.errors import ApiError

WEB = {"app": "web", "tier": "frontend", "release": "3"}


def test_a_bad_label_selector_is_the_servers_400() -> None:
    """kubetext.selectors parses (tests/kubetext/test_selectors.py); the server answers its error as a 400."""
    with pytest.raises(ApiError) as caught:
        parse_label_selector("a b")
    assert caught.value.status() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt",
        "reason": "BadRequest",
        "code": 400,
    }


def test_a_label_selector_matches_through_the_server() -> None:
    assert parse_label_selector("app=web,!gone").matches(WEB)


def pod(name: str = "web", **extra: object) -> dict:
    obj = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": "node-1",
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]},
    }
    obj.update(extra)
    return obj


EVENT = {
    "metadata": {"name": "web.17a", "namespace": "default"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "default",
        "name": "web",
        "uid": "6c1b2f3e",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "spec.containers{app}",
    },
    "reason": "BackOff",
    "type": "Warning",
    "source": {"component": "kubelet", "host": "node-1"},
    "reportingComponent": "kubelet",
}
NEW_STYLE_EVENT = {
    "metadata": {"name": "web.17b", "namespace": "default"},
    "involvedObject": {"kind": "Pod", "name": "web"},
    "reason": "Scheduled",
    "type": "Normal",
    "reportingComponent": "default-scheduler",
}


@pytest.mark.parametrize(
    ("kind", "selector", "obj", "expected"),
    [
        ("Pod", "", pod(), True),
        ("Pod", "metadata.name=web", pod(), True),
        ("Pod", "metadata.name==web", pod(), True),
        ("Pod", "metadata.name!=web", pod(), False),
        ("Pod", "metadata.name=db", pod(), False),
        ("Pod", "metadata.namespace=default,metadata.name=web", pod(), True),
        ("Pod", "spec.nodeName=node-1", pod(), True),
        ("Pod", "spec.host=node-1", pod(), True),
        ("Pod", "spec.nodeName=", pod(spec={}), True),
        ("Pod", "status.phase!=Running", pod(), False),
        ("Pod", "status.phase=Running,spec.restartPolicy=Always", pod(), True),
        ("Pod", "status.podIP=10.0.0.5", pod(), True),
        ("Pod", "status.podIP=10.0.0.9", pod(status={"podIPs": [{"ip": "10.0.0.9"}]}), True),
        # Accepted but never populated by the server, so it only matches the empty value.
        ("Pod", "status.podIPs=10.0.0.5", pod(), False),
        ("Pod", "status.podIPs=", pod(), True),
        ("Pod", "spec.hostNetwork=false", pod(), True),
        ("Pod", "spec.hostNetwork=true", pod(spec={"hostNetwork": True}), True),
        ("Pod", "spec.schedulerName=default-scheduler", pod(), True),
        ("Pod", "spec.serviceAccountName=default", pod(), True),
        ("Pod", "status.nominatedNodeName=", pod(), True),
        (
            "Event",
            "involvedObject.name=web,involvedObject.namespace=default,involvedObject.uid=6c1b2f3e",
            EVENT,
            True,
        ),
        ("Event", "involvedObject.uid=other", EVENT, False),
        ("Event", "involvedObject.kind=Pod,involvedObject.apiVersion=v1", EVENT, True),
        ("Event", "involvedObject.fieldPath=spec.containers{app}", EVENT, True),
        ("Event", "involvedObject.resourceVersion=42", EVENT, True),
        ("Event", "reason=BackOff,type=Warning", EVENT, True),
        ("Event", "type!=Normal", EVENT, True),
        ("Event", "source=kubelet", EVENT, True),
        ("Event", "source=default-scheduler", NEW_STYLE_EVENT, True),
        ("Event", "reportingComponent=default-scheduler", NEW_STYLE_EVENT, True),
        ("Node", "spec.unschedulable=false", {"metadata": {"name": "n1"}, "spec": {}}, True),
        (
            "Node",
            "spec.unschedulable=true",
            {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
            True,
        ),
        ("Node", "metadata.name=n1", {"metadata": {"name": "n1"}}, True),
        (
            "Namespace",
            "status.phase=Active",
            {"metadata": {"name": "x"}, "status": {"phase": "Active"}},
            True,
        ),
        (
            "Namespace",
            "status.phase=Terminating",
            {"metadata": {"name": "x"}, "status": {"phase": "Active"}},
            False,
        ),
        ("Secret", "type=Opaque", {"metadata": {"name": "s"}, "type": "Opaque"}, True),
        ("Secret", "type=kubernetes.io/tls", {"metadata": {"name": "s"}, "type": "Opaque"}, False),
        ("Service", "spec.type=ClusterIP", {"metadata": {"name": "s"}, "spec": {"type": "ClusterIP"}}, True),
        ("Service", "spec.clusterIP=None", {"metadata": {"name": "s"}, "spec": {"clusterIP": "None"}}, True),
        (
            "ConfigMap",
            "metadata.namespace=kube-system",
            {"metadata": {"name": "c", "namespace": "default"}},
            False,
        ),
        (
            "ServiceAccount",
            "metadata.name=default",
            {"metadata": {"name": "default", "namespace": "x"}},
            True,
        ),
        (
            "PersistentVolumeClaim",
            "metadata.name!=data",
            {"metadata": {"name": "logs", "namespace": "x"}},
            True,
        ),
    ],
)
def test_field_selector_matches(kind: str, selector: str, obj: dict, expected: bool) -> None:
    assert parse_field_selector(selector, kind).matches(obj) is expected


@pytest.mark.parametrize(
    ("kind", "selector", "message"),
    [
        ("Pod", "spec.foo=1", "field label not supported: spec.foo"),
        ("Pod", "status.podIP=1,spec.foo=1,metadata.uid=2", "field label not supported: metadata.uid"),
        ("Event", "involvedObject.foo=x", "field label not supported: involvedObject.foo"),
        ("Node", "metadata.namespace=default", "field label not supported: metadata.namespace"),
        ("Namespace", "metadata.namespace=default", "field label not supported: metadata.namespace"),
        ("Secret", "data=x", "field label not supported: data"),
        ("Service", "spec.ports=80", "field label not supported: spec.ports"),
        (
            "ConfigMap",
            "data.key=x",
            '"data.key" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "ServiceAccount",
            "secrets=x",
            '"secrets" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        (
            "PersistentVolumeClaim",
            "name=x",
            '"name" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        ("Pod", "x", "invalid selector: 'x'; can't understand 'x'"),
        (
            "Pod",
            "metadata.name=web,oops",
            "invalid selector: 'metadata.name=web,oops'; can't understand 'oops'",
        ),
        ("Pod", "a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("Pod", "metadata.name=a\\b", "invalid field selector: invalid escape sequence: \\b"),
        ("Pod", "metadata.name=web\\", "invalid field selector: invalid escape sequence: \\"),
        # Syntax is checked for every term before any label is converted.
        ("Pod", "spec.foo=1,zz", "invalid selector: 'spec.foo=1,zz'; can't understand 'zz'"),
    ],
)
def test_field_selector_rejects_bad_input_with_server_message(kind: str, selector: str, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_field_selector(selector, kind)
    assert (caught.value.code, caught.value.reason, caught.value.message) == (400, "BadRequest", message)


@pytest.mark.parametrize(
    ("selector", "field", "value"),
    [
        (r"metadata.name=a\,b", "metadata.name", "a,b"),
        (r"metadata.name=a\=b", "metadata.name", "a=b"),
        (r"metadata.name=a\\b", "metadata.name", "a\\b"),
        ("metadata.name==web", "metadata.name", "web"),
        ("metadata.name=", "metadata.name", ""),
    ],
)
def test_field_selector_unescapes_values(selector: str, field: str, value: str) -> None:
    (requirement,) = parse_field_selector(selector, "Pod").requirements
    assert (requirement.field, requirement.operator, requirement.value) == (field, "=", value)


def test_field_selector_ignores_empty_terms() -> None:
    selector = parse_field_selector(",metadata.name=web,,", "Pod")
    assert str(selector) == "metadata.name=web"


@pytest.mark.parametrize(
    ("selector", "name"),
    [
        ("metadata.name=web", "web"),
        ("metadata.namespace=default,metadata.name==web", "web"),
        ("metadata.name!=web", None),
        ("status.phase=Running", None),
        ("", None),
    ],
)
def test_field_selector_exact_name(selector: str, name: str | None) -> None:
    assert parse_field_selector(selector, "Pod").exact_name() == name


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("web", '"web"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("tab\there", '"tab\\there"'),
        ("\x01", '"\\x01"'),
        ("ключ", '"ключ"'),
        ("\u200b", '"\\u200b"'),
    ],
)
def test_go_quote_matches_strconv_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted
