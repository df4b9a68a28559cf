"""The face tracker covers faces through missed detections, widened by speed and time."""

from __future__ import annotations

from edge.device.faces.tracker import FaceTracker
from edge.device.frame import Box

FPS = 15.0


def contains(outer: Box, inner: Box) -> bool:
    return (
        outer.x <= inner.x
        and outer.y <= inner.y
        and inner.x + inner.w <= outer.x + outer.w
        and inner.y + inner.h <= outer.y + outer.h
    )


def face_at(k: int, speed_px_per_frame: float = 12.0, size: float = 60.0) -> Box:
    """A face moving right at a constant speed, at frame k."""
    return Box(100.0 + speed_px_per_frame * k, 200.0, size, size * 1.3, 0.9)


def test_face_missed_for_one_frame_stays_covered() -> None:
    tracker = FaceTracker()
    for k in range(3):
        tracker.update([face_at(k)], k / FPS)
    covers = tracker.update([], 3 / FPS)
    assert len(covers) == 1
    assert contains(covers[0], face_at(3))


def test_fast_face_missed_for_three_frames_stays_covered() -> None:
    tracker = FaceTracker()
    for k in range(4):
        tracker.update([face_at(k, speed_px_per_frame=40.0)], k / FPS)
    for k in range(4, 7):
        covers = tracker.update([], k / FPS)
        assert contains(covers[0], face_at(k, speed_px_per_frame=40.0))


def test_cover_box_grows_with_speed() -> None:
    slow, fast = FaceTracker(), FaceTracker()
    for k in range(3):
        slow.update([face_at(k, speed_px_per_frame=2.0)], k / FPS)
        fast.update([face_at(k, speed_px_per_frame=30.0)], k / FPS)
    slow_box = slow.update([face_at(3, speed_px_per_frame=2.0)], 3 / FPS)[0]
    fast_box = fast.update([face_at(3, speed_px_per_frame=30.0)], 3 / FPS)[0]
    assert fast_box.w > slow_box.w + 2 * 25.0
    assert abs(fast_box.h - slow_box.h) < 1.0


def test_cover_box_has_a_margin_around_the_detection() -> None:
    tracker = FaceTracker(margin=0.3)
    face = face_at(0)
    cover = tracker.update([face], 0.0)[0]
    assert contains(
        cover, Box(face.x - 0.29 * face.w, face.y - 0.29 * face.h, 1.58 * face.w, 1.58 * face.h)
    )


def test_face_is_forgotten_after_keep_seconds() -> None:
    tracker = FaceTracker(keep_seconds=0.5)
    tracker.update([face_at(0, speed_px_per_frame=0.0)], 0.0)
    assert tracker.update([], 0.5)
    assert tracker.update([], 0.6) == []


def test_two_faces_keep_their_own_tracks() -> None:
    def left(k: int) -> Box:
        return Box(100.0 + 5 * k, 300.0, 50.0, 65.0, 0.9)

    def right(k: int) -> Box:
        return Box(900.0 - 5 * k, 300.0, 50.0, 65.0, 0.9)

    tracker = FaceTracker()
    for k in range(4):
        covers = tracker.update([left(k), right(k)], k / FPS)
    assert len(covers) == 2
    covers = tracker.update([right(4)], 4 / FPS)
    assert len(covers) == 2
    assert any(contains(c, left(4)) for c in covers)
    assert any(contains(c, right(4)) for c in covers)


def test_weak_detection_continues_a_track_but_does_not_start_one() -> None:
    tracker = FaceTracker(start_score=0.2)
    weak = Box(500.0, 100.0, 40.0, 50.0, 0.12)
    assert tracker.update([weak], 0.0) == []
    tracker.update([face_at(0)], 1 / FPS)
    weak_on_face = Box(face_at(1).x, face_at(1).y, 60.0, 78.0, 0.12)
    for k in range(2, 30):
        covers = tracker.update([weak_on_face], k / FPS)
    assert len(covers) == 1
