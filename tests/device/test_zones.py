"""Polygons in 0..1 of the frame become pixel masks that cover every pixel they touch."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.device.zones import polygon_mask

# Sub-pixel sample offsets used to decide which pixels a polygon really touches.
_SAMPLES = (np.arange(8) + 0.5) / 8


def touched(polygon: list[tuple[float, float]], width: int, height: int) -> np.ndarray:
    """Reference: pixels with any of 8x8 sample points inside the polygon (even-odd)."""
    xs = (np.arange(width)[:, None] + _SAMPLES[None, :]).ravel()
    ys = (np.arange(height)[:, None] + _SAMPLES[None, :]).ravel()
    px, py = np.meshgrid(xs, ys)
    pts = np.array(polygon) * [width, height]
    inside = np.zeros(px.shape, bool)
    for (x0, y0), (x1, y1) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        crosses = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < x_at)
    return inside.reshape(height, 8, width, 8).any(axis=(1, 3))


def test_no_polygons_give_an_empty_mask() -> None:
    mask = polygon_mask([], 64, 36)
    assert mask.shape == (36, 64)
    assert mask.dtype == bool
    assert not mask.any()


def test_polygon_over_the_whole_frame_covers_every_pixel() -> None:
    assert polygon_mask([[(0, 0), (1, 0), (1, 1), (0, 1)]], 1280, 720).all()


def test_street_band_covers_its_rows_and_at_most_two_rows_more() -> None:
    band = [(0.0, 0.0), (1.0, 0.0), (1.0, 235 / 720), (0.0, 235 / 720)]
    rows = polygon_mask([band], 1280, 720).all(axis=1)
    assert rows[:235].all()
    assert not rows[237:].any()


def test_polygons_are_united() -> None:
    left = [(0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0)]
    right = [(0.75, 0.0), (1.0, 0.0), (1.0, 1.0), (0.75, 1.0)]
    mask = polygon_mask([left, right], 400, 100)
    assert mask[:, :100].all() and mask[:, 300:].all()
    assert not mask[:, 110:290].any()


def test_a_sliver_thinner_than_a_pixel_is_still_covered() -> None:
    sliver = [(0.1, 0.1), (0.1002, 0.1), (0.1002, 0.9), (0.1, 0.9)]
    mask = polygon_mask([sliver], 1280, 720)
    assert mask[100:600, 128].all()


def test_a_polygon_needs_three_points() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        polygon_mask([[(0.0, 0.0), (1.0, 1.0)]], 10, 10)


coordinate = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    points=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=8),
    width=st.integers(min_value=8, max_value=96),
    height=st.integers(min_value=8, max_value=96),
)
def test_mask_holds_every_touched_pixel_and_little_else(
    points: list[tuple[float, float]], width: int, height: int
) -> None:
    hull = cv2.convexHull(np.array(points, np.float32)).reshape(-1, 2)
    polygon = [(float(x), float(y)) for x, y in hull]
    if len(polygon) < 3:
        return
    mask = polygon_mask([polygon], width, height)
    reference = touched(polygon, width, height)
    assert not (reference & ~mask).any(), "a touched pixel is missing"
    contour = (np.array(polygon) * [width, height]).astype(np.float32)
    for v, u in np.argwhere(mask):
        distance = cv2.pointPolygonTest(contour, (u + 0.5, v + 0.5), True)
        assert distance >= -2.5, f"pixel {(u, v)} is {-distance:.1f} px outside"


def test_a_tip_on_the_frame_edge_is_covered() -> None:
    # Found by hypothesis: OpenCV's line clipping at the border dropped this corner pixel.
    mask = polygon_mask([[(0.0, 1.0), (0.0, 0.5), (1.0, 0.0)]], 8, 32)
    assert mask[0, 7]
