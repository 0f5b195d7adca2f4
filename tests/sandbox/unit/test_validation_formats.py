"""The string formats and name rules: each message exactly as the server words it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubetext import formats
from sandbox.api.validation import metadata

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


@pytest.mark.parametrize(
    ("check", "value", "errors"),
    [
        (formats.is_dns1123_label, "my-name", []),
        (formats.is_dns1123_label, "a.b", ["must not contain dots"]),
        (formats.is_dns1123_label, "A" * 64, ["must be no more than 63 characters", LABEL_MSG]),
        (formats.is_dns1123_subdomain, "a" * 254, ["must be no more than 253 characters"]),
        (
            formats.is_dns1035_label,
            "1abc",
            [
                "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            ],
        ),
        (
            formats.is_dns1123_subdomain_with_underscore,
            "_a.B",
            [
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or "
                "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                "validation is '_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?(\\._?[a-z0-9]([-_a-z0-9]*[a-z0-9])?)*')"
            ],
        ),
        (
            formats.is_label_value,
            "-x",
            [
                "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
            ],
        ),
        (formats.is_label_value, "", []),
        (formats.is_config_map_key, "..a", ["must not start with '..'"]),
        (
            formats.is_config_map_key,
            "a b",
            [
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
            ],
        ),
        (formats.is_port_name, "-a--", ["must not contain consecutive hyphens", "must not begin or end with a hyphen"]),
        (
            formats.is_port_name,
            "1234567890123456",
            ["must be no more than 15 characters", "must contain at least one letter (a-z)"],
        ),
        (formats.is_relaxed_env_var_name, "", ["environment variable name must be non-empty"]),
        (
            formats.is_relaxed_env_var_name,
            "A=B",
            ["a valid environment variable name must consist only of printable ASCII characters other than '='"],
        ),
        (formats.is_relaxed_env_var_name, "my.var-1 ~", []),
    ],
)
def test_formats_report_the_servers_messages(check: Callable[[str], list[str]], value: str, errors: list[str]) -> None:
    assert check(value) == errors


@pytest.mark.parametrize(
    ("name", "prefix", "errors"),
    [
        ("web-", True, []),
        ("web-", False, [SUBDOMAIN_MSG]),
        ("a" * 254, False, ["must be no more than 253 characters"]),
        ("web.example.com", False, []),
    ],
)
def test_name_is_dns_subdomain_masks_generate_name_dashes(name: str, prefix: bool, errors: list[str]) -> None:
    assert metadata.name_is_dns_subdomain(name, prefix) == errors


@pytest.mark.parametrize(
    ("key", "errors"),
    [
        ("app.kubernetes.io/name", []),
        ("/name", ["prefix part must be non-empty"]),
        ("a/b/c", ["a valid label key must consist of"]),
        ("Example.com/x", ["prefix part a lowercase RFC 1123 subdomain"]),
        ("x" * 64, ["name part must be no more than 63 bytes"]),
    ],
)
def test_qualified_names_follow_label_key_rules(key: str, errors: list[str]) -> None:
    found = formats.is_qualified_name(key)
    assert len(found) == len(errors)
    assert all(f.startswith(e) for f, e in zip(found, errors, strict=True))
