"""Label selectors as apimachinery's labels.Parse reads them and labels.Selector matches them.

`parse(text)` gives a LabelSelector, or raises SelectorError with the message the API server answers a bad
`labelSelector` with (what `kubectl get -l` prints).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kubetext.formats import is_label_value, is_qualified_name
from kubetext.gotext import aggregate, invalid

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
            invalid(f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer")
            for i, v in enumerate(values)
            if _parse_int64(v) is None
        )
    for i, v in enumerate(values):
        if problems := is_label_value(v):
            errs.append(invalid(f"values[{i}][{key}]", v, "; ".join(problems)))
    if errs:
        raise SelectorError(aggregate(errs))
    return Requirement(key, operator, tuple(values))


class SelectorError(ValueError):
    """A label selector apimachinery's parser refuses, with its message."""


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
                except SelectorError as err:
                    raise SelectorError(f"unable to parse requirement: {err}") from None
                tok, lit = self.consume(values=True)
                if tok == _END:
                    return requirements
                if tok != _COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead(values=True)
                if tok2 not in (_ID, _NOT):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _END:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

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
            raise SelectorError(f"found '{lit}', expected: identifier")
        if problems := is_qualified_name(lit):
            # The parser validates with a nil field path, which Go prints as "<nil>".
            raise SelectorError(invalid("<nil>", lit, "; ".join(problems)))
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
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return operators[tok]

    def value_set(self) -> set[str]:
        tok, lit = self.consume(values=True)
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(values=True)
        if tok in (_ID, _COMMA):
            values = self.identifier_list()
            if self.consume(values=True)[0] != _CLOSE:
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSE:
            self.consume(values=True)
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

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
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
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
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.lookahead(values=True)[0] in (_END, _COMMA):
            return {""}
        tok, lit = self.consume(values=True)
        if tok == _ID:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse(text: str) -> LabelSelector:
    """labels.Parse: the selector, or SelectorError with apimachinery's message."""
    return LabelSelector(tuple(sorted(_Parser(text).parse(), key=lambda r: r.key)))
