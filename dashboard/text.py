"""Text for people."""

from __future__ import annotations


def sentence(text: str) -> str:
    """An error's phrase ("no such pod") as a sentence to show ("No such pod.")."""
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
