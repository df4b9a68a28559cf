"""Whether a moving shape is someone at the door, from where it stands and where it goes.

Motion inside the zone is not enough: by perspective, people walking along the street
band reach with their legs over the zone's far edge. The rule, on the motion stage's
small copy:

- a shape *stands in* the zone when the middle of its bottom (its feet) lies in the
  zone with at least `min_inside` of the shape's height, and `foot_margin` of the frame
  height, of zone straight above it (a shape cut by the frame's bottom, someone close
  to the camera, stands wherever the zone meets the bottom);
- it counts at once when it stands *deep* in the zone, `_DEEP` times that far in
  (the walkway and the porch, well clear of the street), or when it runs off the
  frame's bottom with `foot_margin` of zone above that point: its feet are below the
  picture, so it is close to the camera, however still (a visitor at the frame's side);
- otherwise it counts only while its feet have moved toward the camera (down the
  image) since it was first seen, by `_TOWARD_SHARE` of the frame height and by more
  than half as much as they moved sideways: a visitor turning up the walkway does, a
  passer-by along the street does not.

Feet are followed from frame to frame by nearest neighbour (`FootTracks`).
Limits: a visitor who stays at the zone's far edge without coming closer is not
counted until they do (the pre-roll keeps the seconds before); a passer-by who steps
off the street toward the house is counted, which is right; two people whose feet
cross swap tracks, which only delays or hastens the count by their displacement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_DEEP = 1.5  # standing this many times the needed depth in counts without moving
_TOWARD_SHARE = 0.04  # feet moved this share of the frame height toward the camera
_FORGET_SECONDS = 1.0  # a track not seen for this long is forgotten
_MATCH_SHARE = 0.15  # feet match a track within this share of the frame width


def zone_depth(zone: np.ndarray) -> np.ndarray:
    """Per pixel, how many zone pixels lie straight above it without a gap (itself included).

    0 outside the zone. Pixels of the frame's top row that are in the zone count the
    rows above the frame as zone too (the zone goes on out of the picture).
    """
    depth = np.zeros(zone.shape, np.int32)
    run = np.where(zone[0], zone.shape[0], 0).astype(np.int32)
    depth[0] = run
    for row in range(1, zone.shape[0]):
        run = np.where(zone[row], run + 1, 0)
        depth[row] = run
    return depth


@dataclass(slots=True, eq=False)
class _Track:
    first_x: float
    first_y: float
    x: float
    y: float
    seen: float


class FootTracks:
    """Follows the feet of moving shapes; says which are someone coming to the door."""

    def __init__(
        self, zone: np.ndarray, min_inside: float, foot_margin: float, whole_frame: bool
    ) -> None:
        height, width = zone.shape
        self._depth = zone_depth(zone)
        self._min_inside = min_inside
        self._margin = foot_margin * height
        self._toward = _TOWARD_SHARE * height
        self._match = _MATCH_SHARE * width
        self._whole_frame = whole_frame
        self._tracks: list[_Track] = []
        self._now: list[_Track] = []

    def start_frame(self, t: float) -> None:
        """Begin a frame: forget tracks unseen for a while."""
        self._tracks = [tr for tr in self._tracks if t - tr.seen <= _FORGET_SECONDS]
        self._now = []

    def counts(self, foot_x: float, foot_y: float, height: float, t: float) -> bool:
        """Follow one shape's feet (small-copy px) this frame; True when it counts."""
        track = self._follow(foot_x, foot_y, t)
        if self._whole_frame:
            return True
        row = min(self._depth.shape[0] - 1, max(0, int(foot_y)))
        col = min(self._depth.shape[1] - 1, max(0, int(foot_x)))
        depth = float(self._depth[row, col])
        # Cut by the frame's bottom: the visible height is not the body's; the feet are
        # below the picture, so only the margin of zone above that point is asked for.
        at_bottom = row == self._depth.shape[0] - 1
        needed = self._margin if at_bottom else max(self._min_inside * height, self._margin)
        if depth < needed:
            return False
        if at_bottom or depth >= _DEEP * needed:
            return True
        toward = track.y - track.first_y
        return toward >= self._toward and toward > 0.5 * abs(track.x - track.first_x)

    def _follow(self, x: float, y: float, t: float) -> _Track:
        best, best_d = None, self._match
        for track in self._tracks:
            if any(track is taken for taken in self._now):
                continue
            d = math.hypot(track.x - x, track.y - y)
            if d <= best_d:
                best, best_d = track, d
        if best is None:
            best = _Track(x, y, x, y, t)
            self._tracks.append(best)
        best.x, best.y, best.seen = x, y, t
        self._now.append(best)
        return best
