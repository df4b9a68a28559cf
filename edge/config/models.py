"""Pydantic models for `doorbell.toml`, one per section; the models are the documentation.

Every field has a default, a description and its bounds, so validation errors, the
JSON Schema (`doorbell config schema`) and the commented example config all come from
here. Keys marked fixed are written by tools outside the project and must not change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

Point = Annotated[
    tuple[
        Annotated[float, Field(ge=0.0, le=1.0)],
        Annotated[float, Field(ge=0.0, le=1.0)],
    ],
    Field(description="[x, y] in 0..1 of the frame width and height"),
]


def _check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    return points


Polygon = Annotated[list[Point], AfterValidator(_check_polygon)]

_AGE_RECIPIENT = re.compile(r"^age1[02-9ac-hj-np-z]{58}$")
_SIGNING_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=$")
_CAMERA_SOURCE = re.compile(r"^(picamera2|v4l2:/dev/video\d+|rtsps?://\S+|file:.+)$")


class Section(BaseModel):
    """Base of every section: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DeviceConfig(Section):
    """Identity of this doorbell."""

    id: str = Field(
        default="doorbell",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Device id (fixed key): letters, digits, '-' and '_'; used in MQTT topics.",
    )
    name: str = Field(
        default="Front door",
        min_length=1,
        max_length=100,
        description="Human-readable name shown in Home Assistant.",
    )


class CameraConfig(Section):
    """Where frames come from and at what size."""

    source: str = Field(
        default="picamera2",
        description=(
            "Frame source (fixed key): 'picamera2', 'v4l2:/dev/videoN', 'rtsp://...' "
            "or 'file:PATH'."
        ),
    )
    width: int = Field(default=1280, ge=160, le=3840, description="Recording width in pixels.")
    height: int = Field(default=720, ge=120, le=2160, description="Recording height in pixels.")
    fps: int = Field(default=15, ge=1, le=60, description="Frames per second to capture.")
    rotation: Literal[0, 180] = Field(
        default=0, description="Rotate the image by this many degrees (0 or 180)."
    )
    button_gpio: int | None = Field(
        default=None,
        ge=0,
        le=27,
        description="BCM GPIO pin of a doorbell push button (Pi only); none when unset.",
        json_schema_extra={"example": 17},
    )

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        if not _CAMERA_SOURCE.match(value):
            raise ValueError("must be 'picamera2', 'v4l2:/dev/videoN', 'rtsp://...' or 'file:PATH'")
        return value


class MotionConfig(Section):
    """Motion detection on a small grayscale copy of each frame."""

    zones: list[Polygon] = Field(
        default_factory=list,
        description=(
            "Motion zones (fixed key): polygons of [x, y] in 0..1; only motion inside them "
            "counts. Empty list = the whole frame."
        ),
        json_schema_extra={"example": [[[0.2, 0.45], [0.8, 0.45], [1.0, 1.0], [0.0, 1.0]]]},
    )
    min_frames: int = Field(
        default=2,
        ge=1,
        le=30,
        description="Consecutive frames with motion before motion counts as started.",
    )


class PrivacyConfig(Section):
    """What is obscured in every stored frame."""

    public_areas: list[Polygon] = Field(
        default_factory=list,
        description=(
            "Public areas (fixed key): polygons of [x, y] in 0..1 (street, sidewalk, the "
            "neighbour's door), obscured in every frame. Empty list = none."
        ),
        json_schema_extra={"example": [[[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]]},
    )
    style: Literal["mosaic", "fill", "blur"] = Field(
        default="mosaic",
        description="How regions are obscured: 'mosaic' (coarse blocks), 'fill' or 'blur'.",
    )


class FacesConfig(Section):
    """Face detection and tracking; faces are obscured after the public areas."""

    enabled: bool = Field(
        default=True,
        description="Detect and obscure faces. Off only for cameras that never see a face.",
    )
    on_failure: Literal["obscure", "drop"] = Field(
        default="obscure",
        description=(
            "When detection fails or is late for a frame: 'obscure' the whole frame or "
            "'drop' it. Either way it is never stored as it is."
        ),
    )


class RecordingConfig(Section):
    """When clips start and stop and how they are cut into segments."""

    pre_seconds: float = Field(
        default=2.0, ge=0.0, le=10.0, description="Seconds of pre-roll kept in RAM."
    )
    post_seconds: float = Field(
        default=3.0, ge=0.0, le=60.0, description="Seconds to keep recording after motion ends."
    )
    min_seconds: float = Field(default=3.0, ge=0.0, le=60.0, description="Shortest clip.")
    max_seconds: float = Field(
        default=120.0, ge=5.0, le=3600.0, description="Longest clip; longer events split."
    )
    segment_seconds: float = Field(
        default=2.0,
        ge=0.5,
        le=60.0,
        description="Length of each encrypted segment; each starts on a keyframe.",
    )
    crf: int = Field(
        default=23, ge=0, le=51, description="H.264 quality for libx264 (lower is better)."
    )


class StorageConfig(Section):
    """The state directory and how much of the disk clips may use."""

    path: Path = Field(
        default=Path("/var/lib/doorbell"),
        description="State directory (fixed key): index, ledger, clips and device key.",
    )
    retention_days: float = Field(
        default=30.0, ge=0.1, le=3650.0, description="Delete clips older than this."
    )
    max_bytes: int = Field(
        default=8 * 1024**3,
        ge=1024**2,
        description="Quota for all clips together; oldest clips are deleted beyond it.",
    )
    min_free_bytes: int = Field(
        default=512 * 1024**2,
        ge=0,
        description="Keep at least this much of the filesystem free; oldest clips go first.",
    )


class OwnerConfig(Section):
    """The owner's public keys. The private keys never have to be on the device."""

    recipients: list[str] = Field(
        default_factory=list,
        description="Owner age recipients (fixed key): 'age1...' keys clips are encrypted to.",
        json_schema_extra={
            "example": ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]
        },
    )
    signing_keys: list[str] = Field(
        default_factory=list,
        description="Owner signing public keys ('ed25519:...') that may sign ledger entries.",
        json_schema_extra={"example": ["ed25519:" + "A" * 43 + "="]},
    )

    @field_validator("recipients")
    @classmethod
    def _age_recipients(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _AGE_RECIPIENT.match(value):
                raise ValueError(f"{value!r} is not an age X25519 recipient ('age1' + 58 chars)")
        return values

    @field_validator("signing_keys")
    @classmethod
    def _signing_keys(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SIGNING_KEY.match(value):
                raise ValueError(f"{value!r} is not 'ed25519:' + base64 of 32 bytes")
        return values


class MqttConfig(Section):
    """Metadata-only publishing to the home server's broker."""

    enabled: bool = Field(default=False, description="Publish metadata over MQTT (fixed key).")
    host: str = Field(
        default="localhost", min_length=1, description="Broker host name or address (fixed key)."
    )
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (fixed key).")


class Config(Section):
    """The whole `doorbell.toml`."""

    device: DeviceConfig = Field(default_factory=DeviceConfig)
    camera: CameraConfig = Field(default_factory=CameraConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    faces: FacesConfig = Field(default_factory=FacesConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    owner: OwnerConfig = Field(default_factory=OwnerConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
