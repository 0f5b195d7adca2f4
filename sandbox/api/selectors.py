"""Label and field selectors, parsed and matched the way the API server does.

The grammar, the matching rules and every error message follow apimachinery's `labels.Parse` and
`fields.ParseSelector`, and the per-kind field labels follow k/k `pkg/apis/core/v1/conversion.go` and the
registries' `ToSelectableFields`, so a client sees the same 400 and the same objects as from a real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.api.validation.formats import is_label_value, is_qualified_name
from sandbox.errors import bad_request

# -- Go-compatible formatting ----------------------------------------------------------------------

_GO_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}


def go_quote(text: str) -> str:
    """`strconv.Quote`: how Go's `%q` renders a string inside field error messages."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _invalid(path: str, value: str, detail: str) -> str:
    return f"{path}: Invalid value: {go_quote(value)}: {detail}"


def _aggregate(messages: list[str]) -> str:
    """utilerrors.Aggregate's text: one message bare, several deduplicated inside brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


# -- label selectors ---------------------------------------------------------------------------------

# selection.Operator values; "!" is DoesNotExist.
IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_INT64 = re.compile(r"[+-]?[0-9]+")


def _parse_int64(text: str) -> int | None:
    """strconv.ParseInt(text, 10, 64), or None where Go would return an error."""
    if not _INT64.fullmatch(text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector: a key, an operator and its (sorted, distinct) values."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if self.operator in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == EXISTS:
            return self.key in labels
        if self.operator == DOES_NOT_EXIST:
            return self.key not in labels
        if self.key not in labels or len(self.values) != 1:
            return False
        have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
        if have is None or want is None:
            return False
        return have > want if self.operator == GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(self.values)
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the AND of its requirements; no requirements selects everything."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object carrying `labels` is selected."""
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """labels.NewRequirement for a key the parser has already validated."""
    errs: list[str] = []
    if operator in (GREATER_THAN, LESS_THAN):
        errs.extend(
            _invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
            for i, v in enumerate(values)
            if _parse_int64(v) is None
        )
    for i, v in enumerate(values):
        if problems := is_label_value(v):
            errs.append(_invalid(f"values[{i}][{key}]", v, "; ".join(problems)))
    if errs:
        raise _SyntaxError(_aggregate(errs))
    return Requirement(key, operator, tuple(values))


class _SyntaxError(Exception):
    pass


