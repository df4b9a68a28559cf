"""Canonical JSON: the byte form in which ledger entries and share manifests are hashed and signed.

Sorted keys, no whitespace, UTF-8, no floats (their text form differs between languages,
so a verifier written elsewhere could not reproduce the bytes).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """The canonical UTF-8 bytes of a JSON value of dicts, lists, str, int, bool and None."""
    _reject_floats(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def _reject_floats(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError(f"floats have no canonical form; use an int or a string: {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings: {key!r}")
            _reject_floats(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_floats(item)
