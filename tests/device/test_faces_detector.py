"""The real CenterFace model on a real face photograph (scikit-image's astronaut).

These tests need the model extracted by `doorbell models install` and scikit-image's
bundled sample photos; they skip with the reason when either is missing.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.core.config.models import FacesConfig, PrivacyConfig
from edge.device.faces.centerface import CenterFace, _blob
from edge.device.faces.finder import FaceFinder
from edge.device.faces.model import ModelError, verified_model_path
from edge.device.frame import Frame
from edge.device.redact import Redactor

data = pytest.importorskip(
    "skimage.data", reason="scikit-image provides the face photograph these tests use"
)

ASTRONAUT_FACE = (181, 58, 88, 120)  # x, y, w, h of the face in skimage's astronaut()
W, H = 1280, 720


@pytest.fixture(scope="module")
def detector() -> CenterFace:
    try:
        return CenterFace.load()
    except ModelError as exc:
        pytest.skip(f"face model not installed ({exc})")


def bgr(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        return cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(cv2.cvtColor(rgb[..., :3], cv2.COLOR_RGB2BGR))


def frame_with_face(face_h: int, at: tuple[int, int] = (700, 300)) -> tuple[np.ndarray, tuple]:
    """A 720p frame (gravel texture) with the astronaut's head pasted in, face `face_h` tall.

    Returns the frame and the face box (x, y, w, h) in frame pixels.
    """
    gravel = bgr(data.gravel())
    image = np.tile(gravel, (2, 3, 1))[:H, :W].copy()
    head = bgr(data.astronaut())[10:260, 120:330]
    s = face_h / ASTRONAUT_FACE[3]
    head = cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    x, y = at
    image[y : y + head.shape[0], x : x + head.shape[1]] = head
    fx, fy, fw, fh = ASTRONAUT_FACE
    return image, (x + (fx - 120) * s, y + (fy - 10) * s, fw * s, fh * s)


def band_pass_similarity(a: np.ndarray, b: np.ndarray, face_w: float) -> float:
    """Like the leak scorer: detail finer than ~1/10 of the face, compared (1 = same)."""
    hi, lo = max(0.8, face_w / 24), max(0.5, face_w / 64)

    def detail(img: np.ndarray) -> np.ndarray:
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        d = cv2.GaussianBlur(g, (0, 0), lo) - cv2.GaussianBlur(g, (0, 0), hi)
        return d - d.mean()

    da, db = detail(a), detail(b)
    return float(2 * (da * db).sum() / ((da * da).sum() + (db * db).sum()))


def test_installed_model_matches_its_pinned_hash(detector: CenterFace) -> None:
    assert verified_model_path("centerface").name == "centerface.onnx"


@pytest.mark.parametrize("face_h", [48, 80, 160])
def test_real_face_is_found_on_a_720p_frame(detector: CenterFace, face_h: int) -> None:
    image, (x, y, w, h) = frame_with_face(face_h)
    finder = FaceFinder(detector, FacesConfig(), np.zeros((H, W), bool))
    boxes = finder.find(Frame(0, 0.0, image))
    cx, cy = x + w / 2, y + h / 2
    assert any(b.x <= cx <= b.x + b.w and b.y <= cy <= b.y + b.h for b in boxes)


def test_small_face_is_found_when_min_face_px_asks_for_it(detector: CenterFace) -> None:
    image, (x, y, w, h) = frame_with_face(24)
    finder = FaceFinder(detector, FacesConfig(min_face_px=24), np.zeros((H, W), bool))
    boxes = finder.find(Frame(0, 0.0, image))
    cx, cy = x + w / 2, y + h / 2
    assert any(b.x <= cx <= b.x + b.w and b.y <= cy <= b.y + b.h for b in boxes)


def test_sizes_in_any_order_give_what_a_fresh_detector_gives(detector: CenterFace) -> None:
    # OpenCV 4.x (the Pi's, under numpy<2) answered wrongly when one network was run at a
    # new input size after another: here, a large frame after small crops.
    image, _ = frame_with_face(80)
    crops = [image[200:520, 600:920], image[250:410, 650:810], image]
    for crop in crops:
        detector.detect(crop, threshold=0.3)
    again = detector.detect(image, threshold=0.3)
    fresh = CenterFace.load().detect(image, threshold=0.3)
    assert again == fresh and fresh


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket", "brick", "gravel", "grass"])
def test_face_free_photos_give_no_detections(detector: CenterFace, name: str) -> None:
    assert detector.detect(bgr(getattr(data, name)()), threshold=0.2) == []


@pytest.mark.parametrize("style", ["mosaic", "fill", "blur"])
def test_real_face_is_unrecognisable_after_redaction(detector: CenterFace, style: str) -> None:
    image, (x, y, w, h) = frame_with_face(80)
    stage = Redactor.from_config(PrivacyConfig(style=style), FacesConfig())
    out = stage.process(Frame(0, 0.0, image.copy()))
    assert out is not None and not out.fail_closed and out.faces_count >= 1
    x0, y0, x1, y1 = int(x), int(y), int(x + w), int(y + h)
    before, after = image[y0:y1, x0:x1], out.image[y0:y1, x0:x1]
    assert band_pass_similarity(before, before, w) > 0.99
    assert band_pass_similarity(before, after, w) < 0.3


@pytest.mark.parametrize(("h", "w"), [(288, 544), (264, 533), (31, 45), (1, 1)])
def test_network_input_is_rgb_planes_zero_padded_to_multiples_of_32(h: int, w: int) -> None:
    image = np.random.default_rng(h).integers(0, 256, (h, w, 3), dtype=np.uint8)
    padded_h, padded_w = -(-h // 32) * 32, -(-w // 32) * 32
    got = _blob(image)
    assert got.shape == (1, 3, padded_h, padded_w) and got.dtype == np.float32
    assert np.array_equal(got[0, 0, :h, :w], image[:, :, 2])  # red first
    assert np.array_equal(got[0, 2, :h, :w], image[:, :, 0])
    assert not got[0, :, h:, :].any() and not got[0, :, :, w:].any()
    # What OpenCV's DNN module makes of the same image, padded the same way.
    border = cv2.copyMakeBorder(image, 0, padded_h - h, 0, padded_w - w, cv2.BORDER_CONSTANT)
    assert np.array_equal(got, cv2.dnn.blobFromImage(border, 1.0, swapRB=True))
