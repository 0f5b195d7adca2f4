"""Kubernetes label selectors: parsed and matched as the API server and kubectl do (apimachinery's labels.Parse).

`parse_selector(text)` returns a predicate over a label dict, or raises SelectorError naming the offending part.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


class SelectorError(ValueError):
    """A label selector that Kubernetes would reject; the message names the offending part."""


NAME_RE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
PREFIX_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
NAME_CHARS = "alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character"
WHITESPACE = " \t\r\n"
SPECIAL = "=!(),><"
KEYWORDS = frozenset({"in", "notin"})
END = ""  # the token kind of the end of the text
OPERATORS = ("=", "==", "!=", "in", "notin", ">", "<")


def _key_problem(key: str) -> str:
    parts = key.split("/")
    if len(parts) > 2:
        return "a key has at most one '/', between an optional DNS subdomain prefix and the name"
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "the prefix before '/' must not be empty"
        if len(prefix) > 253:
            return "the prefix before '/' must be at most 253 characters"
        if not PREFIX_RE.fullmatch(prefix):
            return "the prefix before '/' must be a lowercase DNS subdomain like example.com"
    name = parts[-1]
    if not name:
        return "the name must not be empty"
    if len(name) > 63:
        return "the name must be at most 63 characters"
    if not NAME_RE.fullmatch(name):
        return f"the name must consist of {NAME_CHARS}"
    return ""


def _value_problem(value: str) -> str:
    if len(value) > 63:
        return "a value must be at most 63 characters"
    if value and not NAME_RE.fullmatch(value):
        return f"a value must be empty or consist of {NAME_CHARS}"
    return ""


def _lex(text: str) -> list[tuple[str, str]]:
    """Split a selector into (kind, literal) tokens the way apimachinery's lexer does."""
    tokens, pos = [], 0
    while True:
        while pos < len(text) and text[pos] in WHITESPACE:
            pos += 1
        if pos == len(text):
            tokens.append((END, ""))
            return tokens
        if text[pos] in SPECIAL:
            op = text[pos : pos + 2] if text[pos : pos + 2] in ("!=", "==") else text[pos]
            tokens.append((op, op))
            pos += len(op)
            continue
        start = pos
        while pos < len(text) and text[pos] not in SPECIAL and text[pos] not in WHITESPACE:
            pos += 1
        word = text[start:pos]
        tokens.append((word if word in KEYWORDS else "id", word))


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # one of OPERATORS, "exists" or "!"
    values: frozenset[str]

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("=", "==", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or not re.fullmatch(r"[+-]?[0-9]+", value):
            return False
        (limit,) = self.values
        return int(value) > int(limit) if self.op == ">" else int(value) < int(limit)


class _Parser:
    """Recursive descent over the tokens, following apimachinery's labels.Parse."""

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, literal = self.tokens[self.pos]
        # in and notin are only operators right after a key; anywhere else they are ordinary words.
        return ("id" if values and kind in KEYWORDS else kind), literal

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos += 1
        return token

    @staticmethod
    def shown(kind: str, literal: str) -> str:
        return "the end of the selector" if kind == END else f"'{literal}'"

    def parse(self) -> list[_Requirement]:
        requirements: list[_Requirement] = []
        kind, literal = self.peek()
        if kind == END:
            return requirements
        while True:
            if kind not in ("id", "!"):
                raise SelectorError(f"expected a label key or '!', found {self.shown(kind, literal)}")
            requirements.append(self.requirement())
            kind, literal = self.take()
            if kind == END:
                return requirements
            if kind != ",":
                raise SelectorError(
                    f"expected ',' or the end after '{self.text_of(requirements[-1])}', "
                    f"found {self.shown(kind, literal)}"
                )
            kind, literal = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"expected a label key after ',', found {self.shown(kind, literal)}")

    @staticmethod
    def text_of(req: _Requirement) -> str:
        if req.op in ("exists", "!"):
            return ("!" if req.op == "!" else "") + req.key
        if req.op in ("in", "notin"):
            return f"{req.key} {req.op} ({','.join(sorted(req.values))})"
        return f"{req.key}{req.op}{next(iter(req.values))}"

    def requirement(self) -> _Requirement:
        kind, key = self.take()
        negated = kind == "!"
        if negated:
            kind, key = self.take()
            if kind != "id":
                raise SelectorError(f"expected a label key after '!', found {self.shown(kind, key)}")
        problem = _key_problem(key)
        if problem:
            raise SelectorError(f"invalid label key '{key}': {problem}")
        if negated or self.peek()[0] in (END, ","):
            return _Requirement(key, "!" if negated else "exists", frozenset())
        kind, literal = self.take(values=False)
        if kind not in OPERATORS:
            raise SelectorError(
                f"expected an operator ({', '.join(OPERATORS)}) after '{key}', found {self.shown(kind, literal)}"
            )
        values = self.value_set(key, kind) if kind in ("in", "notin") else self.exact_value(key, kind)
        for value in values:
            problem = _value_problem(value)
            if problem:
                raise SelectorError(f"invalid value '{value}' for label '{key}': {problem}")
        if kind in (">", "<"):
            (value,) = values
            if not re.fullmatch(r"[0-9]+", value) or int(value) >= 2**63:
                raise SelectorError(f"the value of '{key}{kind}' must be an integer, found '{value}'")
        return _Requirement(key, kind, frozenset(values))

    def exact_value(self, key: str, op: str) -> set[str]:
        kind, literal = self.peek()
        if kind in (END, ","):
            return {""}
        self.take()
        if kind != "id":
            raise SelectorError(f"expected a value after '{key}{op}', found {self.shown(kind, literal)}")
        return {literal}

    def value_set(self, key: str, op: str) -> set[str]:
        kind, literal = self.take()
        if kind != "(":
            raise SelectorError(f"expected '(' after '{key} {op}', found {self.shown(kind, literal)}")
        values: set[str] = set()
        expect_value = True
        # Empty entries are the empty value, as in apimachinery: "(a,)" is {"a", ""} and "()" is {""}.
        while True:
            kind, literal = self.take()
            if kind == ")":
                if expect_value:
                    values.add("")
                return values
            if kind == "," and expect_value:
                values.add("")
            elif kind == "id" and expect_value:
                values.add(literal)
                expect_value = False
                continue
            elif kind != ",":
                raise SelectorError(
                    f"expected a value, ',' or ')' in the values of '{key} {op}', found {self.shown(kind, literal)}"
                )
            expect_value = True


def parse_selector(text: str) -> Callable[[dict[str, str]], bool]:
    """A predicate over a label dict for a Kubernetes label selector string; raises SelectorError if invalid."""
    requirements = tuple(_Parser(text).parse())

    def matches(labels: dict[str, str] | None) -> bool:
        found = labels or {}
        return all(r.matches(found) for r in requirements)

    return matches
