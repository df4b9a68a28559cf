"""Camera profiles: the TOML files in `firmware_configs/camera/` that set up a Pi camera
module for a door (tuning file, on-sensor HDR, libcamera controls).

A profile is checked when the camera source is opened, so a typo stops the doorbell at
start with the file and key named instead of leaving a camera that ignores a setting.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails


class CameraProfileError(ValueError):
    """A camera profile that cannot be read, is invalid, or does not suit the camera."""


class ProfileControls(BaseModel):
    """The libcamera controls a profile may set, with the ranges libcamera accepts.

    Enum controls are given as their numbers, as Picamera2's `controls=` takes them.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    AeMeteringMode: int | None = Field(
        default=None, ge=0, le=3, description="0 centre-weighted, 1 spot, 2 matrix, 3 custom."
    )
    AeConstraintMode: int | None = Field(
        default=None, ge=0, le=3, description="0 normal, 1 highlight, 2 shadows, 3 custom."
    )
    AeExposureMode: int | None = Field(
        default=None, ge=0, le=3, description="0 normal, 1 short, 2 long, 3 custom."
    )
    ExposureValue: float | None = Field(
        default=None, ge=-8.0, le=8.0, description="Exposure compensation in stops."
    )
    Saturation: float | None = Field(
        default=None, ge=0.0, le=32.0, description="Colour saturation: 0 grey, 1 normal."
    )
    AfMode: int | None = Field(
        default=None, ge=0, le=2, description="0 manual (LensPosition), 1 auto, 2 continuous."
    )
    LensPosition: float | None = Field(
        default=None, ge=0.0, le=32.0, description="Focus in dioptres: 1 / distance in metres."
    )

    @model_validator(mode="after")
    def _lens_position_needs_manual_focus(self) -> ProfileControls:
        # libcamera ignores LensPosition while autofocus runs: the focus would silently drift.
        if self.LensPosition is not None and self.AfMode not in (None, 0):
            raise ValueError("LensPosition only takes effect with AfMode = 0 (manual)")
        return self


class ProfileFile(BaseModel):
    """The keys of a camera profile file."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    tuning_file: str = Field(
        default="",
        description=(
            "libcamera tuning file: a name in libcamera's tuning directory (vc4 on a Pi 4, "
            "pisp on a Pi 5) or an absolute path; '' = the sensor's default."
        ),
    )
    sensor_hdr: bool = Field(
        default=False,
        description="On-sensor HDR of the IMX708 (Camera Module 3) against a bright background.",
    )
    controls: ProfileControls = Field(
        default_factory=ProfileControls, description="libcamera controls by name."
    )

    @field_validator("tuning_file")
    @classmethod
    def _tuning_file_is_json(cls, value: str) -> str:
        if value and not value.endswith(".json"):
            raise ValueError('must name a .json tuning file, or be "" for the sensor\'s default')
        return value


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """A checked profile; `path` names it in later errors (a profile that does not suit the
    camera)."""

    path: Path
    tuning_file: str
    sensor_hdr: bool
    controls: dict[str, int | float]


def load_camera_profile(path: Path) -> CameraProfile:
    """Read and check the profile at `path`; any problem is a CameraProfileError naming it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CameraProfileError(f"camera profile {path}: cannot read it: {exc}") from exc
    try:
        checked = ProfileFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(error) for error in exc.errors())
        raise CameraProfileError(f"camera profile {path}: {problems}") from None
    return CameraProfile(
        path=path,
        tuning_file=checked.tuning_file,
        sensor_hdr=checked.sensor_hdr,
        controls=checked.controls.model_dump(exclude_none=True),
    )


def _describe(error: ErrorDetails) -> str:
    key = ".".join(str(part) for part in error["loc"])
    match error["type"]:
        case "extra_forbidden":
            model = ProfileControls if error["loc"][0] == "controls" else ProfileFile
            kind = "control" if model is ProfileControls else "key"
            return f"{key}: unknown {kind}; known: {', '.join(model.model_fields)}"
        case "model_type":
            return f"{key}: must be a table ([{key}])"
        case "value_error":
            return f"{key}: {error['ctx']['error']}"
    return f"{key}: {error['msg']}"
