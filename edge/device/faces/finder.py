"""Decide where to look for faces in each frame, run the detector there, and track.

Running the detector over a whole 720p frame at a size where small faces are visible
costs far more than a frame interval on one core. Instead, every frame:

- each tracked face is looked for again in a small crop around where it is expected,
  scaled so the face is about `_CROP_FACE_PX` tall (cheap, and a lower score suffices);
- every `scan_every` frames the parts of the non-public area that changed since the
  last scan are scanned, at the scale that makes `min_face_px` faces detectable, and
  every `full_scan_every` frames all of it (plus some context around it) is;
- the tracker turns the detections into boxes to obscure, covering missed frames;
- the heads of every moving shape (found on its outline by `edge.device.faces.heads`)
  with no face detected in them are covered as well, because fast, motion-blurred
  people are invisible to the detector and a newcomer may arrive between two scans.
  Only heads, not the shapes' tops: the owner keeps the clothes, hands and parcels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from edge.core.config.models import FacesConfig
from edge.device.faces.changes import changed_bounds, open_cells, thumbnail
from edge.device.faces.tracker import FaceTracker
from edge.device.frame import Box, Frame
from edge.device.shrink import shrink

_SCAN_FACE_PX = 20.0  # CenterFace finds nearly every face from about this height
_CROP_FACE_PX = 30.0  # height a tracked face is scaled to in its crop, about ...
_CROP_MIN_FACE_PX = 24.0  # ... and at least
_CROP_MAX_PX = 160 * 160  # detector input pixels of one crop, at most
_CROP_CONTEXT = 0.25  # crop = cover box grown by this share of the face size per side
_SCAN_CONTEXT = 0.18  # scan this share of the frame height beyond the non-public area
_NMS_IOU = 0.3
_GRID = 32  # the detector pads its input to multiples of this
_FULL_SHARE = 0.6  # scan all of the area when the changed parts cover more than this


class FaceDetector(Protocol):
    """Anything that finds faces in a BGR image (boxes in that image's pixels)."""

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]: ...


class MotionBoxes(Protocol):
    """The part of the motion stage's result this stage uses: heads of moving shapes,
    and its small grayscale copy of the frame (None: make one)."""

    @property
    def heads(self) -> Sequence[Box]: ...

    @property
    def gray(self) -> np.ndarray | None: ...


