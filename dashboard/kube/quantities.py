"""Kubernetes resource quantities (`250m`, `12Mi`, `1e3`) read exactly and written for people."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from kubernetes.utils import quantity

_TENTH = Decimal("0.1")


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity such as `250m`, `12Mi`, `1.5` or `1e3`; ValueError if it is not one."""
    try:
        value: Decimal = quantity.parse_quantity(text)
    except ValueError:
        value = Decimal("NaN")
    # The client's parser hands the number to Decimal, which would also take blanks, NaN and Infinity.
    if not value.is_finite() or not text or text != "".join(text.split()):
        raise ValueError(f"not a quantity: {text!r}")
    return value


def _one_decimal(value: Decimal) -> str:
    return f"{value:.1f}".removesuffix(".0")


def format_cpu(text: str) -> str:
    """CPU for people: millicores below one core (`3m`), cores with at most one decimal above (`1.2`)."""
    # Rounded up as `kubectl top` does, so a busy-but-tiny container does not read as idle.
    millicores = math.ceil(parse_quantity(text) * 1000)
    if millicores < 1000:
        return f"{millicores}m"
    return _one_decimal((Decimal(millicores) / 1000).quantize(_TENTH, ROUND_HALF_UP))


def format_memory(text: str) -> str:
    """Memory for people in binary units with at most one decimal: `512B`, `308Ki`, `12.5Mi`, `1.2Gi`."""
    size = parse_quantity(text)
    if size < 1024:
        return f"{size.to_integral_value()}B"
    for unit, scale in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        value = (size / scale).quantize(_TENTH, ROUND_HALF_UP)
        # Compare after rounding, so 1023.97Mi reads 1Gi rather than 1024Mi.
        if value >= 1 and (unit == "Gi" or value < 1024):
            return f"{_one_decimal(value)}{unit}"
    raise AssertionError("unreachable")  # pragma: no cover
