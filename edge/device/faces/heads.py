"""Where the heads of a moving shape are, from its outline alone.

A fast, motion-blurred or turned-away person is invisible to the face detector, so the
top of every moving shape is covered until a face is found there. Covering the shape's
whole top (a box as wide as the shape) obscures shoulders, arms and a carried parcel
too; this finds the heads instead, from the shape's skyline (the topmost changed pixel
of each column):

- the highest column not yet explained is a head top;
- the head's width is the run of columns around it whose skyline lies within a depth
  of 0.6 of that width below the top (found by a few fixed-point steps: a head's run
  widens to its full width well before the shoulders, which lie about 1.5 head widths
  below its top);
- the head box is that run widened by a quarter of the width on each side, from a
  quarter width above the top to 1.6 widths below it (hair to chin), but at least as
  large as the body below it suggests (0.4 of its width, the whole shape's for the
  highest head) and as wide as every column whose top lies within that size of the
  head's top: a runner's motion-blurred head has a shallow, narrow top and a streak;
- the skyline falling away on both sides of the head (neck, shoulders, arms) belongs
  to it; the next head top is sought among the other columns, so two people in one
  shape give two heads; a top whose run reaches a head already found is that head's
  shoulder and gives none; a run that more than doubles in one step has reached
  something else (a second shape merged below the head) and is not widened further.

A shape cut by the frame's side may show only part of a head's width (or a runner
entering, blurred), so a head in the half of such a shape next to that side is made
at least as tall as half the shape's width or a quarter of its height suggest.
Limits: a raised arm or a hand above the head is taken for a head as well (covered, at
little cost); a head that did not change against the background (same brightness as
the wall behind it) is not in the shape at all, which the face scan must then find.
"""

from __future__ import annotations

import numpy as np

_MAX_HEADS = 4  # per shape
_DEPTH_SHARE = 0.6  # run depth below the top, as a share of the run's width
_SIDE_SHARE = 0.25  # box widening on each side, share of the width
_RISE_SHARE = 0.25  # box starts this share of the width above the head top
_DROP_SHARE = 1.6  # box ends this share of the width below the head top
_BODY_SHARE = 0.4  # head size at least this share of the body's width (the columns the
# head's slopes reach: shoulders, arms, motion blur), since a blurred head's top is
# a shallow smear whose run is narrower than the head ...
_BODY_CAP = 3.0  # ... but at most this many times the run's width (a body merged with
# the ghost of where someone stood is wider than any body)
_EDGE_HEIGHT_SHARE = 0.25  # ... or of its height (it may be entering, half its width out)
_EDGE_SHARE = 0.5  # a head cut by the frame side: width at least this share of the shape
_SLOPE_TOLERANCE = 1  # skyline px a falling slope may rise again (noise)
_JUMP = 2.5  # a run that more than doubles in one step has left the head ...
_MIN_RUN = 8  # ... once it is this many px wide


def skyline(mask: np.ndarray) -> np.ndarray:
    """Row of the topmost nonzero pixel of each column; the mask height where none."""
    filled = mask > 0
    top = np.argmax(filled, axis=0)
    top[~filled.any(axis=0)] = mask.shape[0]
    return top


def _run(top: np.ndarray, x: int, limit: int) -> tuple[int, int]:
    """Columns [a, b) around x whose skyline is at most `limit`."""
    n = top.size
    a = x
    while a > 0 and top[a - 1] <= limit:
        a -= 1
    b = x + 1
    while b < n and top[b] <= limit:
        b += 1
    return a, b


def _slope(top: np.ndarray, a: int, b: int) -> tuple[int, int]:
    """Widen [a, b) while the skyline keeps falling away (rows growing) on each side."""
    n = top.size
    while a > 0 and top[a - 1] + _SLOPE_TOLERANCE >= top[a]:
        a -= 1
    while b < n and top[b] + _SLOPE_TOLERANCE >= top[b - 1]:
        b += 1
    return a, b


def head_boxes(
    mask: np.ndarray, at_left_edge: bool = False, at_right_edge: bool = False
) -> list[tuple[float, float, float, float]]:
    """Head boxes (x, y, w, h) in the pixels of `mask`, one shape's pixels (nonzero).

    `at_left_edge` / `at_right_edge` say the mask's first / last column is the frame's.
    """
    height, width = mask.shape
    top = skyline(mask)
    free = top < height
    occupied = int(free.sum())
    boxes: list[tuple[float, float, float, float]] = []
    while free.any() and len(boxes) < _MAX_HEADS:
        x = int(np.argmin(np.where(free, top, height)))
        y = int(top[x])
        a, b = _run(top, x, y + 1)
        for _ in range(4):
            wider = _run(top, x, y + max(1, round(_DEPTH_SHARE * (b - a))))
            if b - a >= _MIN_RUN and wider[1] - wider[0] > _JUMP * (b - a):
                break  # reached something else below the head (another shape's top)
            a, b = wider
        sa, sb = _slope(top, a, b)
        if not free[a:b].all():
            # Its run reaches a higher head's columns: a shoulder or an arm of it.
            free[sa:sb] = False
            continue
        run_w = float(b - a)
        body = float(occupied if not boxes else sb - sa)
        size = max(run_w, min(_BODY_SHARE * body, _BODY_CAP * run_w))
        if (at_left_edge and 2 * a < width) or (at_right_edge and 2 * b > width):
            size = max(size, _EDGE_SHARE * width, _EDGE_HEIGHT_SHARE * height)
        # Everything within the head's height of its top: the head and its blur streak.
        wa, wb = _run(top, x, y + round(_BODY_SHARE * body))
        x0 = min(a - _SIDE_SHARE * run_w, wa - _SIDE_SHARE * _BODY_SHARE * body / 2)
        x1 = max(b + _SIDE_SHARE * run_w, wb + _SIDE_SHARE * _BODY_SHARE * body / 2)
        boxes.append((x0, y - _RISE_SHARE * size, x1 - x0, (_RISE_SHARE + _DROP_SHARE) * size))
        free[sa:sb] = False
    return boxes
