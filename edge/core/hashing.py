"""SHA-256 of a file, read in blocks: segment hashes, model checks and share packages."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """`(hex SHA-256, size in bytes)` of a file."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size
