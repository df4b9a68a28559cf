"""Rasterise configured polygons (motion zones, public areas) into pixel masks.

Polygons in the config are in 0..1 of the frame so one config fits every resolution;
each stage turns them into a mask once, at the size it works at.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Polygon = Sequence[tuple[float, float]] | Sequence[Sequence[float]]

# Sub-pixel precision of vertex coordinates handed to cv2.fillPoly (1/256 px).
_SHIFT = 8
# Polygons are drawn on a canvas this much larger on every side, then cropped: OpenCV
# clips lines at the image border and can drop the first pixel inside it, which would
# leave a polygon's tip on the frame edge uncovered.
_PAD = 2


def polygon_mask(polygons: Sequence[Polygon], width: int, height: int) -> np.ndarray:
    """Return a (height, width) bool mask of every pixel the union of `polygons` touches.

    Points are [x, y] in 0..1 of the frame; pixel (u, v) covers [u, u+1) x [v, v+1) of
    the frame scaled to width x height. The mask errs on the covering side: it holds
    every pixel whose area overlaps a polygon and at most two pixels beyond its edges,
    because a privacy mask must never leave a sliver of a public area
    showing. An empty list gives an all-False mask.
    """
    if width < 1 or height < 1:
        raise ValueError(f"mask size must be positive, got {width}x{height}")
    if not polygons:
        return np.zeros((height, width), bool)
    mask = np.zeros((height + 2 * _PAD, width + 2 * _PAD), np.uint8)
    scale = np.array([width, height], np.float64)
    for polygon in polygons:
        points = np.asarray(polygon, np.float64)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) < 3:
            raise ValueError(f"a polygon needs at least 3 [x, y] points, got {points.tolist()}")
        # fillPoly samples pixel centres, which sit at u + 0.5 in edge coordinates.
        centred = points * scale - 0.5 + _PAD
        fixed = np.round(centred * (1 << _SHIFT)).astype(np.int32)
        cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        # fillPoly leaves out pixels along some edges and at sharp tips; the outline
        # marks a pixel within one of every point of the boundary.
        cv2.polylines(mask, [fixed], True, 1, lineType=cv2.LINE_8, shift=_SHIFT)
    # A pixel whose centre lies outside an edge can still be partly covered: it is
    # within one pixel of the outline, so one pixel of growth takes it in.
    grown = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    return grown[_PAD : _PAD + height, _PAD : _PAD + width].astype(bool)
