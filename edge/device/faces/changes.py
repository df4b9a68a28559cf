"""Where the picture changed since the last face scan, so a scan can skip the still parts.

A new face cannot appear where nothing changed. Comparing a thumbnail of the frame with
the one taken at the previous scan tells which parts of the frame need scanning again;
the rest was already scanned and is the same. This asks a different question from the
motion stage (which only watches the motion zones and ignores light changes on purpose):
here any change anywhere, a light switching included, means "look again".
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.device.shrink import shrink

SHRINK = 8  # the thumbnail is the frame shrunk by this factor
_THRESHOLD = 10.0  # gray levels (0..255) of change in a thumbnail pixel that count


def thumbnail(image: np.ndarray, gray: np.ndarray | None = None) -> np.ndarray:
    """A small float32 grayscale copy of a BGR frame, 1/SHRINK of its size.

    `gray`, the same frame already in grayscale at a smaller size (the motion stage's
    copy), is shrunk instead when it is at least as large as the thumbnail: that saves
    reading the whole frame again (0.3-0.7 ms a scan at 720p, docs/PERFORMANCE.md).
    """
    h, w = image.shape[:2]
    size = (max(1, w // SHRINK), max(1, h // SHRINK))
    if gray is not None and gray.shape[1] >= size[0] and gray.shape[0] >= size[1]:
        return shrink(gray, size).astype(np.float32)
    return cv2.cvtColor(shrink(image, size), cv2.COLOR_BGR2GRAY).astype(np.float32)


Bounds = tuple[int, int, int, int]


def open_cells(public: np.ndarray) -> np.ndarray:
    """Thumbnail-sized mask of the cells that hold any pixel outside the public areas."""
    h, w = public.shape
    size = (max(1, w // SHRINK), max(1, h // SHRINK))
    share = cv2.resize((~public).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return share > 0


def changed_bounds(
    now: np.ndarray, before: np.ndarray, context_px: float, where: np.ndarray | None = None
) -> list[Bounds]:
    """Frame-pixel boxes (x0, y0, x1, y1) around each changed part, grown by `context_px`.

    Only changes in the `where` cells count (a change inside a public area cannot reveal
    a face). Boxes that overlap once grown are merged, so one person gives one box.
    """
    changed = cv2.absdiff(now, before) > _THRESHOLD
    if where is not None:
        changed &= where
    changed = changed.astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
    grow = context_px
    boxes = [
        (
            x * SHRINK - grow,
            y * SHRINK - grow,
            (x + w) * SHRINK + grow,
            (y + h) * SHRINK + grow,
        )
        for x, y, w, h, _ in stats[1:count]
    ]
    return _merge(boxes)


def _merge(boxes: list[tuple[float, float, float, float]]) -> list[Bounds]:
    merged: list[list[float]] = []
    for box in sorted(boxes):
        current = list(box)
        joined = True
        while joined:
            joined = False
            for other in merged:
                if (
                    current[0] <= other[2]
                    and other[0] <= current[2]
                    and current[1] <= other[3]
                    and other[1] <= current[3]
                ):
                    merged.remove(other)
                    current = [
                        min(current[0], other[0]),
                        min(current[1], other[1]),
                        max(current[2], other[2]),
                        max(current[3], other[3]),
                    ]
                    joined = True
                    break
        merged.append(current)
    return [(round(a), round(b), round(c), round(d)) for a, b, c, d in merged]
