"""Fast area-averaging downscale of images, for every stage that shrinks frames.

`cv2.resize` with INTER_AREA is exact but slow for factors that are not whole numbers
(8-10x slower than INTER_LINEAR on a 720p crop, scripts/bench_redaction.py). Halving with
INTER_LINEAR averages 2x2 pixels exactly and is SIMD-fast, so the image is halved while
it stays at least twice the target size; the last step (a factor under 2) is
INTER_LINEAR too, which at such a factor reads about every input pixel (each output
pixel blends its 2x2 nearest inputs): an area average in all but name, at a fraction
of INTER_AREA's cost (INTER_AREA for a factor of 1.2 costs ~6x INTER_LINEAR).
"""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` averaged down to (width, height) `size` (no larger than the image)."""
    width, height = size
    while image.shape[1] >= 2 * width and image.shape[0] >= 2 * height:
        half = (image.shape[1] // 2, image.shape[0] // 2)
        image = cv2.resize(image, half, interpolation=cv2.INTER_LINEAR)
    if (image.shape[1], image.shape[0]) == (width, height):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
