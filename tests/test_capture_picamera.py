"""The Pi camera source, against a fake `picamera2` module that honours exactly the calls used.

The fake is the only stand-in in the capture tests (there is no Pi camera here). It
implements the Picamera2 API subset the source relies on, with the same argument names
and array layouts as picamera2 itself, and fails the test on any other call, on calls in
the wrong order, and on requests that are not released.
"""

from __future__ import annotations

import itertools
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from edge.capture import SourceGap, open_source
from edge.capture.pi_camera import PiCameraSource

FRAME_NS = 100_000_000  # 10 fps
BUFFERS = 4
MAIN_FORMATS = ("RGB888", "BGR888", "XRGB8888", "XBGR8888", "YUV420")


def require(condition: bool, message: str) -> None:
    """Fail the test from inside the fake: pytest.fail is a BaseException, so the source's
    handling of camera errors cannot mistake a misuse of the API for a camera fault."""
    if not condition:
        pytest.fail(message)


@dataclass
class CameraWorld:
    """What the fake hardware does: when it is missing, when it stops delivering."""

    missing_opens: int = 0
    frames_before_unplug: int | None = None
    clock_ns: int = 5_000_000_000
    cameras: list[FakePicamera2] = field(default_factory=list)


class Strict:
    """Any attribute the source was not supposed to use fails the test."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"{type(self).__name__}.{name} is not part of the API the source uses")


class FakeRequest(Strict):
    def __init__(self, camera: FakePicamera2, number: int, sensor_ns: int) -> None:
        self.camera, self.number, self.sensor_ns, self.released = camera, number, sensor_ns, False

    def make_array(self, name: str) -> np.ndarray:
        require(not self.released, "make_array after release")
        config = self.camera.config[name]
        width, height = config["size"]
        if config["format"] == "RGB888":
            return np.full((height, width, 3), self.number % 256, np.uint8)
        # picamera2 returns YUV420 as (height * 3 / 2, stride) with the Y plane on top.
        stride = (width + 63) // 64 * 64
        array = np.full((height * 3 // 2, stride), 255, np.uint8)
        array[:height, :width] = self.number % 200
        return array

    def get_metadata(self) -> dict[str, Any]:
        require(not self.released, "get_metadata after release")
        return {"SensorTimestamp": self.sensor_ns, "ExposureTime": 10_000}

    def release(self) -> None:
        require(not self.released, "request released twice")
        self.released = True
        self.camera.outstanding -= 1


class FakePicamera2(Strict):
    world: CameraWorld

    def __init__(self, camera_num: int = 0) -> None:
        if self.world.missing_opens > 0:
            self.world.missing_opens -= 1
            raise RuntimeError("Camera __init__ sequence did not complete.")
        self.camera_num = camera_num
        self.config: dict[str, Any] | None = None
        self.configured = self.started = self.closed = False
        self.outstanding = self.delivered = 0
        self.world.cameras.append(self)

    def create_video_configuration(
        self, *, main: dict[str, Any], lores: dict[str, Any], controls: dict[str, Any]
    ) -> dict[str, Any]:
        require(main["format"] in MAIN_FORMATS, f"unknown main format {main['format']}")
        require(lores["format"] == "YUV420", "the Pi's lores stream must be YUV420")
        fits = all(small <= big for small, big in zip(lores["size"], main["size"], strict=True))
        require(fits, "lores must not be larger than main")
        require(set(controls) <= {"FrameRate"}, f"unexpected controls {controls}")
        return {"main": dict(main), "lores": dict(lores), "controls": dict(controls)}

    def configure(self, camera_config: dict[str, Any]) -> None:
        require(not self.started, "configure while running")
        self.config, self.configured = camera_config, True

    def start(self) -> None:
        require(self.configured, "start before configure")
        self.started = True

    def capture_request(self, wait: float | None = None) -> FakeRequest:
        require(self.started and not self.closed, "capture_request on a stopped camera")
        require(self.outstanding < BUFFERS, "requests not released: the camera would stall")
        unplug = self.world.frames_before_unplug
        if unplug is not None and self.delivered >= unplug:
            raise TimeoutError()  # what Job.get_result(timeout=wait) raises
        self.world.clock_ns += FRAME_NS
        self.delivered += 1
        self.outstanding += 1
        return FakeRequest(self, self.delivered, self.world.clock_ns)

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        require(not self.started, "close before stop")
        self.closed = True


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> CameraWorld:
    state = CameraWorld()
    module = types.ModuleType("picamera2")
    module.Picamera2 = type("Picamera2", (FakePicamera2,), {"world": state})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "picamera2", module)
    return state


def take(source: Any, count: int) -> list:
    frames = []
    for frame in source:
        frames.append(frame)
        if len(frames) == count:
            source.close()
    return frames


def test_frames_have_bgr_main_grayscale_lores_and_sensor_time(world: CameraWorld) -> None:
    source = open_source("picamera2", size=(64, 48), lores_size=(40, 30), fps=10)
    frames = take(source, 5)

    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert frames[0].image.shape == (48, 64, 3)
    assert frames[0].lores.shape == (30, 40)
    assert (frames[2].lores == 3).all(), "lores is the Y plane without stride padding"
    assert [f.t for f in frames] == pytest.approx([5.1, 5.2, 5.3, 5.4, 5.5])
    camera = world.cameras[0]
    assert camera.outstanding == 0
    assert camera.closed


def test_camera_is_configured_like_the_picamera2_examples(world: CameraWorld) -> None:
    take(open_source("picamera2", size=(1280, 720), lores_size=(320, 240), fps=15), 1)
    assert world.cameras[0].config == {
        "main": {"size": (1280, 720), "format": "RGB888"},
        "lores": {"size": (320, 240), "format": "YUV420"},
        "controls": {"FrameRate": 15},
    }


def test_camera_that_stops_delivering_is_reopened_and_time_keeps_going(
    world: CameraWorld,
) -> None:
    world.frames_before_unplug = 3
    gaps: list[SourceGap] = []
    source = open_source(
        "picamera2", size=(64, 48), lores_size=(32, 24), initial_backoff_s=0.001, on_gap=gaps.append
    )
    frames = take(source, 7)

    assert [f.index for f in frames] == list(range(7))
    assert all(b.t > a.t for a, b in itertools.pairwise(frames))
    assert len(world.cameras) == 3
    assert all(c.closed and c.outstanding == 0 for c in world.cameras)
    assert [g.ended_at is None for g in gaps] == [True, False, True, False]


def test_missing_camera_at_start_is_a_gap_not_a_crash(world: CameraWorld) -> None:
    world.missing_opens = 2
    gaps: list[SourceGap] = []
    source = open_source(
        "picamera2", size=(64, 48), lores_size=(32, 24), initial_backoff_s=0.001, on_gap=gaps.append
    )

    assert len(take(source, 2)) == 2
    assert gaps[-1].attempts == 2
    assert "did not complete" in gaps[-1].reason


def test_without_picamera2_installed_the_error_names_the_pi_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(ImportError, match=r"doorbell-edge\[pi\]"):
        PiCameraSource()


def test_lores_larger_than_main_is_a_configuration_error(world: CameraWorld) -> None:
    with pytest.raises(ValueError, match="lores size"):
        PiCameraSource(size=(64, 48), lores_size=(320, 240))
    assert world.cameras == []
