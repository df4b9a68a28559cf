"""Carries out the recorder's actions: encodes frames into segments and stores them encrypted.

It runs on the writer thread and is the only place where the encoder meets the store:
each segment the recorder starts becomes a `SegmentWriter` (an encoder Output that
encrypts as it writes), and each clip end closes the clip in the index with its events.
A full disk ends the clip in progress cleanly, asks retention for room and, if none can
be freed, stops recording until there is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.encoder import H264SegmentEncoder
from edge.recorder import Action, ClipEnd, ClipStart, SegmentStart, Write
from edge.store import ClipStore
from edge.store.errors import StorageError, StorageFullError
from edge.store.events import EventsArg
from edge.store.index import ClipRecord
from edge.store.segments import SegmentWriter

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
    state change; `after_stored` runs once the clip is durably closed (ledger entry).
    """

    started: Callable[[float], EventsArg] = lambda trigger_t: ()
    stored: Callable[[int], EventsArg] = lambda faces: ()
    after_stored: Callable[[ClipRecord], None] = lambda record: None


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
        self._segment: SegmentWriter | None = None
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
        assert self._clip_id is not None
        if self._segment is not None:
            self._segment.duration_s = action.t - self._segment_t
        self._segment = self._store.open_segment(self._clip_id, self._wall_time(action.t))
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
        if segment is not None:
            segment.abort()
        try:
            self._encoder.end_clip()
        except Exception:
            log.exception("encoder did not close cleanly while abandoning a clip")
        if exc is not None:
            log.error("clip %s ended early: %s", clip_id, exc)
            self.status.storage_error = str(exc)
        if clip_id is not None:
            try:
                record = self._store.finish_clip(
                    clip_id, faces_redacted=self._faces, truncated=True
                )
                self.status.clips.append(StoredClip(record, self._clip_start_t, self._clip_start_t))
            except StorageError as close_exc:
                log.error(
                    "clip %s could not be closed: %s (repair closes it at restart)",
                    clip_id,
                    close_exc,
                )
        if full:
            self._make_room()

    def _make_room(self) -> None:
        try:
            deleted = self._store.enforce_retention(disk_full=True)
        except StorageError as exc:
            deleted = []
            log.error("retention failed: %s", exc)
        if deleted:
            log.warning("disk full: retention deleted %d clip(s); recording resumes", len(deleted))
            self.status.storage_full = False
            return
        self.status.storage_full = True
        self._blocked_until = time.monotonic() + self._retry_after_s
        log.error(
            "disk full and nothing left to delete: recording stops for %.0f s", self._retry_after_s
        )
