"""Where the face finder looks: scan areas, crops around tracks, changed parts, head zones."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.core.config.models import FacesConfig
from edge.device.faces.changes import SHRINK, changed_bounds, open_cells, thumbnail
from edge.device.faces.finder import FaceFinder, crop_region, head_zones, scan_region
from edge.device.frame import Box, Frame


def test_scan_skips_what_is_public_but_keeps_context_around_the_rest() -> None:
    public = np.zeros((720, 1280), bool)
    public[:235] = True
    region = scan_region(public, min_face_px=48)
    assert region is not None
    assert (region.x0, region.x1, region.y1) == (0, 1280, 720)
    assert 235 - 0.25 * 720 < region.y0 < 235
    assert abs(region.scale - 20 / 48) < 1e-9


def test_nothing_to_scan_when_everything_is_public() -> None:
    assert scan_region(np.ones((90, 160), bool), min_face_px=48) is None


def test_smaller_faces_are_scanned_at_a_larger_scale() -> None:
    public = np.zeros((720, 1280), bool)
    assert scan_region(public, 24).scale > scan_region(public, 96).scale


def test_crop_around_a_tracked_face_scales_it_to_detector_size() -> None:
    cover = Box(500.0, 300.0, 160.0, 200.0)
    region = crop_region(cover, face_h=150.0, width=1280, height=720)
    assert region is not None
    assert region.x0 <= 500 and region.x1 >= 660 and region.y0 <= 300 and region.y1 >= 500
    assert 24 <= 150 * region.scale <= 40
    assert (region.x1 - region.x0) * region.scale <= 160


def test_crop_of_a_face_that_left_the_frame_is_none() -> None:
    assert crop_region(Box(1400.0, 100.0, 50.0, 60.0), 40.0, 1280, 720) is None


def test_head_zone_covers_a_moving_head_with_no_face() -> None:
    head = Box(600.0, 250.0, 90.0, 120.0)
    assert head_zones([head], faces=[]) == [head]


def test_no_head_zone_where_a_face_is_already_covered() -> None:
    head = Box(600.0, 250.0, 90.0, 120.0)
    face = Box(610.0, 260.0, 70.0, 90.0)
    elsewhere = Box(900.0, 260.0, 70.0, 90.0)
    assert head_zones([head], faces=[face]) == []
    assert head_zones([head], faces=[elsewhere]) == [head]


def test_changed_parts_are_found_and_neighbours_merged() -> None:
    before = np.zeros((90, 160), np.float32)
    now = before.copy()
    now[10:14, 20:24] = 80  # something moved here ...
    now[10:14, 27:30] = 80  # ... and just beside it
    now[70:72, 140:142] = 80  # and far away
    bounds = changed_bounds(now, before, context_px=16)
    assert len(bounds) == 2
    near = min(bounds)
    assert near[0] <= 20 * SHRINK - 16 and near[2] >= 30 * SHRINK + 16


def test_changes_inside_public_areas_are_ignored() -> None:
    public = np.zeros((720, 1280), bool)
    public[:240] = True
    where = open_cells(public)
    before = np.zeros(where.shape, np.float32)
    now = before.copy()
    now[5:10, 50:60] = 80  # in the street band
    assert changed_bounds(now, before, 16, where) == []
    now[50:55, 50:60] = 80  # on the porch
    assert len(changed_bounds(now, before, 16, where)) == 1


def textured_frame(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (45, 80, 3), dtype=np.uint8)
    return cv2.resize(small, (1280, 720), interpolation=cv2.INTER_CUBIC)


def test_thumbnail_from_the_motion_stages_gray_copy_matches_one_from_the_frame() -> None:
    image = textured_frame()
    gray = cv2.resize(
        cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (320, 180), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    from_frame, from_gray = thumbnail(image), thumbnail(image, gray)
    assert from_gray.shape == from_frame.shape == (720 // SHRINK, 1280 // SHRINK)
    assert from_gray.dtype == np.float32
    assert np.abs(from_gray - from_frame).max() <= 2.0
    # The thumbnail is a copy: comparing it later must not see the motion stage's array.
    same_size = thumbnail(image, from_frame)
    assert same_size is not from_frame and np.array_equal(same_size, from_frame)


def test_a_gray_copy_smaller_than_the_thumbnail_is_not_used() -> None:
    image = textured_frame()
    too_small = np.zeros((45, 80), np.float32)
    assert np.array_equal(thumbnail(image, too_small), thumbnail(image))


class RecordingDetector:
    """Finds nothing, and keeps the size of every image it was given."""

    def __init__(self) -> None:
        self.sizes: list[tuple[int, int]] = []

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        self.sizes.append(image.shape[:2])
        return []


@dataclass(frozen=True)
class Moved:
    heads: tuple[Box, ...] = ()
    gray: np.ndarray | None = None


def test_scans_look_where_the_motion_stages_gray_copy_changed() -> None:
    detector = RecordingDetector()
    finder = FaceFinder(detector, FacesConfig(), np.zeros((720, 1280), bool))
    image = textured_frame()
    gray = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (320, 180)).astype(np.float32)
    finder.find(Frame(0, 0.0, image), Moved(gray=gray))  # the first scan is a whole one
    whole = detector.sizes[0]
    finder.find(Frame(1, 1 / 15, image), Moved(gray=gray))  # no scan on this frame
    detector.sizes.clear()
    changed = gray.copy()
    changed[100:120, 200:220] += 80  # the frame is the same; its gray copy says otherwise
    finder.find(Frame(2, 2 / 15, image), Moved(gray=changed))
    assert len(detector.sizes) == 1, "the part that changed in the gray copy is scanned"
    (h, w) = detector.sizes[0]
    assert h * w < 0.1 * whole[0] * whole[1], "that part, not all of the frame"
