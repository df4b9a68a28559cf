"""The redaction stage: masks and faces obscured in every frame, and every fault fails closed."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edge.core.config.models import FacesConfig, PrivacyConfig
from edge.device.frame import Box, Frame
from edge.device.redact import Redactor

W, H = 640, 360
STREET = [(0.0, 0.0), (1.0, 0.0), (1.0, 0.25), (0.0, 0.25)]
FACE = (300, 200, 48, 64)  # x, y, w, h of the synthetic face in frame pixels


class RedSquareDetector:
    """Finds 'faces' drawn as saturated red patches: a stand-in with exact answers."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        self.calls += 1
        b, g, r = cv2.split(image.astype(np.int16))
        red = ((r - np.maximum(g, b)) > 120).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(red)
        return [
            Box(float(x), float(y), float(w), float(h), 0.9)
            for x, y, w, h, area in stats[1:count]
            if area >= 4
        ]


class RaisingDetector:
    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        raise RuntimeError("inference engine crashed")


class SlowDetector(RedSquareDetector):
    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        time.sleep(0.05)
        return super().detect(image, threshold)


class FlakyDetector(RedSquareDetector):
    """Raises on its first call only."""

    def detect(self, image: np.ndarray, threshold: float) -> list[Box]:
        if self.calls == 0:
            self.calls += 1
            raise RuntimeError("first call fails")
        return super().detect(image, threshold)


