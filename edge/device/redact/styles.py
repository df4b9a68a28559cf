"""Obscure rectangles and masked areas of a frame in place: fill, mosaic or blur.

Every style is irreversible at the strength used here: a fill keeps nothing, a mosaic
keeps at most `MAX_BLOCKS` square blocks along the region's longer side, a blur has a
sigma of at least a sixth of that side. The strength follows the whole thing being
hidden (its `extent`), not just the part inside the frame: a face cut by the frame
edge gets blocks as coarse as the whole face would. Only the region's own pixels are
read and written, so the cost follows the region's size, not the frame's.
"""

from __future__ import annotations

import math
from typing import Literal

import cv2
import numpy as np

Style = Literal["mosaic", "fill", "blur"]

MAX_BLOCKS = 8  # mosaic blocks along a region's longer side, at most
MIN_BLOCK_PX = 6  # small regions get fewer, larger blocks
BLUR_SIGMA_SHARE = 1 / 6  # blur sigma as a share of the region width, at least
_BLUR_WORK_SIGMA = 2.0  # the large blur is done on a copy shrunk so sigma is about this
# Summing a block row costs ~8 us whatever its size; INTER_AREA ~0.5 ns a pixel more.
_SUM_ROWS_FROM_PX = 16_000  # per block row: from this many pixels, sum


def obscured(
    pixels: np.ndarray, style: Style, extent: float | None = None, out: np.ndarray | None = None
) -> np.ndarray:
    """An obscured copy of an image region (h, w, 3), written to `out` if given (which
    may be `pixels` itself, to obscure it in place) and returned.

    `extent` is the longer side (px) of the whole thing being hidden when `pixels` is only
    part of it; by default the region's own longer side.
    """
    h, w = pixels.shape[:2]
    extent = float(max(h, w)) if extent is None else max(extent, h, w)
    out = np.empty_like(pixels) if out is None else out
    if style == "fill":
        out[...] = _mean_colour(pixels)
    elif style == "mosaic":
        block = max(MIN_BLOCK_PX, extent / MAX_BLOCKS)
        nx, ny = max(1, round(w / block)), max(1, round(h / block))
        _mosaic(pixels, nx, ny, out)
    elif style == "blur":
        out[...] = _wide_blur(pixels, max(1.0, BLUR_SIGMA_SHARE * extent))
    else:
        raise ValueError(f"unknown style {style!r}")
    return out


def _mosaic(pixels: np.ndarray, nx: int, ny: int, out: np.ndarray) -> None:
    """Draw `pixels` into `out` as nx by ny blocks, each of one colour: the mean of its
    pixels (all means are taken before anything is drawn, so `out` may be `pixels`).

    Large regions (whole public areas) are summed a block row at a time, four times
    faster than INTER_AREA there; small ones (faces) go through INTER_AREA, whose block
    edges may fall a pixel from the drawn ones. Each row of blocks is drawn by repeating
    its means along one pixel row and copying that row down, ten times faster than an
    INTER_NEAREST resize (docs/PERFORMANCE.md).
    """
    h, w = pixels.shape[:2]
    ys = np.linspace(0, h, ny + 1).round().astype(np.intp)
    xs = np.linspace(0, w, nx + 1).round().astype(np.intp)
    widths = np.diff(xs)
    if h * w < _SUM_ROWS_FROM_PX * ny:
        means = cv2.resize(pixels, (nx, ny), interpolation=cv2.INTER_AREA).reshape(ny, nx, -1)
    else:
        means = np.empty((ny, nx, pixels.size // (h * w)), pixels.dtype)
        for j in range(ny):
            band = pixels[ys[j] : ys[j + 1]]
            sums = cv2.reduce(band, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(w, -1)
            counts = (ys[j + 1] - ys[j]) * widths[:, None]
            means[j] = np.rint(np.add.reduceat(sums, xs[:-1], axis=0) / counts)
    rows = np.repeat(means, widths, axis=1).reshape((ny, 1, *pixels.shape[1:]))
    for j in range(ny):
        out[ys[j] : ys[j + 1]] = rows[j]


def _mean_colour(pixels: np.ndarray) -> np.ndarray:
    return np.asarray(cv2.mean(pixels)[: pixels.shape[2]], np.float64).round().astype(pixels.dtype)


def _wide_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """A Gaussian blur of at least `sigma`, done on a shrunk copy so its cost is small."""
    h, w = pixels.shape[:2]
    factor = max(1.0, sigma / _BLUR_WORK_SIGMA)
    small_w, small_h = max(1, math.ceil(w / factor)), max(1, math.ceil(h / factor))
    small = cv2.resize(pixels, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # The shrink averages over `factor` pixels, the blur adds the rest; the sum of the
    # two variances stays above sigma^2 in full-size pixels.
    small = cv2.GaussianBlur(
        small, (0, 0), _BLUR_WORK_SIGMA * 1.05, borderType=cv2.BORDER_REPLICATE
    )
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def clip_box(
    x: float, y: float, w: float, h: float, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """Pixel bounds (x0, y0, x1, y1) covering the box inside the frame; None if outside."""
    x0, y0 = max(0, math.floor(x)), max(0, math.floor(y))
    x1, y1 = min(width, math.ceil(x + w)), min(height, math.ceil(y + h))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def obscure_rect(
    image: np.ndarray,
    bounds: tuple[int, int, int, int],
    style: Style,
    extent: float | None = None,
) -> None:
    """Obscure image[y0:y1, x0:x1] in place (`extent` as for `obscured`)."""
    x0, y0, x1, y1 = bounds
    region = image[y0:y1, x0:x1]
    obscured(region, style, extent, out=region)


class MaskedArea:
    """A fixed pixel mask (public areas) split into its connected parts, ready to apply.

    Each part is obscured as a region of its own (its bounding box), and only the mask's
    pixels are written; parts that fill their bounding box are copied without a mask.
    """

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            mask.astype(np.uint8), connectivity=8
        )
        self._parts: list[tuple[tuple[int, int, int, int], np.ndarray | None]] = []
        for label in range(1, count):
            x, y, w, h = (int(v) for v in stats[label, :4])
            bounds = (x, y, x + w, y + h)
            inside = labels[y : y + h, x : x + w] == label
            self._parts.append((bounds, None if inside.all() else inside))

    def apply(self, image: np.ndarray, style: Style) -> None:
        """Obscure every part of the mask in `image`, in place."""
        for (x0, y0, x1, y1), inside in self._parts:
            region = image[y0:y1, x0:x1]
            if inside is None:
                obscured(region, style, out=region)
            else:
                np.copyto(region, obscured(region, style), where=inside[..., None])
