"""Luma as motion wants it: limited-range Y (16..235) stretched to the full 0..255.

Motion's thresholds are gray levels of a full-range picture (the gray of a BGR frame).
A camera's or a video file's Y plane is usually limited range; under BT.601 and BT.709
alike, stretched it is the gray of the same frame's BGR, but where colours clip.
"""

from __future__ import annotations

import cv2
import numpy as np

_STRETCH = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def full_range(y: np.ndarray) -> np.ndarray:
    """A new uint8 array: the limited-range luma `y` on the 0..255 scale."""
    return cv2.LUT(y, _STRETCH)
