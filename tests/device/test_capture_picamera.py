"""The Pi camera source, against a fake `picamera2` module that honours exactly the calls used.

The fake is the only stand-in in the capture tests (there is no Pi camera here). It
implements the Picamera2 API subset the source relies on (with `libcamera.Transform` and
`picamera2.devices.imx708.IMX708` for sensor HDR), with the same argument names, array
layouts and errors as picamera2 itself, and fails the test on any other call, on calls in
the wrong order, and on requests that are not released.
"""

from __future__ import annotations

import itertools
import sys
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.device.capture import SourceGap, open_source
from edge.device.capture.camera_profile import CameraProfileError
from edge.device.capture.pi_camera import PiCameraSource

FRAME_NS = 100_000_000  # 10 fps
BUFFERS = 4
MAIN_FORMATS = ("RGB888", "BGR888", "XRGB8888", "XBGR8888", "YUV420")
PROFILES = Path(__file__).resolve().parents[2] / "firmware_configs" / "camera"

# What libcamera advertises on a Pi: every sensor has the exposure and colour controls,
# only the Camera Module 3 has a focus lens.
COMMON_CONTROLS = frozenset(
    {"FrameDurationLimits", "AeMeteringMode", "AeConstraintMode", "AeExposureMode"}
    | {"ExposureValue", "Saturation"}
)
CONTROLS_BY_SENSOR = {
    "imx219": COMMON_CONTROLS,
    "imx708": COMMON_CONTROLS | {"AfMode", "LensPosition"},
}


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
    model: str = "imx708_wide"
    # The IMX708 keeps its HDR mode until it is set again, across processes.
    sensor_hdr: bool = False
    tuning_files: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"imx219_noir.json": {"version": 2.0, "target": "bcm2835"}}
    )

    def camera_present(self) -> bool:
        """One open attempt: False while the camera is still missing."""
        if self.missing_opens > 0:
            self.missing_opens -= 1
            return False
        return True

    def advertised_controls(self) -> frozenset[str]:
        return CONTROLS_BY_SENSOR[self.model.split("_")[0]]

    def camera_open(self) -> bool:
        return any(not camera.closed for camera in self.cameras)


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
        array[:height, :width] = 100 + self.number % 100
        return array

    def get_metadata(self) -> dict[str, Any]:
        require(not self.released, "get_metadata after release")
        return {"SensorTimestamp": self.sensor_ns, "ExposureTime": 10_000}

    def release(self) -> None:
        require(not self.released, "request released twice")
        self.released = True
        self.camera.outstanding -= 1


@dataclass(frozen=True)
class FakeColorSpace:
    """libcamera.ColorSpace: its presets, and the range a YUV stream then has."""

    name: str
    range: str

    @classmethod
    def Rec709(cls) -> FakeColorSpace:
        return cls("Rec709", "Limited")

    @classmethod
    def Sycc(cls) -> FakeColorSpace:
        return cls("Sycc", "Full")


@dataclass(frozen=True, kw_only=True)
class FakeTransform:
    """libcamera.Transform, as the Picamera2 examples build it."""

    hflip: int = 0
    vflip: int = 0


class FakeIMX708(Strict):
    """picamera2.devices.imx708.IMX708: the sensor's v4l2 sub-device, for its HDR mode."""

    world: CameraWorld

    def __init__(self, camera_num: int | None = None) -> None:
        require(camera_num is not None, "name the camera: without a number IMX708 guesses")
        if not self.world.model.startswith("imx708"):
            raise RuntimeError("IMX708: Requested camera v4l2 device node not found")
        # picamera2 re-reads the sensor modes only when the camera is opened again.
        require(not self.world.camera_open(), "HDR mode changed while the camera is open")
        self.open = True

    def __enter__(self) -> FakeIMX708:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_sensor_hdr_mode(self, enable: bool) -> None:
        require(self.open, "set_sensor_hdr_mode on a closed IMX708")
        require(isinstance(enable, bool), f"set_sensor_hdr_mode({enable!r}) takes a bool")
        self.world.sensor_hdr = enable

    def close(self) -> None:
        self.open = False


