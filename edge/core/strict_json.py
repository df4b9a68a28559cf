"""JSON parsing for input that is signed or comes from the network: a duplicate key, NaN
or Infinity (and, where asked, any fraction) is an error instead of a silent choice."""

from __future__ import annotations

import json
from typing import Any


def loads_strict(data: str | bytes, *, fractions: bool = True) -> Any:
    """Parse JSON refusing duplicate keys and NaN/Infinity; `fractions=False` also refuses
    numbers with a fraction (values that are signed must have one exact text form).
    Raises ValueError (json.JSONDecodeError is one)."""
    return json.loads(
        data,
        object_pairs_hook=_no_duplicates,
        parse_constant=_no_constant,
        parse_float=None if fractions else _no_fraction,
    )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key[:40]!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _no_fraction(text: str) -> Any:
    raise ValueError(f"a number with a fraction ({text}) is not allowed here")
