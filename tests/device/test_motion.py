"""Motion detection on synthetic porch scenes: people count, lighting never does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest

from edge.core.config.models import MotionConfig
from edge.device.frame import Frame
from edge.device.motion import MotionDetector, MotionResult

W, H = 640, 360
FPS = 15
# The lower half of the frame: where a visitor walks up to the door.
PORCH = [(0.0, 0.5), (1.0, 0.5), (1.0, 1.0), (0.0, 1.0)]


def make_scene(seed: int = 0) -> np.ndarray:
    """A colourful, textured porch: grey street, green lawn, brown bricks (float32 BGR)."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((H, W, 3), np.float32)
    scene[: H // 3] = (110, 110, 105)
    scene[H // 3 : 2 * H // 3] = (60, 150, 70)
    scene[2 * H // 3 :] = (60, 80, 150)
    texture = cv2.GaussianBlur(rng.normal(0, 30, (H, W)).astype(np.float32), (0, 0), 1.5)
    blotches = cv2.resize(rng.normal(0, 25, (9, 16)).astype(np.float32), (W, H))
    return np.clip(scene + (texture + blotches)[..., None], 0, 255)


@dataclass
class Person:
    """A shaded box standing for a person: (x, y) of its top-left corner at time t."""

    path: Callable[[float], tuple[float, float] | None]
    w: int = 40
    h: int = 120

    def draw(self, image: np.ndarray, t: float) -> tuple[int, int, int, int] | None:
        at = self.path(t)
        if at is None:
            return None
        x, y = round(at[0]), round(at[1])
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + self.w), min(H, y + self.h)
        if x1 <= x0 or y1 <= y0:
            return None
        rows = np.linspace(0, 1, y1 - y0)[:, None]
        shirt = np.array([170, 70, 40]) * (1 - rows) + np.array([40, 40, 60]) * rows
        image[y0:y1, x0:x1] = (
            shirt[:, None, :] * (0.8 + 0.4 * np.linspace(0, 1, x1 - x0))[None, :, None]
        )
        return x, y, self.w, self.h


def walking(x0: float, y: float, start: float, speed: float = 150.0, stop: float = 1e9):
    """A path entering at x0 at `start`, walking right at `speed` px/s until `stop`."""

    def path(t: float) -> tuple[float, float] | None:
        if t < start:
            return None
        return x0 + speed * (min(t, stop) - start), y

    return path


@dataclass
class Clip:
    """Renders frames of the scene with people, lighting and sensor noise."""

    seconds: float
    people: list[Person] = field(default_factory=list)
    gain: Callable[[float], float | np.ndarray] = lambda t: 1.0
    infrared: Callable[[float], bool] = lambda t: False
    noise: float = 2.0
    seed: int = 0

    def frames(self) -> Iterator[tuple[Frame, list[tuple[int, int, int, int]]]]:
        scene = make_scene(self.seed)
        rng = np.random.default_rng(self.seed + 1)
        bank = [rng.normal(0, 1, (H, W, 1)).astype(np.float32) for _ in range(8)]
        for i in range(round(self.seconds * FPS)):
            t = i / FPS
            image = scene.copy()
            drawn = [box for p in self.people if (box := p.draw(image, t)) is not None]
            gain = self.gain(t)
            image *= gain[..., None] if isinstance(gain, np.ndarray) else gain
            noise = self.noise
            if self.infrared(t):
                gray = image @ np.array([0.30, 0.45, 0.25], np.float32)
                image = np.repeat(gray[..., None] * 0.55, 3, axis=2)
                noise *= 2
            image += bank[i % len(bank)] * noise
            yield Frame(i, t, np.clip(image, 0, 255).astype(np.uint8)), drawn


def run(
    clip: Clip, zones: list | None = None, post_seconds: float = 2.0, **settings: object
) -> list[tuple[MotionResult, list[tuple[int, int, int, int]]]]:
    config = MotionConfig(zones=PORCH_ZONES if zones is None else zones, **settings)
    detector = MotionDetector(config, (W, H), post_seconds=post_seconds)
    return [(detector.update(frame), drawn) for frame, drawn in clip.frames()]


PORCH_ZONES = [PORCH]


def first_active(results: list[tuple[MotionResult, object]]) -> float | None:
    return next((r.t for r, _ in results if r.active), None)


def never_active(results: list[tuple[MotionResult, object]]) -> bool:
    return not any(r.active or r.motion for r, _ in results)


def test_detector_is_ready_within_two_seconds_of_start() -> None:
    results = run(Clip(seconds=3))
    ready_at = next(r.t for r, _ in results if r.ready)
    assert ready_at <= 2.0
    assert never_active(results)


def test_result_carries_the_frame_in_gray_at_the_working_size_and_keeps_it() -> None:
    config = MotionConfig(zones=PORCH_ZONES, frame_height=180)
    detector = MotionDetector(config, (W, H), post_seconds=2.0)
    frames = [frame for frame, _ in Clip(seconds=1).frames()]
    first = detector.update(frames[0])
    assert first.gray is not None and first.gray.shape == (180, 320)
    expected = cv2.resize(cv2.cvtColor(frames[0].image, cv2.COLOR_BGR2GRAY), (320, 180))
    assert np.abs(first.gray - expected).max() <= 2.0
    kept = first.gray.copy()
    for frame in frames[1:]:
        detector.update(frame)
    # Learning the background later does not write into a result already handed out.
    assert np.array_equal(first.gray, kept)


def test_still_scene_with_sensor_noise_never_triggers() -> None:
    assert never_active(run(Clip(seconds=8, noise=4.0)))


def test_person_walking_inside_the_zone_is_detected_within_half_a_second() -> None:
    results = run(Clip(seconds=6, people=[Person(walking(-40, 210, start=3.0))]))
    assert 3.0 <= first_active(results) <= 3.5


def test_motion_boxes_are_in_full_frame_pixels_around_the_person() -> None:
    results = run(Clip(seconds=5, people=[Person(walking(100, 210, start=3.0))]))
    result, drawn = results[-1]
    (x, y, w, h) = drawn[0]
    (box,) = result.boxes
    assert box.x <= x and box.y <= y
    assert box.x + box.w >= x + w and box.y + box.h >= min(H, y + h)
    # Only the dilation and the trail behind the walker widen the box.
    assert box.w <= w + 0.5 * 150 and box.h <= h + 12


def test_person_walking_outside_the_zone_does_not_trigger() -> None:
    results = run(Clip(seconds=6, people=[Person(walking(-40, 20, start=3.0))]))
    assert never_active(results)
    assert any(r.shapes for r, _ in results), "moving shapes are still reported"


def test_passer_by_whose_legs_dip_into_the_zone_does_not_count() -> None:
    # 20 % of the body inside the zone, which starts at y = 180.
    results = run(Clip(seconds=7, people=[Person(walking(-40, 84, start=2.0))]))
    assert never_active(results)


def test_passer_by_along_the_zone_edge_with_most_legs_inside_does_not_count() -> None:
    # 55 % of the body inside the zone, walking along its far edge: not toward the door.
    results = run(Clip(seconds=7, people=[Person(walking(-40, 126, start=2.0))]))
    assert never_active(results)


def test_person_coming_toward_the_camera_from_the_zone_edge_counts() -> None:
    def approach(t: float) -> tuple[float, float] | None:
        return None if t < 2.0 else (300.0, min(126.0 + 60.0 * (t - 2.0), 240.0))

    results = run(Clip(seconds=6, people=[Person(approach)]))
    assert first_active(results) is not None
    assert first_active(results) <= 3.0


def test_person_well_inside_the_zone_counts_even_with_the_head_outside() -> None:
    # 70 % of the body inside the zone.
    results = run(Clip(seconds=5, people=[Person(walking(-40, 144, start=2.0))]))
    assert first_active(results) is not None


def test_whole_frame_counts_when_no_zones_are_set() -> None:
    results = run(Clip(seconds=5, people=[Person(walking(-40, 20, start=3.0))]), zones=[])
    assert first_active(results) is not None


def test_light_switched_on_is_relearnt_and_not_motion() -> None:
    results = run(Clip(seconds=8, gain=lambda t: 1.8 if t >= 3.0 else 1.0))
    assert never_active(results)
    flagged = [r.t for r, _ in results if r.global_change]
    assert flagged and 3.0 <= flagged[0] < 3.1
    assert flagged[-1] < 4.0, "back to normal within a second"


def test_light_switched_off_then_visitor_is_still_detected() -> None:
    clip = Clip(
        seconds=8,
        gain=lambda t: 1.0 if t < 3.0 else 0.5,
        people=[Person(walking(-40, 210, start=5.0))],
    )
    results = run(clip)
    assert 5.0 <= first_active(results) <= 5.5


def porch_light(strength: float) -> np.ndarray:
    """Gain field of a lamp above the door: bright at the bottom centre, fading out."""
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    falloff = np.exp(-(((xx - W / 2) / (0.35 * W)) ** 2 + ((yy - H) / (0.5 * H)) ** 2))
    return 1.0 + strength * falloff


def test_porch_light_brightening_the_porch_does_not_trigger() -> None:
    lamp = porch_light(0.9)
    results = run(Clip(seconds=9, gain=lambda t: lamp if 3.0 <= t < 6.0 else 1.0))
    assert never_active(results)


def test_switch_to_infrared_and_back_does_not_trigger() -> None:
    results = run(Clip(seconds=9, infrared=lambda t: 3.0 <= t < 6.0))
    assert never_active(results)


def test_exposure_jumps_and_a_passing_cloud_do_not_trigger() -> None:
    xx = np.linspace(0, 1, W, dtype=np.float32)[None, :].repeat(H, 0)

    def light(t: float) -> float | np.ndarray:
        if 2.0 <= t < 3.0:
            return 0.7
        if 4.0 <= t < 7.0:
            centre = -0.3 + 1.6 * (t - 4.0) / 3.0
            return 1.0 - 0.4 * np.exp(-(((xx - centre) / 0.3) ** 2))
        return 1.0

    assert never_active(run(Clip(seconds=8, gain=light)))


def flicker(start: float, frames: int) -> Person:
    """Something that shows up for a few frames only (an insect in front of the lens)."""
    end = start + (frames - 0.5) / FPS
    return Person(lambda t: (300, 200) if start <= t < end else None, w=60, h=60)


def test_motion_for_fewer_than_min_frames_is_ignored() -> None:
    results = run(Clip(seconds=4, people=[flicker(2.0, 2)]), min_frames=3)
    assert sum(r.motion for r, _ in results) == 2
    assert first_active(results) is None


def test_motion_for_min_frames_in_a_row_switches_on() -> None:
    results = run(Clip(seconds=4, people=[flicker(2.0, 3)]), min_frames=3)
    assert first_active(results) == pytest.approx(2.0 + 2 / FPS)


def test_active_holds_for_post_seconds_after_the_last_motion() -> None:
    person = Person(lambda t: (100 + 150 * (t - 2.0), 210) if 2.0 <= t < 3.0 else None)
    results = run(Clip(seconds=7, people=[person]), post_seconds=2.0)
    last_motion = max(r.t for r, _ in results if r.motion)
    for r, _ in results:
        if last_motion <= r.t < last_motion + 2.0 - 0.01:
            assert r.active
        elif r.t > last_motion + 2.0 + 0.01:
            assert not r.active


def test_visitor_standing_still_at_the_door_stays_active() -> None:
    person = Person(walking(-40, 210, start=2.0, stop=3.0))
    results = run(Clip(seconds=9, people=[person]), post_seconds=1.0)
    assert all(r.active for r, _ in results if r.t >= 2.5)


def test_lores_stream_is_used_when_the_frame_has_one() -> None:
    config = MotionConfig(zones=PORCH_ZONES)
    detector = MotionDetector(config, (1280, 720))
    blank = np.zeros((720, 1280, 3), np.uint8)
    clip = Clip(seconds=5, people=[Person(walking(-40, 210, start=3.0))])
    results = []
    for frame, _ in clip.frames():
        lores = cv2.cvtColor(cv2.resize(frame.image, (320, 180)), cv2.COLOR_BGR2GRAY)
        results.append(detector.update(Frame(frame.index, frame.t, blank, lores)))
    first = next(r for r in results if r.active)
    assert first.t <= 3.5
    # Boxes are in the main frame's pixels, not the lores stream's.
    assert first.boxes[0].y >= 2 * 200


def test_someone_standing_very_still_keeps_a_head_cover() -> None:
    # A child too small for the face scan stands still from 3 s: nothing moves between
    # frames, but the shape's head must stay covered all the time it is there.
    def stand(t: float) -> tuple[float, float] | None:
        return None if t < 2.0 else (100.0 + 150.0 * (min(t, 3.0) - 2.0), 200.0)

    results = run(Clip(seconds=7, people=[Person(stand)]))
    still = [r for r, _ in results if r.t >= 3.5 and r.shapes]
    assert still, "the still person is a changed shape"
    assert all(r.heads for r in still)


def test_the_place_a_visitor_stood_is_not_a_shape_once_they_leave() -> None:
    # A visitor walks in, stands still for 6 s (the slow learning of changed pixels takes
    # in part of them meanwhile), then is gone: the bare porch must not stay a "ghost"
    # shape (whose head would be covered) while the background forgets them.
    def visit(t: float) -> tuple[float, float] | None:
        if t < 2.0 or t >= 9.0:
            return None
        return 100.0 + 150.0 * (min(t, 3.0) - 2.0), 200.0

    results = run(Clip(seconds=12, people=[Person(visit)]))
    standing = [r for r, _ in results if 4.0 <= r.t < 9.0]
    assert all(r.shapes and r.heads for r in standing), "a still visitor stays a shape"
    gone = [r for r, _ in results if r.t >= 9.2]
    assert not any(r.shapes for r in gone), [r.t for r in gone if r.shapes][:5]
    assert not any(r.heads for r in gone)
