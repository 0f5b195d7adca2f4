"""How Go writes values into Kubernetes' messages: strconv.Quote, a field error, utilerrors.Aggregate."""

from __future__ import annotations

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


def invalid(path: str, value: str, detail: str) -> str:
    """field.Invalid's text for a string value."""
    return f"{path}: Invalid value: {go_quote(value)}: {detail}"


def aggregate(messages: list[str]) -> str:
    """utilerrors.Aggregate's text: one message bare, several deduplicated inside brackets."""
    unique = list(dict.fromkeys(messages))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
