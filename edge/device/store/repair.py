"""Startup repair: make the index and the clip files agree again after a power cut.

What a cut can leave, and what repair does (each action is reported as one line):
- an empty `<n>.mp4.age.partial` (cut before its header was written): removed;
- a `<n>.mp4.age.partial`: kept on disk for salvage (`doorbell export --salvage`),
  recorded as a `partial` segment (hashed, not signed: the device never finished it),
  and its clip becomes `truncated`;
- a finished `<n>.mp4.age` without its row (cut between rename and commit): it was
  fsynced before the rename, so it is whole; it is hashed, signed now and recorded as
  `recovered`, which keeps apart segments signed as written from those signed at repair;
- a segment row whose file is gone: the row is kept as `missing`, its clip `truncated`;
- a clip folder with no clip row at all: a `truncated` clip is added (start from its id);
- clips still `in_progress`: closed as `truncated` with the segments that exist, with
  the store's "closed by repair" events, so the home server still hears of them;
- files of a clip already recorded as `deleted` (cut during retention): removed.
Anything else under `clips/` is left where it is and reported.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from edge.core.hashing import sha256_file
from edge.core.store.files import remove_clip_files
from edge.core.store.index import (
    ON_DISK_STATES,
    SegmentRecord,
    close_clip,
    get_clip,
    insert_clip,
    list_clips,
    list_segments,
    put_segment,
    set_clip_status,
    set_segment_state,
    transaction,
)
from edge.core.store.layout import (
    clip_dir,
    clip_id_time,
    clips_root,
    fsync_dir,
    is_clip_id,
    parse_segment_name,
    segment_name,
)
from edge.core.store.outbox import enqueue_events
from edge.core.store.segment_signature import segment_message
from edge.device.store.device_key import DeviceKey
from edge.device.store.events import EventBuilder, resolve


@dataclass
class _ClipOnDisk:
    finished: set[int] = field(default_factory=set)
    partial: set[int] = field(default_factory=set)


def repair(
    conn: sqlite3.Connection,
    state_dir: Path,
    device_key: DeviceKey,
    now: float,
    closed_events: EventBuilder,
) -> list[str]:
    """Reconcile index and files; returns what was done, one sentence per action."""
    actions: list[str] = []
    on_disk = _scan(state_dir, actions)
    to_delete: list[str] = []
    with transaction(conn):
        for clip_id, files in sorted(on_disk.items()):
            clip = get_clip(conn, clip_id)
            if clip is None:
                insert_clip(conn, clip_id, clip_id_time(clip_id))
                actions.append(f"clip {clip_id}: folder without index row; added")
            elif clip.status == "deleted":
                to_delete.append(clip_id)
                continue
            _reconcile_files(conn, state_dir, device_key, clip_id, files, actions)
        for clip in list_clips(conn, ("in_progress", "complete", "truncated")):
            _mark_missing_files(conn, state_dir, clip.id, actions)
        for clip in list_clips(conn, ("in_progress",)):
            close_clip(conn, clip.id, "truncated", None)
            closed = get_clip(conn, clip.id)
            assert closed is not None, "the clip row was read in this transaction"
            segments = partial(list_segments, conn, clip.id)
            enqueue_events(conn, resolve(closed_events, closed, segments), now)
            actions.append(
                f"clip {clip.id}: was recording when the device stopped; closed as "
                f"truncated with {closed.segments} segment(s)"
            )
    for clip_id in to_delete:
        removed = remove_clip_files(state_dir, clip_id)
        actions.append(f"clip {clip_id}: removed {removed} file(s) of an interrupted deletion")
    return actions


def _scan(state_dir: Path, actions: list[str]) -> dict[str, _ClipOnDisk]:
    """Segment files under `clips/`, by clip id; reports anything unexpected."""
    found: dict[str, _ClipOnDisk] = {}
    root = clips_root(state_dir)
    if not root.is_dir():
        return found
    for folder in sorted(root.glob("*/*/*/*")):
        if not folder.is_dir():
            continue
        clip_id = folder.name
        if not is_clip_id(clip_id) or clip_dir(state_dir, clip_id) != folder:
            actions.append(f"ignored unexpected folder {folder.relative_to(state_dir)}")
            continue
        entry = found.setdefault(clip_id, _ClipOnDisk())
        for path in sorted(folder.iterdir()):
            parsed = parse_segment_name(path.name)
            if parsed is None or not path.is_file():
                actions.append(f"ignored unexpected file {path.relative_to(state_dir)}")
                continue
            n, partial = parsed
            (entry.partial if partial else entry.finished).add(n)
    return found


def _reconcile_files(
    conn: sqlite3.Connection,
    state_dir: Path,
    device_key: DeviceKey,
    clip_id: str,
    files: _ClipOnDisk,
    actions: list[str],
) -> None:
    rows = {segment.n: segment for segment in list_segments(conn, clip_id)}
    folder = clip_dir(state_dir, clip_id)
    for n in sorted(files.finished):
        row = rows.get(n)
        if row is not None and row.state in ("stored", "recovered"):
            continue
        digest, size = sha256_file(folder / segment_name(n))
        signature = device_key.sign(segment_message(clip_id, n, digest)).hex()
        started = row.started_at if row else None
        duration = row.duration_s if row else None
        put_segment(
            conn,
            SegmentRecord(clip_id, n, started, duration, size, digest, signature, "recovered"),
        )
        actions.append(
            f"clip {clip_id}: segment {n} was on disk but not in the index; "
            "recorded as recovered (hashed and signed now)"
        )
    for n in sorted(files.partial - files.finished):
        row = rows.get(n)
        if row is not None and row.state == "partial":
            continue
        path = folder / segment_name(n, partial=True)
        digest, size = sha256_file(path)
        if size == 0:
            # Cut before the header reached the disk: nothing to salvage.
            path.unlink()
            fsync_dir(folder)
            actions.append(f"clip {clip_id}: segment {n} left an empty .partial; removed")
            continue
        put_segment(conn, SegmentRecord(clip_id, n, None, None, size, digest, None, "partial"))
        _mark_truncated(conn, clip_id)
        actions.append(
            f"clip {clip_id}: segment {n} is incomplete ({size} bytes); "
            "kept as .partial for salvage, clip marked truncated"
        )
    for n in sorted(files.partial & files.finished):
        actions.append(
            f"clip {clip_id}: segment {n} has both a finished and a .partial file; "
            "kept the finished one in the index, left the .partial"
        )


def _mark_missing_files(
    conn: sqlite3.Connection, state_dir: Path, clip_id: str, actions: list[str]
) -> None:
    folder = clip_dir(state_dir, clip_id)
    for segment in list_segments(conn, clip_id):
        if segment.state not in ON_DISK_STATES:
            continue
        path = folder / segment_name(segment.n, partial=segment.state == "partial")
        if path.is_file():
            continue
        set_segment_state(conn, clip_id, segment.n, "missing")
        _mark_truncated(conn, clip_id)
        actions.append(
            f"clip {clip_id}: segment {segment.n} is in the index but its file is gone; "
            "marked missing, clip marked truncated"
        )


def _mark_truncated(conn: sqlite3.Connection, clip_id: str) -> None:
    clip = get_clip(conn, clip_id)
    if clip is not None and clip.status == "complete":
        set_clip_status(conn, clip_id, "truncated")
