"""The three threads of the daemon: capture → process (motion + redaction) → write.

They are joined by bounded queues. When processing falls behind a live camera, the
capture side drops the newest frame and counts it; a frame is never passed around
redaction. A replay as fast as possible waits instead of dropping, since a file can.
Stopping (`stop()`, SIGTERM) ends capture, closes the clip in progress and returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.device.capture.reopen import SourceUnavailable
from edge.device.daemon.clip_writer import ClipWriter
from edge.device.encoder import to_i420
from edge.device.frame import Frame
from edge.device.motion import MotionDetector, MotionResult
from edge.device.recorder import Action, Recorder, RecorderState, Write
from edge.device.redact import Redactor

log = logging.getLogger(__name__)

_END = object()
_POLL_S = 0.1
# Face counts of frames still in the pre-roll; more than it can hold at 60 fps.
_FACE_COUNTS_KEPT = 1024


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters since start, for health, `systemctl status` and the replay summary."""

    frames_read: int
    frames_processed: int
    frames_dropped: int
    frames_paused: int
    elapsed_s: float
    # CPU time of the whole process (every thread) over the same span: unlike fps, it
    # does not move with what else the machine is running.
    cpu_s: float = 0.0

    @property
    def fps(self) -> float:
        """Frames processed per second of wall time."""
        return self.frames_processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def cpu_ms_per_frame(self) -> float:
        """CPU milliseconds the process spent per frame processed."""
        return 1000 * self.cpu_s / self.frames_processed if self.frames_processed else 0.0