class FakePicamera2(Strict):
    world: CameraWorld

    @classmethod
    def global_camera_info(cls) -> list[dict[str, Any]]:
        if not cls.world.camera_present():
            return []
        path = f"/base/axi/pcie@120000/rp1/i2c@88000/{cls.world.model.split('_')[0]}@1a"
        return [{"Model": cls.world.model, "Location": 2, "Rotation": 180, "Id": path, "Num": 0}]

    @classmethod
    def load_tuning_file(cls, tuning_file: str, dir: str | None = None) -> dict[str, Any]:
        require(dir is None, "the tuning file is looked up in libcamera's own directories")
        if tuning_file not in cls.world.tuning_files:
            raise RuntimeError("Tuning file not found")
        return dict(cls.world.tuning_files[tuning_file])

    def __init__(self, camera_num: int = 0, tuning: dict[str, Any] | None = None) -> None:
        require(not self.world.camera_open(), "the previous camera was not closed")
        if not self.world.camera_present():
            raise RuntimeError("Camera __init__ sequence did not complete.")
        self.camera_num, self.tuning = camera_num, tuning
        self.sensor_hdr = self.world.sensor_hdr
        self.config: dict[str, Any] | None = None
        self.configured = self.started = self.closed = False
        self.outstanding = self.delivered = 0
        self.world.cameras.append(self)

    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        return {name: (0, 32, 0) for name in self.world.advertised_controls()}

    def create_video_configuration(
        self,
        *,
        main: dict[str, Any],
        lores: dict[str, Any],
        controls: dict[str, Any],
        transform: FakeTransform,
        colour_space: FakeColorSpace | None = None,
    ) -> dict[str, Any]:
        require(main["format"] in MAIN_FORMATS, f"unknown main format {main['format']}")
        require(lores["format"] == "YUV420", "the Pi's lores stream must be YUV420")
        fits = all(small <= big for small, big in zip(lores["size"], main["size"], strict=True))
        require(fits, "lores must not be larger than main")
        require(isinstance(transform, FakeTransform), f"transform {transform!r} is no Transform")
        space = colour_space or FakeColorSpace.Rec709()  # Picamera2's pick for HD video
        require(isinstance(space, FakeColorSpace), f"colour space {space!r} is no ColorSpace")
        return {
            "main": dict(main),
            "lores": dict(lores),
            "controls": dict(controls),
            "transform": transform,
            "colour_space": space,
        }

    def configure(self, camera_config: dict[str, Any]) -> None:
        require(not self.started, "configure while running")
        for name in camera_config["controls"]:
            # FrameRate is Picamera2's name for FrameDurationLimits.
            real = "FrameDurationLimits" if name == "FrameRate" else name
            if real not in self.world.advertised_controls():
                raise RuntimeError(f"Control {real} is not advertised by libcamera")
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
    modules = {
        "picamera2": {"Picamera2": type("Picamera2", (FakePicamera2,), {"world": state})},
        "picamera2.devices": {},
        "picamera2.devices.imx708": {"IMX708": type("IMX708", (FakeIMX708,), {"world": state})},
        "libcamera": {"Transform": FakeTransform, "ColorSpace": FakeColorSpace},
    }
    for name, contents in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(contents)
        monkeypatch.setitem(sys.modules, name, module)
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
    # The Y plane without stride padding, its limited range (103 here) stretched to 0..255.
    assert (frames[2].lores == round((103 - 16) * 255 / 219)).all()
    assert world.cameras[0].config["colour_space"].range == "Limited"
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
        "transform": FakeTransform(),
        "colour_space": FakeColorSpace.Rec709(),
    }
    assert world.cameras[0].tuning is None


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


def configured_camera(world: CameraWorld, **options: Any) -> FakePicamera2:
    """Open the Pi camera through open_source, take one frame and return the fake camera."""
    take(open_source("picamera2", size=(64, 48), lores_size=(32, 24), fps=15, **options), 1)
    (camera,) = world.cameras
    assert camera.closed
    return camera


