"""`ClipStore`: the one object the daemon holds for clips, segments, retention and events.

It owns the state directory: the device key, the SQLite index and the clip files. Every
thread that uses it gets its own SQLite connection (made on first use), so the writer
thread, a retention timer and the owner's tools never share a sqlite3 object; the MQTT
thread uses its own `Outbox` on the same file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial
from pathlib import Path

from edge.core.config.models import StorageConfig
from edge.core.store import index
from edge.core.store.errors import StorageError, from_os_error
from edge.core.store.index import ClipRecord, SegmentRecord, storage_error, transaction
from edge.core.store.layout import (
    INDEX_NAME,
    clip_dir,
    make_dirs_durable,
    new_clip_id,
)
from edge.core.store.outbox import enqueue_events
from edge.core.store.reading import segment_file
from edge.core.vault import Recipient, parse_recipient
from edge.device.store import retention
from edge.device.store.device_key import DeviceKey, load_or_create
from edge.device.store.events import EventsArg, StoreEvents, resolve
from edge.device.store.repair import repair
from edge.device.store.retention import Deletion
from edge.device.store.segments import SegmentWriter


class ClipStore:
    """Clips on disk and in the index. Make one with `ClipStore.open`."""

    def __init__(
        self,
        storage: StorageConfig,
        recipients: Sequence[Recipient],
        device_key: DeviceKey,
        events: StoreEvents,
        clock: Callable[[], float],
    ) -> None:
        self.storage = storage
        self.state_dir = Path(storage.path)
        self.index_path = self.state_dir / INDEX_NAME
        self.device_key = device_key
        self.repair_actions: tuple[str, ...] = ()
        self._recipients = list(recipients)
        self._events = events
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._next_segment: dict[str, int] = {}

    @classmethod
    def open(
        cls,
        storage: StorageConfig,
        recipients: Sequence[str],
        *,
        events: StoreEvents,
        clock: Callable[[], float] = time.time,
    ) -> ClipStore:
        """Open the state directory (creating it, the device key and the index on first
        start) and repair it; what repair did is in `repair_actions`.

        `events` builds what the store publishes on its own (deletions, clips closed by
        repair); `StoreEvents()` publishes nothing, for tools and tests.

        Call this before any other thread touches the store: repair closes every clip
        still marked in progress.
        """
        state_dir = Path(storage.path)
        try:
            make_dirs_durable(state_dir)
            device_key = load_or_create(state_dir)
            read_only = bool(os.statvfs(state_dir).f_flag & os.ST_RDONLY)
        except OSError as exc:
            raise StorageError(f"cannot use state directory {state_dir}: {exc}") from exc
        if read_only:
            # SQLite would only say "unable to open database file".
            raise StorageError(
                f"cannot use state directory {state_dir}: its filesystem is read-only"
            )
        parsed = [parse_recipient(text) for text in recipients]
        store = cls(storage, parsed, device_key, events, clock)
        store.repair_actions = tuple(store.repair())
        return store

    def repair(self) -> list[str]:
        """Reconcile index and files (see `edge.device.store.repair`); returns what was done."""
        try:
            return repair(
                self._conn(),
                self.state_dir,
                self.device_key,
                self._clock(),
                self._events.clip_closed_by_repair,
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot repair the index") from None
        except OSError as exc:
            raise from_os_error(exc, "cannot repair the clip files") from exc

    def start_clip(self, started_at: float | None = None, events: EventsArg = ()) -> str:
        """Record a new clip in progress (with its events); returns its id."""
        started = self._clock() if started_at is None else started_at
        conn = self._conn()
        for _attempt in range(8):
            clip_id = new_clip_id(started)
            if clip_dir(self.state_dir, clip_id).exists():
                continue  # the index was lost but the folder was not: never reuse an id
            try:
                with transaction(conn):
                    index.insert_clip(conn, clip_id, started)
                    clip = index.get_clip(conn, clip_id)
                    assert clip is not None, "inserted in this transaction"
                    segments = partial(index.list_segments, conn, clip_id)
                    enqueue_events(conn, resolve(events, clip, segments), self._clock())
            except sqlite3.IntegrityError:
                continue
            except sqlite3.Error as exc:
                raise storage_error(exc, "cannot record a new clip") from None
            with self._lock:
                self._next_segment[clip_id] = 0
            return clip_id
        raise StorageError("could not find an unused clip id")

    def open_segment(self, clip_id: str, started_at: float | None = None) -> SegmentWriter:
        """A writer for the clip's next segment, ready for `write`.

        Segments are numbered 0, 1, … in the order they are opened; a number is never
        reused within a clip, so an aborted segment leaves a gap that says so.
        """
        if not self._recipients:
            raise StorageError("owner.recipients is empty: clips cannot be encrypted to anyone")
        clip = self.clip(clip_id)
        if clip is None or clip.status != "in_progress":
            raise StorageError(f"clip {clip_id} is not in progress")
        with self._lock:
            n = self._next_segment.get(clip_id, 0)
            self._next_segment[clip_id] = n + 1
        folder = clip_dir(self.state_dir, clip_id)
        try:
            make_dirs_durable(folder)
        except OSError as exc:
            raise from_os_error(exc, f"cannot create {folder}") from exc
        return SegmentWriter(
            folder,
            clip_id,
            n,
            self._clock() if started_at is None else started_at,
            self._recipients,
            self.device_key,
            self._record_segment,
        )

    def finish_clip(
        self,
        clip_id: str,
        *,
        duration_s: float | None = None,
        faces_redacted: int = 0,
        truncated: bool = False,
        events: EventsArg = (),
    ) -> ClipRecord:
        """Close a clip as complete (or truncated after a fault), with its events.

        `duration_s` defaults to the sum of its segments' durations; `events` may be a
        builder called with the closed clip row and its segments.
        """
        conn = self._conn()
        try:
            with transaction(conn):
                clip = index.get_clip(conn, clip_id)
                if clip is None or clip.status != "in_progress":
                    raise StorageError(f"clip {clip_id} is not in progress")
                status = "truncated" if truncated else "complete"
                index.close_clip(conn, clip_id, status, duration_s, faces_redacted)
                closed = index.get_clip(conn, clip_id)
                assert closed is not None, "read in this transaction"
                segments = partial(index.list_segments, conn, clip_id)
                enqueue_events(conn, resolve(events, closed, segments), self._clock())
        except sqlite3.Error as exc:
            raise storage_error(exc, f"cannot close clip {clip_id}") from None
        with self._lock:
            self._next_segment.pop(clip_id, None)
        return closed

    def enforce_retention(
        self,
        now: float | None = None,
        *,
        disk_full: bool = False,
        keep: Collection[str] = (),
        protect: Callable[[sqlite3.Connection], Collection[str]] | None = None,
    ) -> list[Deletion]:
        """Apply `retention_days`, `max_bytes` and `min_free_bytes`; returns the deletions.

        Call periodically, and with `disk_full=True` after a `StorageFullError`, with the
        clip that error cut short in `keep`.
        """
        try:
            return retention.enforce(
                self._conn(),
                self.state_dir,
                self.storage,
                self._clock() if now is None else now,
                self._events.clip_deleted,
                disk_full=disk_full,
                keep=keep,
                protect=protect,
            )
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot apply retention") from None
        except OSError as exc:
            raise from_os_error(exc, "cannot delete clip files") from exc

    def delete_clip(self, clip_id: str, reason: str) -> Deletion:
        """Delete one finished clip now (recorded like a retention deletion)."""
        clip = self.clip(clip_id)
        deletion = None
        if clip is not None:
            try:
                deletion = retention.delete_clip(
                    self._conn(),
                    self.state_dir,
                    clip,
                    reason,
                    self._clock(),
                    self._events.clip_deleted,
                )
            except OSError as exc:
                raise from_os_error(exc, f"cannot delete clip {clip_id}") from exc
        if deletion is None:
            raise StorageError(f"clip {clip_id} is not a finished clip")
        return deletion

    def clip(self, clip_id: str) -> ClipRecord | None:
        """One clip's row, or None."""
        try:
            return index.get_clip(self._conn(), clip_id)
        except sqlite3.Error as exc:
            raise storage_error(exc, f"cannot read clip {clip_id}") from None

    def clips(self, include_deleted: bool = False) -> list[ClipRecord]:
        """Clips oldest first."""
        statuses = None if include_deleted else ("in_progress", "complete", "truncated")
        try:
            return index.list_clips(self._conn(), statuses)
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot list clips") from None

    def segments(self, clip_id: str) -> list[SegmentRecord]:
        """A clip's segment rows in order (`missing` ones included)."""
        try:
            return index.list_segments(self._conn(), clip_id)
        except sqlite3.Error as exc:
            raise storage_error(exc, f"cannot read segments of clip {clip_id}") from None

    def segment_path(self, segment: SegmentRecord) -> Path:
        """Where a segment's file is (its `.partial` for a partial segment)."""
        return segment_file(self.state_dir, segment)

    def close(self) -> None:
        """Close every thread's connection; call once the other threads have stopped."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def __enter__(self) -> ClipStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() can close every thread's connection
            # at shutdown; in use, each connection stays with the thread that made it.
            conn = index.connect(self.index_path, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _record_segment(self, segment: SegmentRecord) -> None:
        conn = self._conn()
        try:
            with transaction(conn):
                index.put_segment(conn, segment)
        except sqlite3.Error as exc:
            where = f"segment {segment.n} of clip {segment.clip_id}"
            raise storage_error(exc, f"cannot record {where}") from None
