"""Label and field selectors, parsed and matched the way the API server does.

The grammar, the matching rules and every error message follow apimachinery's `labels.Parse` and
`fields.ParseSelector`, and the per-kind field labels follow k/k `pkg/apis/core/v1/conversion.go` and the
registries' `ToSelectableFields`, so a client sees the same 400 and the same objects as from a real server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubetext import selectors
from kubetext.gotext import go_quote
from sandbox.errors import bad_request


class _SyntaxError(Exception):
    pass


def parse_label_selector(text: str) -> selectors.LabelSelector:
    """labels.Parse; a syntax or validation error becomes the server's 400 BadRequest."""
    try:
        return selectors.parse(text)
    except selectors.SelectorError as err:
        raise bad_request(str(err)) from None


# -- field selectors ---------------------------------------------------------------------------------


def _meta(obj: dict[str, Any], namespaced: bool) -> dict[str, str]:
    metadata = obj.get("metadata") or {}
    fields = {"metadata.name": metadata.get("name", "")}
    if namespaced:
        fields["metadata.namespace"] = metadata.get("namespace", "")
    return fields


def _go_bool(value: Any) -> str:
    return "true" if value else "false"


def _pod_ip(status: dict[str, Any]) -> str:
    """The primary pod IP, as conversion to the internal type settles podIP against podIPs."""
    if status.get("podIP"):
        primary: str = status["podIP"]
        return primary
    ips = status.get("podIPs") or []
    return ips[0].get("ip", "") if ips else ""