@dataclass(frozen=True, slots=True)
class Region:
    """A crop of the frame, x0 <= x < x1 and y0 <= y < y1, with the scale to run it at."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float


def scan_region(public: np.ndarray, min_face_px: float) -> Region | None:
    """The bounding box of the non-public area plus context; None if all is public."""
    height, width = public.shape
    open_rows = np.flatnonzero(~public.all(axis=1))
    open_cols = np.flatnonzero(~public.all(axis=0))
    if open_rows.size == 0:
        return None
    pad = round(_SCAN_CONTEXT * height)
    return Region(
        max(0, int(open_cols[0]) - pad),
        max(0, int(open_rows[0]) - pad),
        min(width, int(open_cols[-1]) + 1 + pad),
        min(height, int(open_rows[-1]) + 1 + pad),
        min(1.0, _SCAN_FACE_PX / min_face_px),
    )


def crop_region(cover: Box, face_h: float, width: int, height: int) -> Region | None:
    """The crop in which to look again for a tracked face; None if it left the frame.

    The scale makes the face about `_CROP_FACE_PX` tall, adjusted so that the scaled crop
    fits the detector's 32-pixel input grid (padding would cost the same time), but never
    below `_CROP_MIN_FACE_PX`, unless the crop would then exceed `_CROP_MAX_PX`.
    """
    pad = _CROP_CONTEXT * face_h
    x0 = max(0, math.floor(cover.x - pad))
    y0 = max(0, math.floor(cover.y - pad))
    x1 = min(width, math.ceil(cover.x + cover.w + pad))
    y1 = min(height, math.ceil(cover.y + cover.h + pad))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    face_h = max(face_h, 1.0)
    side = max(x1 - x0, y1 - y0)
    grid = max(_GRID, round(side * _CROP_FACE_PX / face_h / _GRID) * _GRID)
    scale = max(grid / side, _CROP_MIN_FACE_PX / face_h)
    # A fast or uncertain track has a cover box far larger than its face; looking for
    # the face in all of it at face scale costs more than a whole scan (70 ms for a
    # 600x470 crop). It stays covered meanwhile and the scans look for it there.
    scale = min(scale, math.sqrt(_CROP_MAX_PX / ((x1 - x0) * (y1 - y0))))
    return Region(x0, y0, x1, y1, min(1.0, scale))


def head_zones(heads: Sequence[Box], faces: Sequence[Box]) -> list[Box]:
    """The heads of moving shapes that have none of `faces` centred inside them."""
    return [
        zone
        for zone in heads
        if not any(
            zone.x <= f.x + f.w / 2 <= zone.x + zone.w
            and zone.y <= f.y + f.h / 2 <= zone.y + zone.h
            for f in faces
        )
    ]


def detect_in(
    detector: FaceDetector, image: np.ndarray, region: Region, threshold: float
) -> list[Box]:
    """Run the detector on one region of the frame; boxes in frame pixels."""
    crop = image[region.y0 : region.y1, region.x0 : region.x1]
    s = region.scale
    if s < 1.0:
        size = (max(1, round(crop.shape[1] * s)), max(1, round(crop.shape[0] * s)))
        crop = shrink(crop, size)
        sx, sy = crop.shape[1] / (region.x1 - region.x0), crop.shape[0] / (region.y1 - region.y0)
    else:
        sx = sy = 1.0
    return [
        Box(region.x0 + b.x / sx, region.y0 + b.y / sy, b.w / sx, b.h / sy, b.score)
        for b in detector.detect(crop, threshold)
    ]


def _suppress(boxes: list[Box]) -> list[Box]:
    if len(boxes) < 2:
        return boxes
    keep = cv2.dnn.NMSBoxes(
        [[b.x, b.y, b.w, b.h] for b in boxes], [b.score for b in boxes], 0.0, _NMS_IOU
    )
    return [boxes[k] for k in np.asarray(keep).reshape(-1)]


class FaceFinder:
    """Per-frame face boxes to obscure, for frames of one size; see the module docstring."""

    def __init__(self, detector: FaceDetector, cfg: FacesConfig, public: np.ndarray) -> None:
        self._detector = detector
        self._cfg = cfg
        self._height, self._width = public.shape
        self._public = public
        self._open_cells = open_cells(public)
        self._scan = scan_region(public, cfg.min_face_px)
        self._tracker = FaceTracker(
            keep_seconds=cfg.keep_seconds, margin=cfg.margin, start_score=cfg.threshold
        )
        self._frames = 0
        self._scanned: np.ndarray | None = None  # thumbnail at the last scan
        self._finished = True  # False while a find() is running or if one raised

    def find(self, frame: Frame, motion: MotionBoxes | None = None) -> list[Box]:
        """Boxes (frame pixels) to obscure in this frame: tracked faces and head zones."""
        interrupted = not self._finished
        self._finished = False
        gray = None if motion is None else motion.gray
        scans = self._scan_regions(frame.image, gray, full=interrupted)
        self._frames += 1
        detections: list[Box] = []
        for track, cover in zip(
            self._tracker.tracks, self._tracker.expected_boxes(frame.t), strict=True
        ):
            if self._scanned_well(scans, cover, track.h) or self._all_public(cover):
                continue
            region = crop_region(cover, track.h, self._width, self._height)
            if region is not None:
                detections += detect_in(
                    self._detector, frame.image, region, self._cfg.track_threshold
                )
        for region in scans:
            detections += detect_in(self._detector, frame.image, region, self._cfg.threshold)
        faces = self._tracker.update(_suppress(detections), frame.t)
        self._finished = True
        if motion is None or not self._cfg.cover_moving_heads:
            return faces
        # Only a face detected in this very frame explains a moving shape: a track that
        # is coasting may have lost a face that is moving away fast.
        seen = [
            c for c, t in zip(faces, self._tracker.tracks, strict=True) if t.last_hit == frame.t
        ]
        heads = [h for h in motion.heads if not self._all_public(h)]
        return faces + head_zones(heads, seen)

    def _scan_regions(self, image: np.ndarray, gray: np.ndarray | None, full: bool) -> list[Region]:
        """The parts of the frame to scan now: none, the changed parts, or all of it.

        `gray` is a small grayscale copy of the frame, if there is one (see `thumbnail`);
        `full` forces a whole scan, after a frame whose detection did not finish.
        """
        scan = self._scan
        if scan is None or (self._frames % self._cfg.scan_every and not full):
            return []
        now = thumbnail(image, gray)
        before, self._scanned = self._scanned, now
        if full or before is None or self._frames % self._cfg.full_scan_every == 0:
            return [scan]
        parts = []
        for x0, y0, x1, y1 in changed_bounds(now, before, self._cfg.min_face_px, self._open_cells):
            part = Region(
                max(x0, scan.x0), max(y0, scan.y0), min(x1, scan.x1), min(y1, scan.y1), scan.scale
            )
            if part.x1 > part.x0 and part.y1 > part.y0:
                parts.append(part)
        area = sum((p.x1 - p.x0) * (p.y1 - p.y0) for p in parts)
        if area > _FULL_SHARE * (scan.x1 - scan.x0) * (scan.y1 - scan.y0):
            return [scan]
        return parts

    def _scanned_well(self, scans: list[Region], cover: Box, face_h: float) -> bool:
        """True when this frame's scan holds the face big enough to skip its own crop."""
        return face_h >= 1.5 * self._cfg.min_face_px and any(
            r.x0 <= cover.x
            and r.y0 <= cover.y
            and cover.x + cover.w <= r.x1
            and cover.y + cover.h <= r.y1
            for r in scans
        )

    def _all_public(self, cover: Box) -> bool:
        """True when a face box lies wholly in public areas, which hide it anyway."""
        x0, y0 = max(0, math.floor(cover.x)), max(0, math.floor(cover.y))
        x1 = min(self._width, math.ceil(cover.x + cover.w))
        y1 = min(self._height, math.ceil(cover.y + cover.h))
        return x1 > x0 and y1 > y0 and bool(self._public[y0:y1, x0:x1].all())
