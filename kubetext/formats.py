"""String formats as apimachinery's util/validation checks them: DNS names, labels, config keys, ports, IPs.

The table below holds each format as apimachinery's util/validation words it: the pattern, the length limit,
the message and the examples the server shows. `Format.errors` is the one checker; the named functions add
what a format needs beyond pattern and length (a label's dots, a key's prefix, a port name's hyphens).
Every function returns the server's messages, empty when the value is valid.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError: the message, the examples and the regex, as the server words them."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    # The doubled space before "or" is in the upstream text too.
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def byte_length(value: str) -> int:
    """Go's len() of a string: its UTF-8 bytes."""
    return len(value.encode())


@dataclass(frozen=True)
class Format:
    """A string format: its pattern, an optional length limit, and the server's words when either fails."""

    pattern: str
    message: str
    examples: tuple[str, ...] = ()
    max_length: int | None = None
    # util/validation counts "characters"; the api/validate/content checks say "bytes". Both count bytes.
    unit: str = "characters"
    # False where the server shows the bare message, without the regex and examples.
    shows_regex: bool = True

    def too_long(self, value: str) -> list[str]:
        if self.max_length is not None and byte_length(value) > self.max_length:
            return [f"must be no more than {self.max_length} {self.unit}"]
        return []

    def matches(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value) is not None

    def mismatch(self) -> str:
        """The message for a value that does not match the pattern."""
        return regex_error(self.message, self.pattern, *self.examples) if self.shows_regex else self.message

    def errors(self, value: str) -> list[str]:
        """Length first, then pattern: the order the server reports them in."""
        return self.too_long(value) + ([] if self.matches(value) else [self.mismatch()])


_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_UNDERSCORE_LABEL_FMT = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"

DNS1123_LABEL = Format(
    _DNS1123_LABEL_FMT,
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character",
    ("my-name", "123-abc"),
    63,
)
DNS1123_SUBDOMAIN = Format(_DNS1123_SUBDOMAIN_FMT, _DNS1123_SUBDOMAIN_MSG, ("example.com",), 253)
DNS1035_LABEL = Format(
    "[a-z]([-a-z0-9]*[a-z0-9])?",
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character",
    ("my-name", "abc-123"),
    63,
)
DNS1123_SUBDOMAIN_WITH_UNDERSCORE = Format(
    _UNDERSCORE_LABEL_FMT + "(\\." + _UNDERSCORE_LABEL_FMT + ")*",
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '_', '-' or '.', "
    "and must start and end with an alphanumeric character",
    ("example.com",),
    253,
)
# The prefix of a qualified name (content.IsDNS1123Subdomain), measured in bytes.
QUALIFIED_NAME_PREFIX = Format(_DNS1123_SUBDOMAIN_FMT, _DNS1123_SUBDOMAIN_MSG, ("example.com",), 253, "bytes")
QUALIFIED_NAME = Format(
    _LABEL_KEY_FMT,
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    ("MyName", "my.name", "123-abc"),
    63,
    "bytes",
)
LABEL_VALUE = Format(
    "(" + _LABEL_KEY_FMT + ")?",
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character",
    ("MyValue", "my_value", "12345"),
    63,
    "bytes",
)
CONFIG_MAP_KEY = Format(
    "[-._a-zA-Z0-9]+",
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
    ("key.name", "KEY_NAME", "key-name"),
    253,
)
IANA_SVC_NAME = Format(
    "[-a-z0-9]+",
    "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
    max_length=15,
    shows_regex=False,
)
# Printable ASCII other than '='; emptiness has its own message.
RELAXED_ENV_VAR_NAME = Format(
    "[ -<>-~]*",
    "a valid environment variable name must consist only of printable ASCII characters other than '='",
    shows_regex=False,
)
HTTP_HEADER_NAME = Format(
    "[-A-Za-z0-9]+", "a valid HTTP header must consist of alphanumeric characters or '-'", ("X-Header-Name",)
)

IP_ADDRESS_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_dns1123_label(value: str) -> list[str]:
    """IsDNS1123Label: at most 63 characters of [a-z0-9-], alphanumeric at both ends."""
    errs = DNS1123_LABEL.too_long(value)
    if not DNS1123_LABEL.matches(value):
        errs.append("must not contain dots" if DNS1123_SUBDOMAIN.matches(value) else DNS1123_LABEL.mismatch())
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """IsDNS1123Subdomain: dot-separated DNS labels, at most 253 characters."""
    return DNS1123_SUBDOMAIN.errors(value)


def is_dns1035_label(value: str) -> list[str]:
    """IsDNS1035Label: a DNS label that starts with a letter (Service names)."""
    return DNS1035_LABEL.errors(value)


def is_dns1123_subdomain_with_underscore(value: str) -> list[str]:
    """IsDNS1123SubdomainWithUnderscore: a DNS subdomain whose labels may hold '_' (DNS search paths)."""
    return DNS1123_SUBDOMAIN_WITH_UNDERSCORE.errors(value)


def is_qualified_name(value: str) -> list[str]:
    """IsQualifiedName (a label key): optional DNS-subdomain prefix and '/', then a name of at most 63 bytes."""
    parts = value.split("/")
    if len(parts) > 2:
        return [
            "a valid label key "
            + QUALIFIED_NAME.mismatch()
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    errs: list[str] = []
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in QUALIFIED_NAME_PREFIX.errors(prefix)]
    name = parts[-1]
    if not name:
        errs.append("name part must be non-empty")
    return errs + ["name part " + m for m in QUALIFIED_NAME.errors(name)]


def is_label_value(value: str) -> list[str]:
    """IsValidLabelValue: empty, or at most 63 bytes of [A-Za-z0-9-_.] alphanumeric at both ends."""
    return LABEL_VALUE.errors(value)


def _chdir_prefix(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"must not be '{value}'"]
    if value.startswith(".."):
        return ["must not start with '..'"]
    return []


def is_config_map_key(value: str) -> list[str]:
    """IsConfigMapKey: the rule for ConfigMap and Secret data keys."""
    return CONFIG_MAP_KEY.errors(value) + _chdir_prefix(value)


def is_port_name(port: str) -> list[str]:
    """IsValidPortName: an IANA_SVC_NAME."""
    errs = IANA_SVC_NAME.errors(port)
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


def inclusive_range(low: int, high: int) -> str:
    """InclusiveRangeError's wording."""
    return f"must be between {low} and {high}, inclusive"


def is_port_num(port: int) -> list[str]:
    """IsValidPortNum: 1 to 65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range(1, 65535)]


def is_relaxed_env_var_name(value: str) -> list[str]:
    """IsRelaxedEnvVarName: printable ASCII without '=' (the rule since env var validation relaxed)."""
    errs = [] if value else ["environment variable name must be non-empty"]
    return errs + RELAXED_ENV_VAR_NAME.errors(value)


def is_ip(value: str) -> bool:
    """Whether the server would parse `value` as an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
