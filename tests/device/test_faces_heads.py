"""Heads found on a moving shape's outline: one per person, not shoulders, cut heads."""

from __future__ import annotations

import cv2
import numpy as np

from edge.device.faces.heads import head_boxes


def person(mask: np.ndarray, cx: int, top: int, head_w: int, blur: int = 0) -> None:
    """Draw a person's silhouette: a head, shoulders twice as wide, and a body."""
    head_h = round(1.3 * head_w)
    cv2.ellipse(
        mask, (cx, top + head_h // 2), (head_w // 2 + blur, head_h // 2), 0, 0, 360, 255, -1
    )
    shoulder = top + head_h + head_w // 4
    cv2.rectangle(
        mask, (cx - head_w - blur, shoulder), (cx + head_w + blur, mask.shape[0]), 255, -1
    )
    cv2.rectangle(mask, (cx - head_w // 4, top + head_h - 2), (cx + head_w // 4, shoulder), 255, -1)


def covers(box: tuple[float, float, float, float], x0: int, y0: int, x1: int, y1: int) -> bool:
    x, y, w, h = box
    return x <= x0 and y <= y0 and x + w >= x1 and y + h >= y1


def test_one_head_covers_the_head_and_not_the_body() -> None:
    mask = np.zeros((180, 120), np.uint8)
    person(mask, 60, 20, 20)
    (box,) = head_boxes(mask)
    assert covers(box, 50, 20, 70, 46)  # the whole head
    _x, y, w, h = box
    assert y + h < 100  # the lower body is not covered
    assert w < 0.8 * 40  # narrower than the shoulders


def test_two_people_in_one_shape_give_two_heads() -> None:
    mask = np.zeros((180, 200), np.uint8)
    person(mask, 55, 20, 20)
    person(mask, 145, 40, 22)
    boxes = head_boxes(mask)
    assert len(boxes) == 2
    assert any(covers(b, 45, 20, 65, 46) for b in boxes)
    assert any(covers(b, 134, 40, 156, 68) for b in boxes)


def test_a_blurred_runner_head_is_covered_whole() -> None:
    mask = np.zeros((180, 160), np.uint8)
    person(mask, 80, 20, 24, blur=14)  # ~56 px of streak in full-frame pixels
    boxes = head_boxes(mask)
    assert any(covers(b, 80 - 12 - 14, 20, 80 + 12 + 14, 51) for b in boxes)


def test_a_head_cut_by_the_frame_side_is_covered_to_the_chin() -> None:
    mask = np.zeros((180, 120), np.uint8)
    person(mask, 60, 20, 36)
    cut = np.ascontiguousarray(mask[:, 52:])  # the frame's left edge runs through the head
    boxes = head_boxes(cut, at_left_edge=True)
    assert any(covers(b, 0, 20, 20, 20 + round(1.3 * 36)) for b in boxes)


def test_nothing_moving_gives_no_head() -> None:
    assert head_boxes(np.zeros((40, 40), np.uint8)) == []
