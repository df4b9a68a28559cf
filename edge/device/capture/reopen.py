"""Keeps frames coming when a camera disappears: reopen with back-off and report the gap.

A doorbell must not stop recording for good because a USB cable wobbled or an RTSP
server restarted, so a lost source is a gap to report, never a fatal error. The daemon
reads one continuous feed: indexes count every frame delivered and times only increase.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from edge.device.capture.source import FrameSource, SourceLost
from edge.device.frame import Frame

log = logging.getLogger(__name__)

# A paced replay that falls this far behind (after a gap) restarts its clock instead of
# rushing through the missed frames.
_PACE_SLACK_S = 1.0


class SourceUnavailable(RuntimeError):
    """A source with a limited number of attempts (a file) could not be read again."""


@dataclass(frozen=True, slots=True)
class SourceGap:
    """A time without frames. `ended_at` is None while the source is still missing.

    Times are `time.monotonic()` seconds; `attempts` counts failed opens and reads.
    """

    source: str
    reason: str
    started_at: float
    ended_at: float | None
    attempts: int


@dataclass(slots=True)
class CaptureStats:
    """Running counters for status reports."""

    frames: int = 0
    gaps: int = 0
    reopen_attempts: int = 0
    last_gap: SourceGap | None = None


class ReopeningSource:
    """A FrameSource that reopens the source made by `opener` whenever it is lost.

    Back-off starts at `initial_backoff_s` and doubles up to `max_backoff_s`. Each gap is
    logged and passed to `on_gap` twice: when it starts and when frames flow again. After
    `max_attempts` consecutive failures (None: never give up) it raises SourceUnavailable.
    Frames not newer than the last one delivered are skipped, so a reopened file resumes
    where it stopped. With `realtime`, frames are released at the pace of their `t`.
    `close()` may be called from another thread; iteration then ends at the next frame or
    back-off wait. `sleep` is the wait between attempts (tests pass their own).
    """

    def __init__(
        self,
        opener: Callable[[], FrameSource],
        name: str,
        *,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_attempts: int | None = None,
        realtime: bool = False,
        on_gap: Callable[[SourceGap], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self.stats = CaptureStats()
        self._opener = opener
        self._initial_backoff_s = initial_backoff_s
        self._max_backoff_s = max_backoff_s
        self._max_attempts = max_attempts
        self._realtime = realtime
        self._on_gap = on_gap
        self._closed = threading.Event()
        self._sleep = sleep or self._closed.wait
        self._source: FrameSource | None = None
        self._gap: SourceGap | None = None
        self._last_t: float | None = None
        self._pace_origin: float | None = None

    def __iter__(self) -> Iterator[Frame]:
        delay = self._initial_backoff_s
        try:
            while not self._closed.is_set():
                try:
                    if self._source is None:
                        self._source = self._opener()
                    for raw in self._source:
                        if self._last_t is not None and raw.t <= self._last_t:
                            continue
                        if self._gap is not None:
                            self._end_gap()
                            delay = self._initial_backoff_s
                        self._pace(raw.t)
                        if self._closed.is_set():
                            return
                        yield self._deliver(raw)
                        if self._closed.is_set():
                            return
                    return
                except SourceLost as exc:
                    self._drop_source()
                    self._record_failure(str(exc), delay)
                    self._sleep(delay)
                    delay = min(delay * 2, self._max_backoff_s)
        finally:
            self._drop_source()

    def close(self) -> None:
        """Stop delivering frames; the current source is released by the iterating thread."""
        self._closed.set()

    def _deliver(self, raw: Frame) -> Frame:
        self._last_t = raw.t
        frame = Frame(index=self.stats.frames, t=raw.t, image=raw.image, lores=raw.lores)
        self.stats.frames += 1
        return frame

    def _pace(self, t: float) -> None:
        if not self._realtime:
            return
        now = time.monotonic()
        if self._pace_origin is None or now - (self._pace_origin + t) > _PACE_SLACK_S:
            self._pace_origin = now - t
        wait = self._pace_origin + t - now
        if wait > 0:
            self._closed.wait(wait)

    def _record_failure(self, reason: str, delay: float) -> None:
        self.stats.reopen_attempts += 1
        if self._gap is None:
            self._gap = SourceGap(self.name, reason, time.monotonic(), None, 1)
            self.stats.gaps += 1
            log.warning("camera %s lost (%s); reopening with back-off", self.name, reason)
            self._report(self._gap)
        else:
            self._gap = replace(self._gap, attempts=self._gap.attempts + 1)
            log.debug("camera %s still missing (%s); next try in %.1f s", self.name, reason, delay)
        if self._max_attempts is not None and self._gap.attempts >= self._max_attempts:
            raise SourceUnavailable(
                f"{self.name}: gave up after {self._gap.attempts} attempts: {reason}"
            )

    def _end_gap(self) -> None:
        assert self._gap is not None
        gap = replace(self._gap, ended_at=time.monotonic())
        self._gap = None
        log.warning(
            "camera %s back after %.1f s and %d failed attempts",
            self.name,
            gap.ended_at - gap.started_at,
            gap.attempts,
        )
        self._report(gap)

    def _report(self, gap: SourceGap) -> None:
        self.stats.last_gap = gap
        if self._on_gap is not None:
            self._on_gap(gap)

    def _drop_source(self) -> None:
        if self._source is not None:
            source, self._source = self._source, None
            source.close()