def scene(seed: int = 0, face: bool = True) -> np.ndarray:
    """A textured frame with an optional red textured 'face'."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 200, (H, W, 3), dtype=np.uint8)
    image[..., 2] = image[..., 1]  # no strong red anywhere but the face
    if face:
        x, y, w, h = FACE
        patch = np.zeros((h, w, 3), np.uint8)
        patch[..., 2] = rng.integers(200, 256, (h, w))
        patch[..., :2] = rng.integers(0, 40, (h, w, 2))
        image[y : y + h, x : x + w] = patch
    return image


def detail(image: np.ndarray) -> float:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def frame(k: int = 0, image: np.ndarray | None = None) -> Frame:
    return Frame(k, k / 15, scene(k) if image is None else image)


def redactor(detector=None, **faces) -> Redactor:
    return Redactor(
        PrivacyConfig(public_areas=[STREET]),
        FacesConfig(**faces),
        RedSquareDetector() if detector is None else detector,
    )


def street(image: np.ndarray) -> np.ndarray:
    return image[: int(0.25 * H) - 1]


def face_region(image: np.ndarray) -> np.ndarray:
    x, y, w, h = FACE
    return image[y : y + h, x : x + w]


def fully_obscured(image: np.ndarray, original: np.ndarray) -> bool:
    return detail(image) < 0.02 * detail(original)


def copied(f: Frame) -> Frame:
    """The frame with pixels of its own: redaction works in place, the test compares."""
    return replace(f, image=f.image.copy())


def test_public_area_is_obscured_in_every_frame() -> None:
    stage = redactor()
    for k in range(5):
        f = frame(k)
        out = stage.process(copied(f))
        assert out is not None and not out.fail_closed
        assert detail(street(out.image)) < 0.02 * detail(street(f.image))
        below = out.image[int(0.25 * H) + 2 : FACE[1] - 30]
        assert np.array_equal(below, f.image[int(0.25 * H) + 2 : FACE[1] - 30])


def test_detected_face_is_obscured_with_a_margin() -> None:
    stage = redactor()
    f = frame()
    out = stage.process(copied(f))
    assert out is not None and out.faces_count == 1
    assert detail(face_region(out.image)) < 0.1 * detail(face_region(f.image))
    x, y, w, _ = FACE
    margin = out.image[y - 8 : y, x : x + w]
    assert not np.array_equal(margin, f.image[y - 8 : y, x : x + w])
    assert stage.stats.faces == 1


def test_frame_is_redacted_in_place_so_no_unredacted_copy_is_left() -> None:
    f = frame()
    original = f.image.copy()
    out = redactor().process(f)
    assert out is not None and out.image is f.image
    assert detail(face_region(f.image)) < 0.1 * detail(face_region(original))
    assert detail(street(f.image)) < 0.02 * detail(street(original))


def test_detector_that_raises_obscures_the_whole_frame_and_counts_it() -> None:
    stage = redactor(RaisingDetector())
    f = frame()
    out = stage.process(copied(f))
    assert out is not None
    assert out.fail_closed and out.failure == "error"
    assert fully_obscured(out.image, f.image)
    assert stage.stats.fail_closed == 1 and stage.stats.errors == 1


def test_detector_slower_than_its_budget_fails_closed() -> None:
    stage = redactor(SlowDetector(), budget_ms=5.0)
    f = frame()
    out = stage.process(copied(f))
    assert out is not None and out.fail_closed and out.failure == "late"
    assert fully_obscured(out.image, f.image)
    assert stage.stats.late == 1


def test_failed_frame_is_dropped_when_configured() -> None:
    stage = redactor(RaisingDetector(), on_failure="drop")
    assert stage.process(frame()) is None
    assert stage.stats.dropped == 1 and stage.stats.fail_closed == 1 and stage.stats.frames == 1


def test_redaction_recovers_after_a_failed_frame() -> None:
    stage = redactor(FlakyDetector())
    first, second = stage.process(frame(0)), stage.process(frame(1))
    assert first is not None and first.fail_closed
    assert second is not None and not second.fail_closed and second.faces_count == 1


def test_missing_model_file_fails_closed_on_every_frame(tmp_path) -> None:
    stage = Redactor.from_config(
        PrivacyConfig(public_areas=[STREET]), FacesConfig(), models_dir=tmp_path
    )
    for k in range(3):
        f = frame(k)
        out = stage.process(copied(f))
        assert out is not None and out.fail_closed and out.failure == "no_model"
        assert fully_obscured(out.image, f.image)
    assert stage.stats.no_model == 3


def test_altered_model_file_fails_closed(tmp_path) -> None:
    (tmp_path / "centerface.onnx").write_bytes(b"not the pinned model")
    stage = Redactor.from_config(PrivacyConfig(), FacesConfig(), models_dir=tmp_path)
    out = stage.process(frame())
    assert out is not None and out.failure == "no_model"


def test_faces_disabled_still_masks_public_areas() -> None:
    detector = RaisingDetector()
    stage = redactor(detector, enabled=False, store_faces_unobscured=True)
    f = frame()
    out = stage.process(copied(f))
    assert out is not None and not out.fail_closed
    assert detail(street(out.image)) < 0.02 * detail(street(f.image))
    assert np.array_equal(face_region(out.image), face_region(f.image))


def test_a_new_frame_size_gets_its_own_mask() -> None:
    stage = redactor()
    stage.process(frame())
    small = cv2.resize(scene(3), (320, 180), interpolation=cv2.INTER_NEAREST)
    out = stage.process(Frame(1, 1 / 15, small.copy()))
    assert out is not None and out.image.shape == small.shape
    assert detail(out.image[:44]) < 0.02 * detail(small[:44])


@dataclass(frozen=True)
class Moving:
    heads: tuple[Box, ...]
    gray: np.ndarray | None = None


def test_head_of_a_moving_shape_is_covered_when_no_face_is_found() -> None:
    stage = redactor()
    image = scene(5, face=False)
    out = stage.process(Frame(0, 0.0, image.copy()), Moving((Box(100.0, 150.0, 80.0, 100.0),)))
    assert out is not None
    assert detail(out.image[160:210, 100:180]) < 0.1 * detail(image[160:210, 100:180])
    # Below the head (the body) is left as it is.
    assert np.array_equal(out.image[260:, 100:180], image[260:, 100:180])


def test_moving_shape_is_covered_again_as_soon_as_its_face_is_lost() -> None:
    stage = redactor()
    x, y, w, _ = FACE
    shape = Box(x - 10.0, y - 10.0, w + 20.0, 100.0)  # the head motion found
    first = stage.process(Frame(0, 0.0, scene(0)), Moving((shape,)))
    assert first is not None and first.faces_count == 1  # the face explains the shape
    # Next frame the face is too blurred to detect and the shape has moved on.
    moved = Box(shape.x + 120.0, shape.y, shape.w, shape.h)
    image = scene(1, face=False)
    second = stage.process(Frame(1, 1 / 15, image.copy()), Moving((moved,)))
    assert second is not None
    top = (slice(int(moved.y), int(moved.y) + 60), slice(int(moved.x), int(moved.x + moved.w)))
    assert detail(second.image[top]) < 0.1 * detail(image[top])
