"""Motion detection: decides per frame whether someone moves inside the motion zones.

It works on a small grayscale copy against a running-average background. A pixel counts
as changed only if it differs from the background both after a whole-frame gain
correction and after a smooth, local one: lighting (a porch light, the IR day/night
switch, exposure jumps, clouds) scales regions of the image smoothly and vanishes under
the local correction, while a person changes the image's structure and survives both.
A whole-frame change is flagged and the background re-learnt fast; it never counts as
motion, so it cannot start a clip.

Changed pixels are learnt slowly, so someone who stood still for a while leaves a
"ghost" in the background when they go: the bare porch now differs from a background
that holds part of them. A second, quiet background learns quickly only where the frame
matches it and very slowly elsewhere, so it keeps what the scene looks like with nobody
in it; a changed pixel that matches it again is the scene uncovered, so the background
takes the quiet value there at once and the pixel is not changed. Someone standing
still does not match the bare scene, so stays changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.core.config.models import MotionConfig
from edge.device.faces.heads import head_boxes
from edge.device.frame import Box, Frame
from edge.device.presence import FootTracks
from edge.device.shrink import shrink
from edge.device.zones import polygon_mask

# Changed pixels (someone standing at the door) are learnt this many times more slowly
# than the rest, so a waiting visitor does not fade into the background within a few
# seconds, while a parcel left behind still does within half a minute.
_CHANGED_SLOWDOWN = 10.0

# What differs from the bare scene is learnt into the quiet background this many times
# more slowly again (~100 s at the defaults): a visitor who waits a minute and leaves
# still uncovers the bare scene, a parcel left behind becomes part of it in minutes.
_QUIET_SLOWDOWN = 10.0

# Time constant of the background while it is learnt after start or re-learnt after a
# whole-frame change: it follows the new image within a few frames.
_FAST_SECONDS = 0.1

# The local gain is measured on cells of about this many small-copy pixels a side (64
# px at 720p): coarse enough to follow a light's falloff, too coarse to fit a person.
_GAIN_CELL = 16

# A whole-frame brightness ratio beyond this (as |log|, ~22 %) since the background is
# an exposure jump or the IR switch: re-learn rather than wait for the running average.
_GAIN_JUMP = 0.2

# Blobs are grouped with a kernel taller than wide so that a person whose waist or
# knees barely differ from the background still forms one blob from head to feet.
_GROUP_KERNEL = np.ones((5, 3), np.uint8)


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What motion detection found in one frame.

    `boxes` are the moving blobs that count (enough of them inside the zones), in
    full-frame pixels, each with its changed in-zone area (small-copy pixels) as score;
    `shapes` every moving blob in the frame, zones or not, with its changed area as
    score, for stages that must look at anyone moving; `heads` the head boxes found on
    the outline of every one of those shapes (`edge.device.faces.heads`), frame pixels.
    `score` is the changed fraction of the zone area. `motion` says this frame had
    motion; `active` is the debounced state: on after `min_frames` frames in a row with
    motion, off once `post_seconds` passed without. `global_change` is set while a
    whole-frame change (light, IR switch, exposure jump) is being re-learnt: no motion
    is reported then (a running `active` is held on), nor before `ready`, when the first
    background has been learnt. `gray` is the whole frame in grayscale (float32) at the
    working size, for stages that want a small copy of the frame without making one.
    """

    t: float
    boxes: tuple[Box, ...]
    shapes: tuple[Box, ...]
    heads: tuple[Box, ...]
    score: float
    motion: bool
    active: bool
    global_change: bool
    ready: bool
    gray: np.ndarray | None = field(default=None, compare=False, repr=False)


def work_size(frame_size: tuple[int, int], height: int) -> tuple[int, int]:
    """Return the (width, height) of the small copy for a (width, height) frame."""
    width_px, height_px = frame_size
    small_h = min(height, height_px)
    small_w = max(1, round(width_px * small_h / height_px))
    return small_w, small_h


