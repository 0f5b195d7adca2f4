"""Kubernetes object names as the API server checks them, so a bad URL gets a sentence, not a request."""

from __future__ import annotations

import re

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class InvalidName(ValueError):
    """A name the API server would refuse, with the rule it breaks."""


def check_namespace(name: str) -> str:
    """A namespace is a DNS label: at most 63 lowercase letters, digits and '-', starting and ending alphanumeric."""
    if len(name) > 63 or not _LABEL.fullmatch(name):
        raise InvalidName(
            f'"{name[:80]}" is not a valid namespace name: use at most 63 lowercase letters, digits and "-", '
            "starting and ending with a letter or digit."
        )
    return name


def check_name(name: str) -> str:
    """A pod name is a DNS subdomain: at most 253 characters of lowercase DNS labels joined by '.'."""
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        raise InvalidName(
            f'"{name[:80]}" is not a valid pod name: use at most 253 lowercase letters, digits, "-" and ".", '
            "starting and ending with a letter or digit."
        )
    return name


_SINCE = re.compile(r"(\d{1,6})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def check_container(name: str) -> str:
    """A container name is a DNS label, like a namespace."""
    if len(name) > 63 or not _LABEL.fullmatch(name):
        raise InvalidName(
            f'"{name[:80]}" is not a valid container name: use at most 63 lowercase letters, digits and "-", '
            "starting and ending with a letter or digit."
        )
    return name


def parse_since(text: str) -> int | None:
    """A duration such as 30s, 5m, 1h or 2d in seconds; None for an empty text."""
    if not text:
        return None
    found = _SINCE.fullmatch(text)
    if not found or int(found.group(1)) == 0:
        raise InvalidName(f'since must look like 30s, 5m, 1h or 2d, not "{text[:40]}"')
    return int(found.group(1)) * _SECONDS[found.group(2)]