class Pipeline:
    """Runs a frame source through motion, redaction, the recorder and the clip writer."""

    def __init__(
        self,
        source: Iterable[Frame],
        motion_for: Callable[[tuple[int, int]], MotionDetector],
        redactor: Redactor,
        recorder: Recorder,
        writer: ClipWriter,
        *,
        drop_when_behind: bool,
        on_motion: Callable[[MotionResult], None] = lambda result: None,
        on_tick: Callable[[PipelineStats], None] = lambda stats: None,
        queue_frames: int = 4,
    ) -> None:
        self._source = source
        self._motion_for = motion_for
        self._motion: MotionDetector | None = None
        self._size: tuple[int, int] | None = None
        self.first_t: float | None = None
        self._redactor = redactor
        self._recorder = recorder
        self._writer = writer
        self._drop = drop_when_behind
        self._on_motion = on_motion
        self._on_tick = on_tick
        self._frames: queue.Queue[object] = queue.Queue(maxsize=queue_frames)
        self._actions: queue.Queue[object] = queue.Queue(maxsize=queue_frames * 2)
        self._stop = threading.Event()
        self._privacy = threading.Event()
        self._read = self._processed = self._dropped = self._paused = 0
        self._started = time.monotonic()
        self._cpu_started = time.process_time()
        self._active = False
        self._faces: dict[int, int] = {}
        self.failure: BaseException | None = None

    @property
    def privacy_mode(self) -> bool:
        """True while privacy mode stops analysing and recording."""
        return self._privacy.is_set()

    def set_privacy_mode(self, on: bool) -> None:
        """Stop (on) or resume (off) analysing and recording; the clip in progress is closed."""
        if on:
            self._privacy.set()
        else:
            self._privacy.clear()

    def stop(self) -> None:
        """Ask every thread to finish; the clip in progress is closed cleanly."""
        self._stop.set()

    def stats(self) -> PipelineStats:
        """A snapshot of the counters."""
        return PipelineStats(
            self._read,
            self._processed,
            self._dropped,
            self._paused,
            time.monotonic() - self._started,
            time.process_time() - self._cpu_started,
        )

    def run(self) -> PipelineStats:
        """Run until the source ends or `stop()`; returns the final counters."""
        self._started = time.monotonic()
        self._cpu_started = time.process_time()
        threads = [
            threading.Thread(target=self._guard(self._capture), name="capture", daemon=True),
            threading.Thread(target=self._guard(self._process), name="process", daemon=True),
            threading.Thread(target=self._guard(self._write), name="write", daemon=True),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.stats()

    def _guard(self, body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except SourceUnavailable as exc:
                # The camera (or file) is gone for good and the message says why.
                log.error("%s; stopping", exc)
                self.failure = self.failure or exc
                self._stop.set()
            except BaseException as exc:
                log.exception("%s thread failed; stopping", threading.current_thread().name)
                self.failure = self.failure or exc
                self._stop.set()

        return run

    def _capture(self) -> None:
        try:
            for frame in self._source:
                if self._stop.is_set():
                    break
                if self.first_t is None:
                    self.first_t = frame.t
                self._read += 1
                if self._drop:
                    try:
                        self._frames.put_nowait(frame)
                    except queue.Full:
                        self._dropped += 1
                elif not self._put(self._frames, frame):
                    break
        finally:
            self._put(self._frames, _END, force=True)

    def _process(self) -> None:
        try:
            self._process_frames()
        finally:
            # Even when processing failed, the writer must hear the end to close its clip.
            self._put(self._actions, _END, force=True)

    def _process_frames(self) -> None:
        last_tick = 0.0
        while True:
            try:
                item = self._frames.get(timeout=1.0)
            except queue.Empty:
                # A camera being reopened is not a stuck pipeline: keep the watchdog fed.
                last_tick = time.monotonic()
                self._on_tick(self.stats())
                continue
            if item is _END:
                break
            assert isinstance(item, Frame)
            now = time.monotonic()
            if now - last_tick >= 1.0:
                last_tick = now
                self._on_tick(self.stats())
            if self._privacy.is_set():
                self._paused += 1
                self._emit(self._recorder.stop())
                continue
            motion = self._motion_at_size(item).update(item)
            redacted = self._redactor.process(item, motion)
            self._processed += 1
            if motion.active != self._active:
                self._active = motion.active
                self._on_motion(motion)
            if redacted is None:
                continue
            self._faces[redacted.index] = redacted.faces_count
            # From here on frames wait (pre-roll, queues) as I420: half the memory of BGR.
            stored = Frame(redacted.index, redacted.t, to_i420(redacted.image))
            self._emit(self._recorder.feed(stored, motion.active))
        self._emit(self._recorder.stop())

    def _motion_at_size(self, frame: Frame) -> MotionDetector:
        """The motion detector for this frame's size; a new size ends the clip in progress
        (its segments cannot change size) and starts motion detection afresh."""
        height, width = frame.image.shape[:2]
        if self._motion is None or self._size != (width, height):
            if self._size is not None:
                log.warning("frame size changed from %dx%d to %dx%d", *self._size, width, height)
                self._emit(self._recorder.stop())
            self._size = (width, height)
            self._motion = self._motion_for(self._size)
        return self._motion

    def _emit(self, actions: list[Action]) -> None:
        for action in actions:
            faces = self._faces.pop(action.frame.index, 0) if isinstance(action, Write) else 0
            self._put(self._actions, (action, faces), force=True)
        # Frames that aged out of the pre-roll were never written; forget their counts.
        while len(self._faces) > _FACE_COUNTS_KEPT:
            del self._faces[next(iter(self._faces))]

    def _write(self) -> None:
        try:
            while True:
                item = self._actions.get()
                if item is _END:
                    break
                action, faces = item  # type: ignore[misc]
                self._writer.apply(action, faces)
        finally:
            self._writer.close()

    def _put(self, q: queue.Queue[object], item: object, force: bool = False) -> bool:
        """Block until there is room; give up on stop unless `force` (end markers, clips),
        and always once a thread has failed, since its queue may have no reader left."""
        while True:
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                if self.failure is not None or (self._stop.is_set() and not force):
                    return False

    @property
    def recorder_state(self) -> RecorderState:
        """Where the recorder is (idle, recording, cooldown)."""
        return self._recorder.state