def small_gray(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return a uint8 grayscale copy of a BGR or gray image at (width, height) `size`.

    Grayscale first, then box averages: halving with INTER_LINEAR averages 2x2 pixels
    exactly and is SIMD-fast, so two halvings give the same 4x4 average as INTER_AREA at
    half its cost (scripts/bench_motion.py). Averaging keeps ~1/4 of the sensor noise,
    where subsampling (INTER_NEAREST, slicing) would keep all of it.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return shrink(image, size)


def changed_pixels(
    gray: np.ndarray, background: np.ndarray, grid: tuple[int, int], threshold: float
) -> tuple[np.ndarray, int, float]:
    """Compare a float32 small copy with the background.

    Returns the uint8 mask (255) of pixels changed beyond `threshold` under both the
    whole-frame and the local gain correction, the number of pixels only the whole-frame
    correction calls changed (what lighting did), and the whole-frame gain.
    """
    now = cv2.resize(gray, grid, interpolation=cv2.INTER_AREA)
    then = cv2.resize(background, grid, interpolation=cv2.INTER_AREA)
    # The median over 5x5 cells keeps a person (even one close to the lens, up to about
    # half of those cells) out of the gain, while a light's smooth falloff survives it.
    local_gain = cv2.medianBlur((now + 1.0) / (then + 1.0), 5)
    gain = cv2.mean(local_gain)[0]
    size = (gray.shape[1], gray.shape[0])
    relit = background * cv2.resize(local_gain, size, interpolation=cv2.INTER_LINEAR)
    changed_global = cv2.compare(cv2.absdiff(gray, background * gain), threshold, cv2.CMP_GT)
    changed_local = cv2.compare(cv2.absdiff(gray, relit), threshold, cv2.CMP_GT)
    lighting = cv2.countNonZero(cv2.subtract(changed_global, changed_local))
    return cv2.bitwise_and(changed_global, changed_local), lighting, gain


def _foot_column(changed: np.ndarray) -> int | None:
    """Column of a blob's feet: the middle of its changed pixels in the bottom rows."""
    h = changed.shape[0]
    columns = np.flatnonzero(changed[max(0, h - max(2, h // 8)) :, :].any(axis=0))
    return int(columns[columns.size // 2]) if columns.size else None


def _cells(length: int) -> int:
    """Gain cells along an axis: a divisor of `length` near length / _GAIN_CELL if any.

    Whole-number cell sizes let cv2.resize(INTER_AREA) take its fast path (~8x faster).
    """
    target = max(1, round(length / _GAIN_CELL))
    for delta in range(target // 3 + 1):
        for n in (target + delta, target - delta):
            if n >= 1 and length % n == 0:
                return n
    return target


class MotionDetector:
    """Motion detection for one camera; feed it every frame in order with `update`.

    `frame_size` is the (width, height) of `Frame.image`; `post_seconds` how long
    `active` stays on after the last frame with motion (`recording.post_seconds`).
    `Frame.lores`, when given, must be a 2-D uint8 gray image (the Y plane of the Pi's
    lores stream, a file's luma) of the same field of view, at any size; it is used
    instead of the full frame.
    """

    def __init__(
        self,
        config: MotionConfig,
        frame_size: tuple[int, int],
        *,
        post_seconds: float = 3.0,
    ) -> None:
        self._config = config
        self._post_seconds = post_seconds
        self._size = w, h = work_size(frame_size, config.frame_height)
        self._whole_frame = not config.zones
        zone = polygon_mask(config.zones, w, h) if config.zones else np.ones((h, w), bool)
        self._zone = zone.astype(np.uint8) * 255
        self._zone_pixels = max(1, int(zone.sum()))
        self._feet = FootTracks(zone, config.min_inside, config.foot_margin, self._whole_frame)
        self._min_area_px = max(1.0, config.min_area * w * h)
        self._grid = (_cells(w), _cells(h))
        self._scale = (frame_size[0] / w, frame_size[1] / h)
        self._background: np.ndarray | None = None
        self._quiet: np.ndarray | None = None  # learnt from unchanged pixels only
        self._last_t = -math.inf
        self._ready_at = math.inf
        self._fast_until = -math.inf
        self._streak = 0
        self._active = False
        self._last_motion_t = -math.inf

    def update(self, frame: Frame) -> MotionResult:
        """Compare one frame with the background, learn from it and return the result."""
        source = frame.lores if frame.lores is not None else frame.image
        gray = small_gray(source, self._size).astype(np.float32)
        t = frame.t
        if self._background is None or self._quiet is None:
            self._background = gray.copy()
            self._quiet = gray.copy()
            self._last_t = t
            self._ready_at = self._fast_until = t + self._config.warmup_seconds
            return self._debounce(t, (), (), (), 0.0, gray, global_change=False)

        threshold = float(self._config.threshold)
        changed, lighting, gain = changed_pixels(gray, self._background, self._grid, threshold)
        bare = cv2.compare(cv2.absdiff(gray, self._quiet * gain), threshold, cv2.CMP_LE)
        if t >= self._fast_until:
            self._uncover(changed, bare)
        moved = cv2.countNonZero(changed)
        # Lighting must explain most of what changed: a person close to the lens also
        # changes much of the frame, but mostly in ways no gain explains.
        relit = lighting > self._config.global_fraction * changed.size and lighting > 2 * moved
        if relit or abs(math.log(max(gain, 1e-3))) > _GAIN_JUMP:
            self._fast_until = t + self._config.relearn_seconds
        self._learn(gray, changed, bare, t)
        if t < self._fast_until:
            # Saturated or unevenly lit pixels leave a residue the gain correction does
            # not explain, so nothing seen while the background is (re-)learnt counts;
            # a clip already running is held on meanwhile rather than cut short.
            if self._active:
                self._last_motion_t = t
            return self._debounce(t, (), (), (), 0.0, gray, global_change=t >= self._ready_at)

        in_zone = cv2.bitwise_and(changed, self._zone)
        area = cv2.countNonZero(in_zone)
        self._feet.start_frame(t)
        boxes, shapes, heads = self._blobs(changed, in_zone, t) if moved else ((), (), ())
        return self._debounce(
            t, boxes, shapes, heads, area / self._zone_pixels, gray, global_change=False
        )

    def _uncover(self, changed: np.ndarray, bare: np.ndarray) -> None:
        """Clear, in `changed` and the background, the pixels where the bare scene shows."""
        assert self._background is not None and self._quiet is not None
        uncovered = cv2.bitwise_and(changed, bare)
        if cv2.countNonZero(uncovered):
            np.copyto(self._background, self._quiet, where=uncovered.astype(bool))
            cv2.subtract(changed, uncovered, dst=changed)

    def _learn(self, gray: np.ndarray, changed: np.ndarray, bare: np.ndarray, t: float) -> None:
        """Blend the frame into the background, changed pixels more slowly; and into the
        quiet background where it shows the bare scene, elsewhere far more slowly still
        (someone standing still is not learnt, a parcel left behind in a few minutes)."""
        dt = max(0.0, t - self._last_t)
        self._last_t = t
        background, quiet = self._background, self._quiet
        if t < self._fast_until:
            alpha = 1.0 - math.exp(-dt / _FAST_SECONDS)
            cv2.accumulateWeighted(gray, background, alpha)
            cv2.accumulateWeighted(gray, quiet, alpha)
            return
        tau = self._config.background_seconds
        still = cv2.bitwise_not(changed)
        cv2.accumulateWeighted(gray, background, 1.0 - math.exp(-dt / tau), mask=still)
        slow = 1.0 - math.exp(-dt / (tau * _CHANGED_SLOWDOWN))
        cv2.accumulateWeighted(gray, background, slow, mask=changed)
        cv2.accumulateWeighted(gray, quiet, 1.0 - math.exp(-dt / tau), mask=bare)
        slowest = 1.0 - math.exp(-dt / (tau * _CHANGED_SLOWDOWN * _QUIET_SLOWDOWN))
        cv2.accumulateWeighted(gray, quiet, slowest, mask=cv2.bitwise_not(bare))

    def _blobs(
        self, changed: np.ndarray, in_zone: np.ndarray, t: float
    ) -> tuple[tuple[Box, ...], tuple[Box, ...], tuple[Box, ...]]:
        """Boxes of the moving blobs that count, of every moving blob, and of their heads.

        A blob is kept when at least `min_area` of it changed. It counts when that much
        changed inside the zones and its feet say it is someone coming to the door
        (`edge.device.presence`).
        """
        blobs = cv2.dilate(changed, _GROUP_KERNEL)
        contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = self._scale
        counting: list[Box] = []
        shapes: list[Box] = []
        heads: list[Box] = []
        for contour in contours:
            x, y, w, h = cv2.boundingRect(contour)
            if w * h < self._min_area_px:
                continue
            rows, cols = slice(y, y + h), slice(x, x + w)
            area = cv2.countNonZero(changed[rows, cols])
            if area < self._min_area_px:
                continue
            shapes.append(Box(x * sx, y * sy, w * sx, h * sy, score=float(area)))
            at_left, at_right = x == 0, x + w == self._size[0]
            for hx, hy, hw, hh in head_boxes(blobs[rows, cols], at_left, at_right):
                heads.append(Box((x + hx) * sx, (y + hy) * sy, hw * sx, hh * sy, 1.0))
            area_in_zone = cv2.countNonZero(in_zone[rows, cols])
            if area_in_zone < self._min_area_px:
                continue
            foot_x = _foot_column(changed[rows, cols])
            if foot_x is None or not self._feet.counts(x + foot_x, y + h - 1, h, t):
                continue
            counting.append(Box(x * sx, y * sy, w * sx, h * sy, score=float(area_in_zone)))
        return tuple(counting), tuple(shapes), tuple(heads)

    def _debounce(
        self,
        t: float,
        boxes: tuple[Box, ...],
        shapes: tuple[Box, ...],
        heads: tuple[Box, ...],
        score: float,
        gray: np.ndarray,
        *,
        global_change: bool,
    ) -> MotionResult:
        motion = bool(boxes)
        self._streak = self._streak + 1 if motion else 0
        if motion:
            self._last_motion_t = t
        if self._streak >= self._config.min_frames:
            self._active = True
        elif self._active and t - self._last_motion_t > self._post_seconds:
            self._active = False
        return MotionResult(
            t=t,
            boxes=boxes,
            shapes=shapes,
            heads=heads,
            score=score,
            motion=motion,
            active=self._active,
            global_change=global_change,
            ready=t >= self._ready_at,
            gray=gray,
        )
