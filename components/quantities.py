"""Kubernetes resource quantities (`250m`, `0.5`, `512Mi`, `1G`), parsed as the API server parses them.

The grammar is the one in k8s.io/apimachinery `resource.Quantity`: a non-negative decimal number followed by a
binary-SI suffix (Ki..Ei), a decimal-SI suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^\+?(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
)


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str | int | float) -> Decimal:
    """The value of a quantity in base units (cores or bytes). Raises `QuantityError` when malformed.

    YAML numbers (`1`, `0.5`) are accepted as they are in a manifest.
    """
    if isinstance(text, bool):
        raise QuantityError(f"{text!r} is not a Kubernetes quantity")
    raw = str(text).strip() if isinstance(text, (int, float)) else text
    match = _QUANTITY.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise QuantityError(
            f"{text!r} is not a Kubernetes quantity (examples: 250m, 0.5, 2 for CPU; 512Mi, 1Gi, 1G for memory)"
        )
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex admits only valid decimals
        raise QuantityError(f"{text!r} is not a Kubernetes quantity") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    return number * (Decimal(10) ** int(suffix[1:]))


def has_milli_suffix(text: str | int | float) -> bool:
    """True for `512m`: thousandths, a classic slip for memory where `512Mi` was meant."""
    return isinstance(text, str) and text.strip().endswith("m")
