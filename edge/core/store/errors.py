"""Errors the clip store raises, so the daemon can tell a full disk from other storage faults."""

from __future__ import annotations

import errno


class StorageError(Exception):
    """Storage could not be written or read (read-only, vanished, corrupt index)."""


class StorageFullError(StorageError):
    """The filesystem is full (ENOSPC/EDQUOT or SQLite 'disk full'); retention may free space."""


def from_os_error(exc: OSError, context: str) -> StorageError:
    """The StorageError for a failed file operation: StorageFullError when the disk is full."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(f"{context}: disk full ({exc})")
    return StorageError(f"{context}: {exc}")
