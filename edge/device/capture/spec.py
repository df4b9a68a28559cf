"""Turns a camera spec string from the config (`picamera2`, `v4l2:/dev/video0`,
`rtsp://…`, `file:PATH`) into a running, self-healing frame source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import cv2

from edge.device.capture.camera_profile import load_camera_profile
from edge.device.capture.file import FileSource
from edge.device.capture.pi_camera import PiCameraSource
from edge.device.capture.reopen import ReopeningSource, SourceGap
from edge.device.capture.rotation import rotating_180
from edge.device.capture.source import FrameSource
from edge.device.capture.videocapture import VideoCaptureSource

SourceKind = Literal["picamera2", "v4l2", "rtsp", "file"]

SPEC_FORMS = "picamera2, v4l2:/dev/videoN, rtsp://HOST/PATH or file:PATH"

# A file that keeps failing is broken, not unplugged: stop after a few tries.
_FILE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: SourceKind
    target: str


def parse_source_spec(spec: str) -> SourceSpec:
    """Split a spec into its kind and target; a malformed spec is a ValueError naming the forms."""
    text = spec.strip()
    if text == "picamera2":
        return SourceSpec("picamera2", "")
    if text.startswith("v4l2:") and text.removeprefix("v4l2:").startswith("/dev/video"):
        return SourceSpec("v4l2", text.removeprefix("v4l2:"))
    if text.startswith(("rtsp://", "rtsps://")) and len(text.split("://", 1)[1]) > 0:
        return SourceSpec("rtsp", text)
    if text.startswith("file:") and text.removeprefix("file:"):
        return SourceSpec("file", text.removeprefix("file:"))
    raise ValueError(f"unknown camera source {spec!r}; expected {SPEC_FORMS}")


def open_source(
    spec: str,
    *,
    size: tuple[int, int] = (1280, 720),
    lores_size: tuple[int, int] = (320, 240),
    fps: float = 15.0,
    realtime: bool = False,
    on_gap: Callable[[SourceGap], None] | None = None,
    initial_backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
    rotation: int = 0,
    profile: Path | None = None,
) -> ReopeningSource:
    """Open the camera named by `spec`; it is (re)opened lazily when first iterated.

    `size` and `fps` are requested from live cameras (a USB camera may pick the nearest
    mode it has); `lores_size` is only used by the Pi camera. `realtime` paces a file
    at its recorded speed; live cameras pace themselves. `rotation` 180 turns the picture
    (by libcamera on the Pi, in software elsewhere). `profile` is a camera profile file
    (`camera.profile`), read here so a bad one fails now; only the Pi camera takes one.
    """
    parsed = parse_source_spec(spec)
    if rotation not in (0, 180):
        raise ValueError(f"camera.rotation must be 0 or 180, not {rotation}")
    if profile is not None and parsed.kind != "picamera2":
        raise ValueError(
            f"camera.profile ({profile}) is only for the picamera2 source, not {spec!r}; "
            "remove it from [camera]"
        )
    opener: Callable[[], FrameSource]
    max_attempts: int | None = None
    match parsed.kind:
        case "picamera2":
            opener = partial(
                PiCameraSource,
                size=size,
                lores_size=lores_size,
                fps=fps,
                rotation=rotation,
                profile=None if profile is None else load_camera_profile(profile),
            )
        case "v4l2":
            opener = partial(VideoCaptureSource, parsed.target, cv2.CAP_V4L2, size=size, fps=fps)
        case "rtsp":
            opener = partial(VideoCaptureSource, parsed.target, cv2.CAP_FFMPEG)
        case "file":
            opener = partial(FileSource, parsed.target)
            max_attempts = _FILE_ATTEMPTS
    if rotation == 180 and parsed.kind != "picamera2":
        opener = rotating_180(opener)
    return ReopeningSource(
        opener,
        spec,
        initial_backoff_s=initial_backoff_s,
        max_backoff_s=max_backoff_s,
        max_attempts=max_attempts,
        realtime=realtime and parsed.kind == "file",
        on_gap=on_gap,
    )
