"""The clip state machine: decides, frame by frame, when a clip and its segments start and end.

It is pure (no I/O, no clock): fed each redacted frame with whether motion is active, it
returns small actions that the daemon carries out with the encoder and the store. Keeping
the decisions here, apart from the side effects, lets every timing rule be tested with a
table of timestamps.

idle ──motion──► recording ◄──motion── cooldown
                      └────no motion─────►│
cooldown ──post_seconds without motion, clip ≥ min_seconds──► idle
any clip reaching max_seconds is ended and a new one continues from the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge.device.frame import Frame
from edge.device.preroll import PreRoll

# Times are sums of float frame intervals; compare with this slack so a segment of
# exactly `segment_seconds` is not split one frame late by a rounding error.
_EPSILON = 1e-6


class RecorderState(StrEnum):
    IDLE = "idle"
    RECORDING = "recording"
    COOLDOWN = "cooldown"


class ClipEndReason(StrEnum):
    MOTION_ENDED = "motion_ended"
    MAX_LENGTH = "max_length"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ClipStart:
    """A clip begins; its first frame (the oldest pre-roll frame) is at `start_t`.

    `trigger_t` is the time of the motion that started the clip's event. `continued` is
    true when this clip carries on an event whose previous clip reached `max_seconds`.
    """

    start_t: float
    trigger_t: float
    continued: bool = False


@dataclass(frozen=True, slots=True)
class SegmentStart:
    """Segment `index` (0, 1, … within the clip) begins with the next Write, at time `t`."""

    index: int
    t: float


@dataclass(frozen=True, slots=True)
class Write:
    """Append this frame to the current segment."""

    frame: Frame


@dataclass(frozen=True, slots=True)
class ClipEnd:
    """The clip that began at `start_t` is complete; its last frame is at `end_t`."""

    start_t: float
    end_t: float
    frames: int
    reason: ClipEndReason


Action = ClipStart | SegmentStart | Write | ClipEnd


@dataclass(frozen=True, slots=True)
class RecorderSettings:
    """Clip timing. A clip lasts from `pre_seconds` before the first motion to
    `post_seconds` after the last, at least `min_seconds`, at most `max_seconds`."""

    pre_seconds: float = 2.0
    post_seconds: float = 3.0
    min_seconds: float = 3.0
    max_seconds: float = 60.0
    segment_seconds: float = 2.0
    preroll_max_frames: int = 45

    def __post_init__(self) -> None:
        if min(self.pre_seconds, self.post_seconds, self.min_seconds) < 0:
            raise ValueError("pre_seconds, post_seconds and min_seconds must be >= 0")
        if self.segment_seconds <= 0:
            raise ValueError(f"segment_seconds must be > 0, got {self.segment_seconds}")
        if self.max_seconds <= self.pre_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds}) must exceed pre_seconds ({self.pre_seconds})"
            )
        if self.max_seconds < self.min_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds}) must be >= min_seconds ({self.min_seconds})"
            )
        if self.preroll_max_frames < 1:
            raise ValueError(f"preroll_max_frames must be >= 1, got {self.preroll_max_frames}")


class Recorder:
    """Feed it every redacted frame in capture order; carry out the actions it returns in order."""

    def __init__(self, settings: RecorderSettings | None = None) -> None:
        self.settings = settings or RecorderSettings()
        self._preroll = PreRoll(self.settings.pre_seconds, self.settings.preroll_max_frames)
        self._state = RecorderState.IDLE
        self._trigger_t = 0.0
        self._last_motion_t = 0.0
        self._clip_start_t = 0.0
        self._segment_index = 0
        self._segment_start_t = 0.0
        self._frames = 0
        self._last_t = 0.0

    @property
    def state(self) -> RecorderState:
        return self._state

    def feed(self, frame: Frame, motion: bool) -> list[Action]:
        """Take the next frame and whether motion is active in it; return what to do now."""
        actions: list[Action] = []
        if self._state is RecorderState.IDLE:
            self._preroll.push(frame)
            if motion:
                held = self._preroll.drain()
                self._trigger_t = self._last_motion_t = frame.t
                self._state = RecorderState.RECORDING
                self._start_clip(held[0].t, continued=False, actions=actions)
                for earlier in held:
                    self._write(earlier, actions)
            return actions

        if motion:
            self._last_motion_t = frame.t
            self._state = RecorderState.RECORDING
        elif self._quiet_long_enough(frame.t):
            actions.append(self._end_clip(ClipEndReason.MOTION_ENDED))
            self._state = RecorderState.IDLE
            self._preroll.push(frame)
            return actions
        else:
            self._state = RecorderState.COOLDOWN
        self._write(frame, actions)
        return actions

    def stop(self) -> list[Action]:
        """End the clip in progress (on shutdown or pause) and forget the pre-roll."""
        self._preroll.drain()
        if self._state is RecorderState.IDLE:
            return []
        self._state = RecorderState.IDLE
        return [self._end_clip(ClipEndReason.STOPPED)]

    def _quiet_long_enough(self, t: float) -> bool:
        s = self.settings
        quiet = t - self._last_motion_t > s.post_seconds + _EPSILON
        long_enough = t - self._clip_start_t >= s.min_seconds - _EPSILON
        return quiet and long_enough

    def _write(self, frame: Frame, actions: list[Action]) -> None:
        s = self.settings
        if frame.t - self._clip_start_t >= s.max_seconds - _EPSILON:
            actions.append(self._end_clip(ClipEndReason.MAX_LENGTH))
            self._start_clip(frame.t, continued=True, actions=actions)
        elif frame.t - self._segment_start_t >= s.segment_seconds - _EPSILON:
            self._segment_index += 1
            self._segment_start_t = frame.t
            actions.append(SegmentStart(self._segment_index, frame.t))
        actions.append(Write(frame))
        self._frames += 1
        self._last_t = frame.t

    def _start_clip(self, start_t: float, continued: bool, actions: list[Action]) -> None:
        self._clip_start_t = self._segment_start_t = start_t
        self._segment_index = 0
        self._frames = 0
        actions.append(ClipStart(start_t, self._trigger_t, continued))
        actions.append(SegmentStart(0, start_t))

    def _end_clip(self, reason: ClipEndReason) -> ClipEnd:
        return ClipEnd(self._clip_start_t, self._last_t, self._frames, reason)