def _pod_fields(pod: dict[str, Any]) -> dict[str, str]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    # status.podIPs is an accepted label with no selectable value, so it only ever equals "".
    return {
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.restartPolicy": spec.get("restartPolicy", ""),
        "spec.schedulerName": spec.get("schedulerName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "spec.hostNetwork": _go_bool(spec.get("hostNetwork")),
        "status.phase": status.get("phase", ""),
        "status.podIP": _pod_ip(status),
        "status.nominatedNodeName": status.get("nominatedNodeName", ""),
        **_meta(pod, True),
    }


def _event_fields(event: dict[str, Any]) -> dict[str, str]:
    involved = event.get("involvedObject") or {}
    source = (event.get("source") or {}).get("component") or event.get("reportingComponent", "")
    fields = {f"involvedObject.{k}": involved.get(k, "") for k in _INVOLVED_OBJECT_FIELDS}
    fields.update(
        {
            "reason": event.get("reason", ""),
            "reportingComponent": event.get("reportingComponent", ""),
            "source": source,
            "type": event.get("type", ""),
        }
    )
    return {**fields, **_meta(event, True)}


_INVOLVED_OBJECT_FIELDS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


@dataclass(frozen=True)
class _FieldLabels:
    """What a kind accepts in a field selector and the values its objects offer for matching."""

    accepted: frozenset[str] | None  # None: only metadata.name/namespace, with the generic error
    selectable: Callable[[dict[str, Any]], dict[str, str]]
    renamed: tuple[tuple[str, str], ...] = ()


_KINDS: dict[str, _FieldLabels] = {
    "Pod": _FieldLabels(
        frozenset(
            {
                "metadata.name",
                "metadata.namespace",
                "spec.nodeName",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.serviceAccountName",
                "spec.hostNetwork",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.nominatedNodeName",
            }
        ),
        _pod_fields,
        # Old v1 clients send spec.host.
        renamed=(("spec.host", "spec.nodeName"),),
    ),
    "Event": _FieldLabels(
        frozenset(
            {f"involvedObject.{k}" for k in _INVOLVED_OBJECT_FIELDS}
            | {"reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"}
        ),
        _event_fields,
    ),
    "Node": _FieldLabels(
        frozenset({"metadata.name", "spec.unschedulable"}),
        lambda o: {
            **_meta(o, False),
            "spec.unschedulable": _go_bool((o.get("spec") or {}).get("unschedulable")),
        },
    ),
    "Namespace": _FieldLabels(
        frozenset({"status.phase", "metadata.name"}),
        lambda o: {
            **_meta(o, False),
            "status.phase": (o.get("status") or {}).get("phase", ""),
            "name": (o.get("metadata") or {}).get("name", ""),
        },
    ),
    "Secret": _FieldLabels(
        frozenset({"type", "metadata.namespace", "metadata.name"}),
        lambda o: {**_meta(o, True), "type": o.get("type", "")},
    ),
    "Service": _FieldLabels(
        frozenset({"metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"}),
        lambda o: {
            **_meta(o, True),
            "spec.clusterIP": (o.get("spec") or {}).get("clusterIP", ""),
            "spec.type": (o.get("spec") or {}).get("type", ""),
        },
    ),
    "PersistentVolumeClaim": _FieldLabels(
        None, lambda o: {**_meta(o, True), "name": (o.get("metadata") or {}).get("name", "")}
    ),
}
_DEFAULT_KIND = _FieldLabels(None, lambda o: _meta(o, True))


def _convert_field_label(labels: _FieldLabels, label: str) -> str:
    """scheme.ConvertFieldLabel: the canonical label, or the error the server answers with."""
    if labels.accepted is None:
        if label in ("metadata.name", "metadata.namespace"):
            return label
        raise _SyntaxError(
            f"{go_quote(label)} is not a known field selector: only "
            f"{go_quote('metadata.name')}, {go_quote('metadata.namespace')}"
        )
    if label in labels.accepted:
        return label
    renamed = dict(labels.renamed)
    if label in renamed:
        return renamed[label]
    raise _SyntaxError(f"field label not supported: {label}")


@dataclass(frozen=True)
class FieldRequirement:
    """One term of a field selector; `operator` is "=" (also for "==") or "!="."""

    field: str
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{self.value}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector for one kind: the AND of its terms; no terms selects everything."""

    kind: str
    requirements: tuple[FieldRequirement, ...] = ()

    def matches(self, obj: dict[str, Any]) -> bool:
        """Whether `obj` is selected; fields a kind accepts but does not expose compare as ""."""
        if not self.requirements:
            return True
        fields = _KINDS.get(self.kind, _DEFAULT_KIND).selectable(obj)
        return all((fields.get(r.field, "") == r.value) == (r.operator == "=") for r in self.requirements)

    def exact_name(self) -> str | None:
        """The name pinned by a `metadata.name=` term, so a watch can look at one object only."""
        return next((r.value for r in self.requirements if r.field == "metadata.name" and r.operator == "="), None)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not backslash-escaped, keeping the escapes in the terms."""
    if not text:
        return []
    terms, start, in_slash = [], 0, False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The left-hand side cannot be escaped, so the first operator found is the split point.
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape_value(value: str) -> str:
    if not any(c in value for c in "\\,="):
        return value
    out, in_slash = [], False
    for ch in value:
        if in_slash:
            if ch not in "\\,=":
                raise _SyntaxError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch in ",=":
            # Go formats the rune with %v, which prints its code point.
            raise _SyntaxError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise _SyntaxError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def parse_field_selector(text: str, kind: str) -> FieldSelector:
    """fields.ParseSelector plus the kind's field label conversion; errors are the server's 400s."""
    labels = _KINDS.get(kind, _DEFAULT_KIND)
    try:
        terms = []
        for part in sorted(_split_terms(text)):
            if not part:
                continue
            split = _split_term(part)
            if split is None:
                raise _SyntaxError(f"invalid selector: '{text}'; can't understand '{part}'")
            lhs, op, rhs = split
            terms.append((lhs, "!=" if op == "!=" else "=", _unescape_value(rhs)))
        requirements = tuple(FieldRequirement(_convert_field_label(labels, f), op, v) for f, op, v in terms)
    except _SyntaxError as err:
        raise bad_request(str(err)) from None
    return FieldSelector(kind, requirements)
