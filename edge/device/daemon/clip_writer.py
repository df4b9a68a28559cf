"""Carries out the recorder's actions: encodes frames into segments and stores them encrypted.

It runs on the writer thread and is the only place where the encoder meets the store:
each segment the recorder starts becomes a `SegmentWriter` (an encoder Output that
encrypts as it writes), and each clip end closes the clip in the index with its events.
A segment's file is created on its first byte, which the encoder writes only after it
has closed the segment before, so a power cut leaves at most one `.partial`: the
segment in progress. A full disk ends the clip in progress cleanly (the segments already
encoded are kept), asks retention for room and, if none can be freed, stops recording
until there is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.core.store.errors import StorageError, StorageFullError
from edge.core.store.index import ClipRecord
from edge.device.encoder import H264SegmentEncoder
from edge.device.recorder import Action, ClipEnd, ClipStart, SegmentStart, Write
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import EventsArg
from edge.device.store.retention import Deletion
from edge.device.store.segments import SegmentWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredClip:
    """A clip that was closed in the index, with its offset into the capture timeline."""

    record: ClipRecord
    start_t: float
    end_t: float


@dataclass
class ClipHooks:
    """Events the daemon attaches to clip state changes (MQTT outbox, ledger).

    `started` and `stored` return the events to enqueue in the same transaction as the
    state change; `after_stored` runs once the clip is durably closed, complete or cut
    short by a storage fault (ledger entry); `deleted` for each clip retention deletes
    to make room after a full disk.
    """

    started: Callable[[float], EventsArg] = lambda trigger_t: ()
    stored: Callable[[int], EventsArg] = lambda faces: ()
    after_stored: Callable[[ClipRecord], None] = lambda record: None
    deleted: Callable[[Deletion], None] = lambda deletion: None


class _SegmentOnFirstWrite:
    """The encoder Output for one segment; its `SegmentWriter` (and file) is made on the
    first write, i.e. after the encoder has closed the segment before it.

    Opening the next segment's file first would leave, at a cut between the two, a
    finished segment still named `.partial`, which repair must then treat as incomplete.
    """

    def __init__(self, open_segment: Callable[[], SegmentWriter]) -> None:
        self._open_segment = open_segment
        self._writer: SegmentWriter | None = None
        self.duration_s: float | None = None

    def write(self, data: bytes) -> None:
        if self._writer is None:
            self._writer = self._open_segment()
        self._writer.write(data)

    def close(self) -> None:
        if self._writer is None:
            return  # the clip ended before a frame of this segment: no segment
        self._writer.duration_s = self.duration_s
        self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


@dataclass
class WriterStatus:
    """What the writer thread reports to health and the replay summary."""

    clips: list[StoredClip] = field(default_factory=list)
    storage_full: bool = False
    storage_error: str | None = None


class ClipWriter:
    """Applies recorder actions in order. `wall_time(t)` maps a frame time to Unix time."""

    def __init__(
        self,
        store: ClipStore,
        encoder: H264SegmentEncoder,
        wall_time: Callable[[float], float],
        hooks: ClipHooks | None = None,
        frame_interval: float = 1 / 15,
        retry_after_s: float = 60.0,
    ) -> None:
        self._store = store
        self._encoder = encoder
        self._wall_time = wall_time
        self._hooks = hooks or ClipHooks()
        self._frame_interval = frame_interval
        self._retry_after_s = retry_after_s
        self._clip_id: str | None = None
        self._segment: _SegmentOnFirstWrite | None = None
        self._segment_t = 0.0
        self._clip_start_t = 0.0
        self._faces = 0
        self._blocked_until = 0.0
        self.status = WriterStatus()

    @property
    def recording(self) -> bool:
        """True while a clip is open."""
        return self._clip_id is not None

    def apply(self, action: Action, faces: int = 0) -> None:
        """Carry out one action; `faces` is the number of faces obscured in a Write's frame."""
        if self._clip_id is None and not isinstance(action, ClipStart):
            return  # the clip was abandoned after a storage fault; skip the rest of it
        try:
            match action:
                case ClipStart():
                    self._start(action)
                case SegmentStart():
                    self._next_segment(action)
                case Write():
                    self._faces += faces
                    self._encoder.encode(action.frame.image, action.frame.t)
                case ClipEnd():
                    self._end(action)
        except StorageFullError as exc:
            self._abandon(exc, full=True)
        except StorageError as exc:
            self._abandon(exc, full=False)

    def close(self) -> None:
        """End anything still open (used when the pipeline stops mid-clip after an error)."""
        if self._clip_id is not None:
            self._abandon(None, full=False)

    def _start(self, action: ClipStart) -> None:
        if time.monotonic() < self._blocked_until:
            return
        self.status.storage_full = False
        self._clip_id = self._store.start_clip(
            started_at=self._wall_time(action.start_t),
            events=self._hooks.started(self._wall_time(action.trigger_t)),
        )
        self._faces = 0
        self._clip_start_t = action.start_t
        self._encoder.start_clip(action.start_t)
        log.info("clip %s started", self._clip_id)

    def _next_segment(self, action: SegmentStart) -> None:
        clip_id = self._clip_id
        assert clip_id is not None
        if self._segment is not None:
            self._segment.duration_s = action.t - self._segment_t
        started = self._wall_time(action.t)
        self._segment = _SegmentOnFirstWrite(lambda: self._store.open_segment(clip_id, started))
        self._segment_t = action.t
        self._encoder.start_segment(self._segment)

    def _end(self, action: ClipEnd) -> None:
        assert self._clip_id is not None
        if self._segment is not None:
            self._segment.duration_s = action.end_t + self._frame_interval - self._segment_t
        self._encoder.end_clip()
        record = self._store.finish_clip(
            self._clip_id,
            duration_s=action.end_t + self._frame_interval - action.start_t,
            faces_redacted=self._faces,
            events=self._hooks.stored(self._faces),
        )
        self._clip_id = None
        self._segment = None
        self.status.clips.append(StoredClip(record, action.start_t, action.end_t))
        log.info(
            "clip %s stored: %.1f s, %d segment(s), %d bytes",
            record.id,
            record.duration_s or 0.0,
            record.segments,
            record.bytes,
        )
        self._hooks.after_stored(record)

    def _abandon(self, exc: Exception | None, full: bool) -> None:
        clip_id, segment = self._clip_id, self._segment
        self._clip_id = None
        self._segment = None
        # Close what the encoder holds first: segments it finished are kept; the one that
        # failed has aborted itself and refuses to close again (a StorageError).
        try:
            self._encoder.end_clip()
        except StorageError as close_exc:
            log.warning("clip %s: the segment in progress is dropped (%s)", clip_id, close_exc)
        except Exception:
            log.exception("encoder did not close cleanly while abandoning a clip")
        if segment is not None:
            segment.abort()
        if exc is not None:
            log.error("clip %s ended early: %s", clip_id, exc)
            self.status.storage_error = str(exc)
        if clip_id is not None:
            try:
                record = self._store.finish_clip(
                    clip_id,
                    faces_redacted=self._faces,
                    truncated=True,
                    events=self._hooks.stored(self._faces),
                )
            except StorageError as close_exc:
                log.error(
                    "clip %s could not be closed: %s (repair closes it at restart)",
                    clip_id,
                    close_exc,
                )
            else:
                self.status.clips.append(StoredClip(record, self._clip_start_t, self._clip_start_t))
                self._hooks.after_stored(record)
        if full:
            self._make_room(keep=() if clip_id is None else (clip_id,))

    def _make_room(self, keep: tuple[str, ...]) -> None:
        try:
            deleted = self._store.enforce_retention(disk_full=True, keep=keep)
        except StorageError as exc:
            deleted = []
            log.error("retention failed: %s", exc)
        for deletion in deleted:
            self._hooks.deleted(deletion)
        if deleted:
            log.warning("disk full: retention deleted %d clip(s); recording resumes", len(deleted))
            self.status.storage_full = False
            return
        self.status.storage_full = True
        self._blocked_until = time.monotonic() + self._retry_after_s
        log.error(
            "disk full and nothing left to delete: recording stops for %.0f s", self._retry_after_s
        )
