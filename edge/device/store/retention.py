"""Retention: delete the oldest finished clips by age, by quota and to keep disk space free.

Rules (from `storage`), each with the reason recorded: clips older than `retention_days`
(`retention`); then, oldest first, clips while all clips together exceed `max_bytes`
(`quota`); then while the filesystem of the state directory has less than
`min_free_bytes` available (`free_space`). A clip in progress is never deleted, and
with the mirror on, age and quota skip a clip not yet copied home (only free space,
which would otherwise stop recording, deletes it; the daemon then says so). After a
write failed with ENOSPC the daemon calls again with `disk_full=True`, which deletes at
least the oldest finished clip (`free_space`) even when the rules are met, but never a
clip in `keep` (the one the full disk just cut short: deleting the newest evidence to
make room for the next clip, which the full disk would cut short again, frees nothing).

Each deletion is first committed (row kept as `deleted` with time and reason, its events
in the outbox in the same transaction), then the files go. A power cut in between leaves
files of a deleted clip, which startup repair removes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge.core.config.models import StorageConfig
from edge.core.store.files import remove_clip_files
from edge.core.store.index import (
    ClipRecord,
    get_clip,
    list_clips,
    list_segments,
    mark_clip_deleted,
    storage_error,
    transaction,
)
from edge.core.store.outbox import enqueue_events
from edge.device.store.events import EventBuilder, resolve

DAY_SECONDS = 86_400.0


@dataclass(frozen=True)
class Deletion:
    """One clip deleted, why (`retention`: older than `retention_days`; `quota`: over
    `max_bytes`; `free_space`: under `min_free_bytes` or after a full disk; or an owner's
    reason) and how many bytes it held."""

    clip_id: str
    reason: str
    bytes: int
    started_at: float


def free_bytes(path: Path) -> int:
    """Bytes available to this process on the filesystem holding `path`."""
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def enforce(
    conn: sqlite3.Connection,
    state_dir: Path,
    policy: StorageConfig,
    now: float,
    deleted_events: EventBuilder,
    *,
    disk_full: bool = False,
    keep: Collection[str] = (),
    available: Callable[[Path], int] = free_bytes,
    protect: Callable[[sqlite3.Connection], Collection[str]] | None = None,
) -> list[Deletion]:
    """Apply the retention rules once; returns the deletions made, oldest first.

    `protect` names clips that age and quota must not delete (those the mirror has not
    yet copied home); free space still may, since a full disk would stop recording.
    """
    protected = protect(conn) if protect is not None else ()
    cutoff = now - policy.retention_days * DAY_SECONDS
    used = sum(clip.bytes for clip in list_clips(conn, ("in_progress", "complete", "truncated")))
    deletions: list[Deletion] = []
    for clip in list_clips(conn, ("complete", "truncated")):
        if clip.id in keep:
            continue
        if clip.started_at < cutoff:
            reason = "retention"
        elif used > policy.max_bytes:
            reason = "quota"
        elif available(state_dir) < policy.min_free_bytes or (disk_full and not deletions):
            reason = "free_space"
        else:
            break  # clips are oldest first: if this one may stay, so may every later one
        if reason != "free_space" and clip.id in protected:
            continue  # not mirrored yet: kept while there is room
        deletion = delete_clip(conn, state_dir, clip, reason, now, deleted_events)
        if deletion is not None:
            deletions.append(deletion)
        used -= clip.bytes
    return deletions


def delete_clip(
    conn: sqlite3.Connection,
    state_dir: Path,
    clip: ClipRecord,
    reason: str,
    now: float,
    deleted_events: EventBuilder,
) -> Deletion | None:
    """Record a finished clip as deleted (with its events), then remove its files.

    Returns None when the clip was no longer finished (another thread deleted it first).
    """

    def record() -> bool:
        with transaction(conn):
            if not mark_clip_deleted(conn, clip.id, reason, now):
                return False
            updated = get_clip(conn, clip.id)
            assert updated is not None, "the clip row was updated in this transaction"
            segments = partial(list_segments, conn, clip.id)
            enqueue_events(conn, resolve(deleted_events, updated, segments), now)
        return True

    try:
        recorded = record()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_FULL:
            raise storage_error(exc, f"cannot record deletion of clip {clip.id}") from None
        # The disk is too full even for the index to record the deletion: free the
        # files first (repair marks their rows missing if the retry fails too).
        remove_clip_files(state_dir, clip.id)
        try:
            recorded = record()
        except sqlite3.Error as retry_exc:
            raise storage_error(retry_exc, f"cannot record deletion of clip {clip.id}") from None
    if not recorded:
        return None
    remove_clip_files(state_dir, clip.id)
    return Deletion(clip.id, reason, clip.bytes, clip.started_at)
