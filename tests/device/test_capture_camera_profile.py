"""Camera profiles load from TOML, and every mistake names the file and the key.

The shipped profiles in firmware_configs/camera/ are the ones DEPLOY.md tells people to
use, so each must load exactly as written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from edge.device.capture import open_source
from edge.device.capture.camera_profile import CameraProfileError, load_camera_profile

SHIPPED = sorted(
    (Path(__file__).resolve().parents[2] / "firmware_configs" / "camera").glob("*.toml")
)


def profile_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "door.toml"
    path.write_text(text)
    return path


def test_the_four_documented_profiles_are_shipped() -> None:
    assert [p.name for p in SHIPPED] == ["cm2-noir.toml", "cm2.toml", "cm3-noir.toml", "cm3.toml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_profile_loads_as_written(path: Path) -> None:
    data = tomllib.loads(path.read_text())
    profile = load_camera_profile(path)

    assert profile.path == path
    assert (profile.tuning_file, profile.sensor_hdr) == (data["tuning_file"], data["sensor_hdr"])
    assert profile.controls == data["controls"]
    assert profile.controls, "a profile without controls sets nothing at the door"


def test_empty_profile_means_libcamera_defaults(tmp_path: Path) -> None:
    profile = load_camera_profile(profile_file(tmp_path, ""))
    assert (profile.tuning_file, profile.sensor_hdr, profile.controls) == ("", False, {})


def test_integer_given_for_a_float_control_is_passed_as_a_float(tmp_path: Path) -> None:
    profile = load_camera_profile(profile_file(tmp_path, "[controls]\nExposureValue = 1"))
    assert profile.controls == {"ExposureValue": 1.0}
    assert isinstance(profile.controls["ExposureValue"], float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[controls]\nAwbMode = 1", r"controls\.AwbMode: unknown control; known: AeMeteringMode"),
        ("hdr = true", r"hdr: unknown key; known: tuning_file, sensor_hdr, controls"),
        ("[controls]\nAeMeteringMode = 0.5", r"controls\.AeMeteringMode: .*valid integer"),
        ("[controls]\nAeMeteringMode = 4", r"controls\.AeMeteringMode: .*less than or equal to 3"),
        ("[controls]\nSaturation = true", r"controls\.Saturation: .*valid number"),
        ("[controls]\nExposureValue = -9.0", r"controls\.ExposureValue: .*greater than or equal"),
        ('sensor_hdr = "yes"', r"sensor_hdr: .*valid boolean"),
        ('tuning_file = "imx219_noir"', r"tuning_file: .*\.json tuning file"),
        ("controls = 1", r"controls: must be a table \(\[controls\]\)"),
        (
            "[controls]\nAfMode = 2\nLensPosition = 0.7",
            r"controls: .*LensPosition only .*AfMode = 0",
        ),
    ],
)
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = profile_file(tmp_path, text)
    with pytest.raises(CameraProfileError, match=rf"^camera profile {path}: {message}"):
        load_camera_profile(path)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = profile_file(tmp_path, "[controls\nSaturation = 0")
    with pytest.raises(CameraProfileError, match=rf"camera profile {path}: cannot read it"):
        load_camera_profile(path)


def test_missing_profile_fails_when_the_source_is_opened_not_later(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(CameraProfileError, match=rf"camera profile {path}: cannot read it"):
        open_source("picamera2", profile=path)
