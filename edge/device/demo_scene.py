"""A synthetic porch scene with a visitor and a passer-by, made in memory for `doorbell demo`.

The faces are real photographs that ship inside scikit-image (`astronaut.png`,
`camera.png`) when it is installed, so the face detector has real faces to find;
without it, drawn faces stand in. Frames are generated on the fly and never written.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator

import cv2
import numpy as np

from edge.device.frame import Frame

WIDTH, HEIGHT, FPS = 1280, 720, 15
# The street band (a public area) and the walkway + porch (the motion zone), in 0..1.
PUBLIC_AREA = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]
MOTION_ZONE = [[0.3, 0.35], [0.7, 0.35], [0.95, 1.0], [0.05, 1.0]]

# Face boxes (x, y, w, h) of the photographs, a little wider than the detector's box.
_PHOTOS = {"astronaut.png": (170, 40, 115, 150), "camera.png": (190, 100, 80, 105)}


def _photo_face(name: str) -> np.ndarray | None:
    try:
        data = importlib.resources.files("skimage").joinpath("data", name).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    x, y, w, h = _PHOTOS[name]
    return image[y : y + h, x : x + w]


def _drawn_face(h: int = 150) -> np.ndarray:
    face = np.full((h, int(h * 0.75), 3), (140, 170, 210), np.uint8)
    w = face.shape[1]
    cv2.circle(face, (w // 3, h // 3), h // 14, (40, 30, 30), -1)
    cv2.circle(face, (2 * w // 3, h // 3), h // 14, (40, 30, 30), -1)
    cv2.ellipse(face, (w // 2, 2 * h // 3), (w // 5, h // 12), 0, 0, 180, (60, 60, 150), 3)
    return face


def _background() -> np.ndarray:
    img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    street = int(0.3 * HEIGHT)
    img[:street] = (120, 120, 118)
    img[: street // 3] = (200, 170, 140)
    for x in range(40, WIDTH, 260):
        cv2.rectangle(img, (x, 20), (x + 180, street // 3 + 30), (70, 90, 150), -1)
    cv2.rectangle(img, (0, street - 40), (WIDTH, street - 25), (220, 220, 220), -1)
    img[street:] = (70, 140, 80)
    walk = np.array([[560, street], [720, street], [1000, HEIGHT], [280, HEIGHT]], np.int32)
    cv2.fillPoly(img, [walk], (150, 160, 170))
    return img


def _paste_person(img: np.ndarray, face: np.ndarray, cx: float, top: float, face_h: int) -> None:
    scale = face_h / face.shape[0]
    small = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    fh, fw = small.shape[:2]
    body_w, body_h = int(fw * 1.8), int(fh * 3.2)
    x0, y0 = int(cx - fw / 2), int(top)
    cv2.rectangle(
        img,
        (int(cx - body_w / 2), y0 + fh),
        (int(cx + body_w / 2), y0 + fh + body_h),
        (90, 40, 30),
        -1,
    )
    ys, xs = slice(max(0, y0), min(HEIGHT, y0 + fh)), slice(max(0, x0), min(WIDTH, x0 + fw))
    img[ys, xs] = small[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]


def scene_frames(seconds: float = 14.0, seed: int = 7) -> Iterator[Frame]:
    """Yield the demo scene: a passer-by on the street, then a visitor who comes to the door."""
    rng = np.random.default_rng(seed)
    background = _background()
    visitor = _photo_face("astronaut.png")
    passerby = _photo_face("camera.png")
    visitor = visitor if visitor is not None else _drawn_face()
    passerby = passerby if passerby is not None else _drawn_face()
    noise = rng.normal(0, 2.0, (8, HEIGHT, WIDTH, 3)).astype(np.int16)
    for i in range(int(seconds * FPS)):
        t = i / FPS
        img = background.copy()
        # Passer-by along the street band, 1-7 s, left to right.
        if 1.0 <= t < 7.0:
            _paste_person(img, passerby, 100 + (t - 1.0) * 180, 95, 36)
        # Visitor up the walkway 4-8 s, at the door 8-11 s, then back a little.
        if 4.0 <= t < 13.0:
            p = min(1.0, (t - 4.0) / 4.0) if t < 11.0 else max(0.6, 1.0 - (t - 11.0) / 5.0)
            face_h = int(40 + p * 150)
            _paste_person(img, visitor, 640 + p * 40, 230 + p * 200 - face_h, face_h)
        frame = np.clip(img.astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)
        yield Frame(i, t, frame)
