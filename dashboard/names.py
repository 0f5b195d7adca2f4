"""Kubernetes object names as the API server checks them, so a bad URL gets a sentence, not a request."""

from __future__ import annotations

import re
from collections.abc import Callable

from kubetext.formats import is_dns1123_label, is_dns1123_subdomain


class InvalidName(ValueError):
    """A name the API server would refuse, with the rule it breaks."""


_LABEL_RULE = 'use at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit.'
_SUBDOMAIN_RULE = 'use at most 253 lowercase letters, digits, "-" and ".", starting and ending with a letter or digit.'


def _checked(name: str, what: str, errors: Callable[[str], list[str]], rule: str) -> str:
    if errors(name):
        raise InvalidName(f'"{name[:80]}" is not a valid {what} name: {rule}')
    return name


def check_namespace(name: str) -> str:
    """A namespace is a DNS label: at most 63 lowercase letters, digits and '-', starting and ending alphanumeric."""
    return _checked(name, "namespace", is_dns1123_label, _LABEL_RULE)


def check_name(name: str) -> str:
    """A pod name is a DNS subdomain: at most 253 characters of lowercase DNS labels joined by '.'."""
    return _checked(name, "pod", is_dns1123_subdomain, _SUBDOMAIN_RULE)


def check_container(name: str) -> str:
    """A container name is a DNS label, like a namespace."""
    return _checked(name, "container", is_dns1123_label, _LABEL_RULE)


_SINCE = re.compile(r"(\d{1,6})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> int | None:
    """A duration such as 30s, 5m, 1h or 2d in seconds; None for an empty text."""
    if not text:
        return None
    found = _SINCE.fullmatch(text)
    if not found or int(found.group(1)) == 0:
        raise InvalidName(f'since must look like 30s, 5m, 1h or 2d, not "{text[:40]}"')
    return int(found.group(1)) * _SECONDS[found.group(2)]
