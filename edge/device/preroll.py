"""A RAM ring of the last few seconds of redacted frames, so a clip can start before its trigger.

It only ever holds frames that have already been redacted, and it never leaves memory
(invariant 1). The frame-count cap bounds memory even if timestamps stall.
"""

from __future__ import annotations

from collections import deque

from edge.device.frame import Frame

# Frame times are floats built from sums of 1/fps; without this, a frame exactly
# `seconds` old could fall out of the ring because of a rounding error.
_TOLERANCE = 1e-6


class PreRoll:
    """Keeps the frames at most `seconds` older than the newest one, and at most `max_frames`."""

    def __init__(self, seconds: float, max_frames: int) -> None:
        if seconds < 0:
            raise ValueError(f"pre-roll seconds must be >= 0, got {seconds}")
        if max_frames < 1:
            raise ValueError(f"pre-roll max_frames must be >= 1, got {max_frames}")
        self.seconds = seconds
        self.max_frames = max_frames
        self._frames: deque[Frame] = deque(maxlen=max_frames)

    def push(self, frame: Frame) -> None:
        """Add the newest frame and forget those now too old."""
        self._frames.append(frame)
        oldest_kept = frame.t - self.seconds - _TOLERANCE
        while self._frames[0].t < oldest_kept:
            self._frames.popleft()

    def drain(self) -> list[Frame]:
        """Return the held frames oldest first and empty the ring."""
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def __len__(self) -> int:
        return len(self._frames)
