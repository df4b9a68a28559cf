"""Read-only access to the index for the owner's tools, safe while the daemon runs.

Unlike `ClipStore.open`, nothing here creates, migrates or repairs: repairing while the
daemon records would close its clip in progress.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edge.core.store.errors import StorageError
from edge.core.store.index import (
    ClipRecord,
    SegmentRecord,
    connect_existing,
    get_clip,
    list_clips,
    list_segments,
    storage_error,
)
from edge.core.store.layout import INDEX_NAME, clip_dir, segment_name

T = TypeVar("T")


def read_clips(state_dir: Path, include_deleted: bool = False) -> list[ClipRecord]:
    """Clips oldest first from the index in `state_dir`; StorageError when there is none."""
    statuses = None if include_deleted else ("in_progress", "complete", "truncated")
    return _read(state_dir, lambda conn: list_clips(conn, statuses))


def read_clip(state_dir: Path, clip_id: str) -> tuple[ClipRecord, list[SegmentRecord]] | None:
    """One clip and its segment rows, read together; None when the index has no such clip."""

    def query(conn: sqlite3.Connection) -> tuple[ClipRecord, list[SegmentRecord]] | None:
        clip = get_clip(conn, clip_id)
        return None if clip is None else (clip, list_segments(conn, clip_id))

    return _read(state_dir, query)


def read_index(state_dir: Path) -> list[tuple[ClipRecord, list[SegmentRecord]]]:
    """Every clip (deleted ones too) with its segment rows, from one consistent snapshot."""

    def query(conn: sqlite3.Connection) -> list[tuple[ClipRecord, list[SegmentRecord]]]:
        with conn:  # one read transaction: the daemon may be writing
            return [(clip, list_segments(conn, clip.id)) for clip in list_clips(conn)]

    return _read(state_dir, query)


def read_segments(state_dir: Path, clip_id: str) -> list[SegmentRecord]:
    """A clip's segment rows in order (`missing` and `partial` ones included)."""
    return _read(state_dir, lambda conn: list_segments(conn, clip_id))


def segment_file(state_dir: Path, segment: SegmentRecord) -> Path:
    """Where a segment's file is: its `.partial` for a partial segment (for salvage)."""
    folder = clip_dir(Path(state_dir), segment.clip_id)
    return folder / segment_name(segment.n, partial=segment.state == "partial")


def _read(state_dir: Path, query: Callable[[sqlite3.Connection], T]) -> T:
    path = Path(state_dir) / INDEX_NAME
    if not path.is_file():
        raise StorageError(f"no clip index at {path} (has the daemon run with this config?)")
    conn = connect_existing(path)
    try:
        return query(conn)
    except sqlite3.Error as exc:
        raise storage_error(exc, f"cannot read {path}") from None
    finally:
        conn.close()