def write_profile(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_upside_down_mount_is_turned_by_libcamera_not_in_software(world: CameraWorld) -> None:
    camera = configured_camera(world, rotation=180)
    assert camera.config["transform"] == FakeTransform(hflip=1, vflip=1)


@pytest.mark.parametrize(
    ("profile", "model"),
    [
        ("cm2.toml", "imx219"),
        ("cm2-noir.toml", "imx219"),
        ("cm3.toml", "imx708_wide"),
        ("cm3-noir.toml", "imx708_wide_noir"),
    ],
)
def test_each_shipped_profile_configures_its_camera_module(
    world: CameraWorld, profile: str, model: str
) -> None:
    world.model = model
    camera = configured_camera(world, profile=PROFILES / profile)
    controls = tomllib.loads((PROFILES / profile).read_text())["controls"]
    assert camera.config["controls"] == {"FrameRate": 15, **controls}


def test_profile_tuning_file_is_loaded_by_name_and_given_to_the_camera(
    world: CameraWorld,
) -> None:
    world.model = "imx219"
    camera = configured_camera(world, profile=PROFILES / "cm2-noir.toml")
    assert camera.tuning == world.tuning_files["imx219_noir.json"]


def test_hdr_profile_turns_sensor_hdr_on_before_the_camera_opens(world: CameraWorld) -> None:
    camera = configured_camera(world, profile=PROFILES / "cm3.toml")
    assert camera.sensor_hdr is True


def test_profile_without_hdr_turns_off_hdr_left_on_by_an_earlier_run(world: CameraWorld) -> None:
    world.sensor_hdr = True
    camera = configured_camera(world, profile=PROFILES / "cm3-noir.toml")
    assert camera.sensor_hdr is False


def test_without_a_profile_the_sensor_and_tuning_are_left_to_libcamera(
    world: CameraWorld,
) -> None:
    world.sensor_hdr = True
    camera = configured_camera(world)
    assert (camera.sensor_hdr, camera.tuning) == (True, None)


def test_hdr_profile_on_a_camera_module_2_is_a_profile_error_not_a_lost_camera(
    world: CameraWorld,
) -> None:
    world.model = "imx219"
    gaps: list[SourceGap] = []
    source = open_source("picamera2", profile=PROFILES / "cm3.toml", on_gap=gaps.append)
    with pytest.raises(CameraProfileError, match=r"cm3\.toml: sensor_hdr = true .* imx219"):
        take(source, 1)
    assert gaps == []
    assert world.cameras == []


def test_control_the_camera_lacks_is_a_profile_error_and_the_camera_is_closed(
    world: CameraWorld, tmp_path: Path
) -> None:
    world.model = "imx219"
    profile = write_profile(tmp_path / "focus.toml", "[controls]\nAfMode = 0\nLensPosition = 1.0")
    with pytest.raises(CameraProfileError, match=r"focus\.toml: .*no control AfMode, LensPosition"):
        take(open_source("picamera2", profile=profile), 1)
    assert [camera.closed for camera in world.cameras] == [True]


def test_tuning_file_libcamera_does_not_have_is_a_profile_error_naming_it(
    world: CameraWorld, tmp_path: Path
) -> None:
    profile = write_profile(tmp_path / "odd.toml", 'tuning_file = "imx999.json"')
    with pytest.raises(CameraProfileError, match=r"odd\.toml: tuning_file 'imx999\.json'"):
        take(open_source("picamera2", profile=profile), 1)
    assert world.cameras == []


def test_reopened_camera_keeps_rotation_and_profile(world: CameraWorld) -> None:
    world.missing_opens = 1
    world.frames_before_unplug = 2
    source = open_source(
        "picamera2",
        size=(64, 48),
        lores_size=(32, 24),
        initial_backoff_s=0.001,
        rotation=180,
        profile=PROFILES / "cm3.toml",
    )
    assert len(take(source, 5)) == 5
    assert len(world.cameras) == 3
    assert all(camera.sensor_hdr for camera in world.cameras)
    configs = [camera.config for camera in world.cameras]
    assert all(config == configs[0] for config in configs)
    assert configs[0]["transform"] == FakeTransform(hflip=1, vflip=1)
    assert configs[0]["controls"]["LensPosition"] == 0.7
