"""Small frozen data types passed between the stages of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera frame: BGR pixels, its index from the source and a monotonic time in seconds.

    `lores` is an optional grayscale copy for motion (the Pi's lores stream, a file's luma). After
    redaction, frames on their way to the encoder carry I420 planes instead of BGR
    (`edge.device.encoder.to_i420`), which halves what the pre-roll holds.
    """

    index: int
    t: float
    image: np.ndarray
    lores: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in frame pixels: top-left corner, width and height."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0