# Lexer tokens (labels.Token); values only need to be distinct.
_ERROR, _END, _CLOSE, _COMMA, _NOT, _DOUBLE_EQ, _EQ, _GT, _ID, _IN, _LT, _NOT_EQ, _NOT_IN, _OPEN = range(14)
_STRING_TO_TOKEN = {
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQ,
    "=": _EQ,
    ">": _GT,
    "in": _IN,
    "<": _LT,
    "!=": _NOT_EQ,
    "notin": _NOT_IN,
    "(": _OPEN,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_EOF = "\0"  # Go's lexer reads a NUL byte past the end, so a NUL in the input behaves the same way


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def read(self) -> str:
        if self.pos < len(self.text):
            self.pos += 1
            return self.text[self.pos - 1]
        return _EOF

    def unread(self) -> None:
        self.pos -= 1

    def identifier_or_keyword(self) -> tuple[int, str]:
        buffer = []
        while True:
            ch = self.read()
            if ch == _EOF:
                break
            if ch in _SPECIAL or ch in _WHITESPACE:
                self.unread()
                break
            buffer.append(ch)
        text = "".join(buffer)
        return _STRING_TO_TOKEN.get(text, _ID), text

    def special_symbol(self) -> tuple[int, str]:
        buffer = ""
        last: tuple[int, str] | None = None
        while True:
            ch = self.read()
            if ch == _EOF:
                break
            if ch not in _SPECIAL:
                self.unread()
                break
            buffer += ch
            if buffer in _STRING_TO_TOKEN:
                last = (_STRING_TO_TOKEN[buffer], buffer)
            elif last is not None:
                self.unread()
                break
        if last is None:
            return _ERROR, f"error expected: keyword found '{buffer}'"
        return last

    def lex(self) -> tuple[int, str]:
        ch = self.read()
        while ch in _WHITESPACE:
            ch = self.read()
        if ch == _EOF:
            return _END, ""
        self.unread()
        return self.special_symbol() if ch in _SPECIAL else self.identifier_or_keyword()


class _Parser:
    """labels.Parser: a recursive-descent parser over the scanned tokens."""

    def __init__(self, text: str) -> None:
        lexer = _Lexer(text)
        self.items: list[tuple[int, str]] = []
        while True:
            self.items.append(lexer.lex())
            if self.items[-1][0] == _END:
                break
        self.position = 0

    def lookahead(self, values: bool) -> tuple[int, str]:
        tok, lit = self.items[self.position]
        # In value position the keywords `in` and `notin` are plain identifiers: `x in (in)`.
        return (_ID if values and tok in (_IN, _NOT_IN) else tok), lit

    def consume(self, values: bool) -> tuple[int, str]:
        item = self.lookahead(values)
        self.position += 1
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(values=True)
            if tok in (_ID, _NOT):
                try:
                    requirements.append(self.requirement())
                except _SyntaxError as err:
                    raise _SyntaxError(f"unable to parse requirement: {err}") from None
                tok, lit = self.consume(values=True)
                if tok == _END:
                    return requirements
                if tok != _COMMA:
                    raise _SyntaxError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead(values=True)
                if tok2 not in (_ID, _NOT):
                    raise _SyntaxError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _END:
                return requirements
            else:
                raise _SyntaxError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        key, operator = self.key_and_inferred_operator()
        if operator in (EXISTS, DOES_NOT_EXIST):
            return _new_requirement(key, operator, [])
        operator = self.operator()
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return _new_requirement(key, operator, sorted(values))

    def key_and_inferred_operator(self) -> tuple[str, str]:
        operator = ""
        tok, lit = self.consume(values=True)
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, lit = self.consume(values=True)
        if tok != _ID:
            raise _SyntaxError(f"found '{lit}', expected: identifier")
        if problems := is_qualified_name(lit):
            # The parser validates with a nil field path, which Go prints as "<nil>".
            raise _SyntaxError(_invalid("<nil>", lit, "; ".join(problems)))
        if self.lookahead(values=True)[0] in (_END, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        return lit, operator

    def operator(self) -> str:
        tok, lit = self.consume(values=False)
        operators = {
            _IN: IN,
            _EQ: EQUALS,
            _DOUBLE_EQ: DOUBLE_EQUALS,
            _GT: GREATER_THAN,
            _LT: LESS_THAN,
            _NOT_IN: NOT_IN,
            _NOT_EQ: NOT_EQUALS,
        }
        if tok not in operators:
            raise _SyntaxError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operators[tok]

    def value_set(self) -> set[str]:
        tok, lit = self.consume(values=True)
        if tok != _OPEN:
            raise _SyntaxError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(values=True)
        if tok in (_ID, _COMMA):
            values = self.identifier_list()
            if self.consume(values=True)[0] != _CLOSE:
                raise _SyntaxError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume(values=True)
            return {""}
        raise _SyntaxError(f"found '{lit}', expected: ',', ')' or identifier")

    def identifier_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume(values=True)
            if tok == _ID:
                values.add(lit)
                tok2, lit2 = self.lookahead(values=True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise _SyntaxError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # Empty entries (`(,a)`, `(a,)`, `(a,,b)`) stand for the empty value.
                if not values:
                    values.add("")
                tok2 = self.lookahead(values=True)[0]
                if tok2 in (_CLOSE, _COMMA):
                    values.add("")
                if tok2 == _CLOSE:
                    return values
            else:
                raise _SyntaxError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead(values=True)[0] in (_END, _COMMA):
            return {""}
        tok, lit = self.consume(values=True)
        if tok == _ID:
            return {lit}
        raise _SyntaxError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """labels.Parse; a syntax or validation error becomes the server's 400 BadRequest."""
    try:
        requirements = _Parser(text).parse()
    except _SyntaxError as err:
        raise bad_request(str(err)) from None
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


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
