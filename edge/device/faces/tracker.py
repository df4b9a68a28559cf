"""Carry face boxes across frames so that one missed detection is not a leak.

A detector that works frame by frame leaks every frame it misses. Each face here is a
track: it follows its detections, learns its speed, and after a miss it keeps covering
the face where it is expected to be, widened by how far the face could have moved,
for `keep_seconds` after its last detection. The tracker does no I/O and has no clock
of its own: it is fed detections with frame times and answers with boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from edge.device.frame import Box

_SPEED_SMOOTHING = 0.5  # weight of the newest speed measurement
_DUPLICATE_IOU = 0.5


@dataclass(frozen=True, slots=True)
class Track:
    """One face: its last detected box (centre and size), its speed in px/s, and times."""

    cx: float
    cy: float
    w: float
    h: float
    vx: float
    vy: float
    last_hit: float
    frame_interval: float

    def expected(self, t: float) -> tuple[float, float]:
        """Where the face centre should be at time t if it keeps its speed."""
        dt = t - self.last_hit
        return self.cx + self.vx * dt, self.cy + self.vy * dt


def cover_box(track: Track, t: float, margin: float, spread: float) -> Box:
    """The box to obscure at time t for a track.

    It is the face grown by `margin` of its size on every side, moved to where the face
    is expected, and widened by the distance the face travels in the time since its last
    detection plus one frame (motion blur and frame-time jitter). `spread` (per second)
    grows it further while the face goes unseen, since the speed itself may change.
    """
    cx, cy = track.expected(t)
    unseen = max(0.0, t - track.last_hit)
    travel = unseen + track.frame_interval
    grow = margin + spread * unseen
    half_w = track.w * (0.5 + grow) + abs(track.vx) * travel
    half_h = track.h * (0.5 + grow) + abs(track.vy) * travel
    return Box(cx - half_w, cy - half_h, 2 * half_w, 2 * half_h, 1.0)


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return inter / union if union > 0 else 0.0


def _contains(box: Box, x: float, y: float) -> bool:
    return box.x <= x <= box.x + box.w and box.y <= y <= box.y + box.h


class FaceTracker:
    """Tracks faces from per-frame detections; see the module docstring."""

    def __init__(
        self,
        keep_seconds: float = 1.0,
        margin: float = 0.3,
        spread: float = 1.0,
        start_score: float = 0.0,
        default_interval: float = 1 / 15,
    ) -> None:
        self.keep_seconds = keep_seconds
        self.margin = margin
        self.spread = spread
        self.start_score = start_score
        self._default_interval = default_interval
        self._tracks: list[Track] = []
        self._last_t: float | None = None

    @property
    def tracks(self) -> tuple[Track, ...]:
        return tuple(self._tracks)

    def expected_boxes(self, t: float) -> list[Box]:
        """Where each live track's face is expected at t (cover boxes, before update)."""
        return [cover_box(tr, t, self.margin, self.spread) for tr in self._tracks]

    def update(self, detections: Sequence[Box], t: float) -> list[Box]:
        """Feed the detections of the frame at time t; returns the boxes to obscure.

        A detection whose centre lies in a track's expected cover box continues that
        track (nearest first); others with a score of at least `start_score` start new
        tracks. Tracks unseen for longer than `keep_seconds` are dropped.
        """
        interval = self._default_interval if self._last_t is None else t - self._last_t
        if interval <= 0:
            interval = self._default_interval
        self._last_t = t
        expected = [cover_box(tr, t, self.margin, self.spread) for tr in self._tracks]
        claimed: set[int] = set()
        updated: list[Track] = []
        for track, area in zip(self._tracks, expected, strict=True):
            ex, ey = track.expected(t)
            best, best_d = None, float("inf")
            for k, det in enumerate(detections):
                if k in claimed:
                    continue
                dx, dy = det.x + det.w / 2, det.y + det.h / 2
                if not _contains(area, dx, dy):
                    continue
                d = (dx - ex) ** 2 + (dy - ey) ** 2
                if d < best_d:
                    best, best_d = k, d
            if best is None:
                if t - track.last_hit <= self.keep_seconds:
                    updated.append(replace(track, frame_interval=interval))
                continue
            claimed.add(best)
            updated.append(_follow(track, detections[best], t, interval))
        for k, det in enumerate(detections):
            if k not in claimed and det.score >= self.start_score:
                updated.append(
                    Track(det.x + det.w / 2, det.y + det.h / 2, det.w, det.h, 0.0, 0.0, t, interval)
                )
        self._tracks = _drop_duplicates(updated, t)
        return [cover_box(tr, t, self.margin, self.spread) for tr in self._tracks]


def _follow(track: Track, det: Box, t: float, interval: float) -> Track:
    cx, cy = det.x + det.w / 2, det.y + det.h / 2
    dt = t - track.last_hit
    if dt <= 0:
        return replace(track, cx=cx, cy=cy, w=det.w, h=det.h, frame_interval=interval)
    vx, vy = (cx - track.cx) / dt, (cy - track.cy) / dt
    if track.vx or track.vy:
        a = _SPEED_SMOOTHING
        vx, vy = a * vx + (1 - a) * track.vx, a * vy + (1 - a) * track.vy
    return Track(cx, cy, det.w, det.h, vx, vy, t, interval)


def _drop_duplicates(tracks: list[Track], t: float) -> list[Track]:
    """Keep one track per face: of two overlapping tracks, the one seen last wins."""
    kept: list[Track] = []
    for track in sorted(tracks, key=lambda tr: tr.last_hit, reverse=True):
        box = cover_box(track, t, 0.0, 0.0)
        if all(_iou(box, cover_box(k, t, 0.0, 0.0)) < _DUPLICATE_IOU for k in kept):
            kept.append(track)
    return kept
