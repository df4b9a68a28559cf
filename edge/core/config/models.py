"""Pydantic models for `doorbell.toml`, one per section; the models are the documentation.

Every field has a default, a description and its bounds, so validation errors, the
JSON Schema (`doorbell config schema`) and the commented example config all come from
here. Keys marked fixed are written by tools outside the project and must not change.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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
# Hybrid MLKEM768-X25519: 1216 key bytes are 1946 Bech32 characters, plus a 6-character checksum.
_AGE_PQ_RECIPIENT = re.compile(r"^age1pq1[02-9ac-hj-np-z]{1952}$")
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
    area: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Home Assistant area suggested for the doorbell (e.g. 'Hallway').",
        json_schema_extra={"example": "Hallway"},
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
    profile: Path | None = Field(
        default=None,
        description=(
            "Camera profile for the picamera2 source: a TOML file naming the libcamera "
            "tuning file and the controls that matter at a door (backlight exposure, IR "
            "night, focus); see firmware_configs/camera/. None = libcamera's defaults."
        ),
        json_schema_extra={"example": "/etc/doorbell/camera/cm3.toml"},
    )

    @model_validator(mode="after")
    def _profile_needs_the_pi_camera(self) -> CameraConfig:
        if self.profile is not None and self.source != "picamera2":
            raise ValueError(
                f"profile is for the picamera2 source only, not {self.source!r}; remove it"
            )
        return self

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
        default=3,
        ge=1,
        le=30,
        description="Consecutive frames with motion before motion counts as started.",
    )
    frame_height: int = Field(
        default=180,
        ge=45,
        le=480,
        description=(
            "Height in pixels of the small grayscale copy motion works on; the width "
            "follows the frame's aspect ratio."
        ),
    )
    threshold: int = Field(
        default=15,
        ge=1,
        le=255,
        description="Brightness difference (0-255) from the background that marks a change.",
    )
    min_area: float = Field(
        default=0.0003,
        ge=0.0,
        le=0.5,
        description="Smallest moving blob that counts, as a fraction of the frame area.",
    )
    min_inside: float = Field(
        default=0.45,
        ge=0.0,
        le=1.0,
        description=(
            "A moving blob counts only where it stands in the zones: straight above the "
            "middle of its bottom (its feet), at least this share of its height must lie "
            "inside them, so that passers-by whose legs reach into the zone's far edge do "
            "not count."
        ),
    )
    foot_margin: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description=(
            "...and the feet must stand at least this share of the frame height inside "
            "the zones, measured straight up from them to the zone's far edge."
        ),
    )
    background_seconds: float = Field(
        default=1.0,
        ge=0.1,
        le=60.0,
        description="Time constant of the running-average background, in seconds.",
    )
    global_fraction: float = Field(
        default=0.1,
        ge=0.05,
        le=1.0,
        description=(
            "When lighting (a light switched, the IR day/night switch, an exposure jump) "
            "changes more than this fraction of the frame at once, the background is "
            "re-learnt fast. Lighting never counts as motion either way."
        ),
    )
    relearn_seconds: float = Field(
        default=0.5,
        ge=0.0,
        le=10.0,
        description=(
            "Seconds of fast background re-learning after a whole-frame change (light "
            "switched, IR switch, exposure jump)."
        ),
    )
    warmup_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=2.0,
        description="Seconds of fast background learning after start before motion is reported.",
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
        description=(
            "Detect and obscure faces. Off only for cameras that never see a face, and only "
            "together with store_faces_unobscured = true."
        ),
    )
    store_faces_unobscured: bool = Field(
        default=False,
        description=(
            "The owner's acknowledgement that with enabled = false every face in view is "
            "stored as it is. Needed to switch face redaction off; ignored otherwise."
        ),
    )
    on_failure: Literal["obscure", "drop"] = Field(
        default="obscure",
        description=(
            "When detection fails or is late for a frame: 'obscure' the whole frame or "
            "'drop' it. Either way it is never stored as it is."
        ),
    )
    min_face_px: int = Field(
        default=48,
        ge=16,
        le=400,
        description=(
            "Smallest face height (px of the recorded frame) the periodic scan must find "
            "outside public areas. Halving it costs about four times the CPU; faces in "
            "public areas are covered by the public-area mask whatever their size."
        ),
    )
    scan_every: int = Field(
        default=2,
        ge=1,
        le=15,
        description=(
            "Scan the parts of the non-public area that changed for new faces every N "
            "frames. Tracked faces are looked for every frame, and the top of moving "
            "shapes is covered until a face is found there."
        ),
    )
    full_scan_every: int = Field(
        default=16,
        ge=1,
        le=300,
        description=(
            "Scan all of the non-public area every N frames (rounded to a scan frame), "
            "changed or not: finds faces that were there before the camera started."
        ),
    )
    threshold: float = Field(
        default=0.2,
        ge=0.05,
        le=0.95,
        description="Detector score from which a new face is tracked (lower finds more).",
    )
    track_threshold: float = Field(
        default=0.1,
        ge=0.02,
        le=0.95,
        description="Detector score that keeps an already tracked face (near where expected).",
    )
    keep_seconds: float = Field(
        default=1.0,
        ge=0.0,
        le=10.0,
        description="Keep obscuring a face this long after its last detection.",
    )
    margin: float = Field(
        default=0.3,
        ge=0.0,
        le=2.0,
        description="Grow each face box by this share of its size on every side.",
    )
    cover_moving_heads: bool = Field(
        default=True,
        description=(
            "Also obscure the heads of every moving shape (found on its outline) in which no "
            "face was detected in that frame: people too motion-blurred for the detector, "
            "or just come into view. Only heads: bodies, hands and parcels stay visible."
        ),
    )
    budget_ms: float = Field(
        default=250.0,
        ge=5.0,
        le=5000.0,
        description=(
            "Time allowed for face detection per frame; a frame whose detection takes "
            "longer is handled like a failure (see on_failure)."
        ),
    )

    @model_validator(mode="after")
    def _off_only_when_acknowledged(self) -> FacesConfig:
        if not self.enabled and not self.store_faces_unobscured:
            raise ValueError(
                "enabled = false stores every face in view unobscured: keep enabled = true, "
                "or also set store_faces_unobscured = true if that is what you mean"
            )
        return self


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

    @model_validator(mode="after")
    def _lengths_fit(self) -> RecordingConfig:
        if self.max_seconds <= self.pre_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds}) must be longer than pre_seconds "
                f"({self.pre_seconds})"
            )
        if self.max_seconds < self.min_seconds:
            raise ValueError(
                f"max_seconds ({self.max_seconds}) must be at least min_seconds "
                f"({self.min_seconds})"
            )
        return self


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
            if not (_AGE_RECIPIENT.match(value) or _AGE_PQ_RECIPIENT.match(value)):
                shown = value if len(value) <= 70 else value[:60] + "..."
                raise ValueError(
                    f"{shown!r} is not an age recipient: expected a hybrid post-quantum key "
                    "('age1pq1' + 1952 chars) or a classic X25519 key ('age1' + 58 chars)"
                )
        kinds = {value.startswith("age1pq1") for value in values}
        if len(kinds) > 1:
            raise ValueError(
                "mixes post-quantum (age1pq1...) and classic (age1...) recipients; a file "
                "encrypted to both is only as safe as the classic key, so list one kind only"
            )
        return values

    @field_validator("signing_keys")
    @classmethod
    def _signing_keys(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _SIGNING_KEY.match(value):
                raise ValueError(f"{value!r} is not 'ed25519:' + base64 of 32 bytes")
        return values


_LOOPBACK_HOSTS = frozenset({"localhost", "::1", "ip6-localhost"})


class MqttConfig(Section):
    """Metadata-only publishing to the home server's broker (never images, by design)."""

    enabled: bool = Field(default=False, description="Publish metadata over MQTT (fixed key).")
    host: str = Field(
        default="localhost", min_length=1, description="Broker host name or address (fixed key)."
    )
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (fixed key).")
    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="User name for the broker; none for an anonymous connection.",
        json_schema_extra={"example": "doorbell"},
    )
    password_file: Path | None = Field(
        default=None,
        description="File whose first line is the broker password (keep it mode 0600).",
        json_schema_extra={"example": "/etc/doorbell/mqtt-password"},
    )
    tls: bool = Field(
        default=False,
        description="Connect with TLS (the broker's TLS port).",
        json_schema_extra={"example": True},
    )
    tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificate(s) that signed the broker's certificate; none = system CAs.",
        json_schema_extra={"example": "/etc/doorbell/mqtt-ca.crt"},
    )
    tls_certfile: Path | None = Field(
        default=None, description="Client certificate for brokers that require one."
    )
    tls_keyfile: Path | None = Field(
        default=None, description="Private key of the client certificate."
    )
    tls_insecure: bool = Field(
        default=False,
        description=(
            "Accept a broker certificate that does not name `host` (its chain is still checked)."
        ),
    )
    client_id: str = Field(
        default="",
        max_length=128,
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="MQTT client id; empty = 'doorbell-<device.id>'.",
    )
    topic_prefix: str = Field(
        default="",
        max_length=128,
        pattern=r"^([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?$",
        description="Prefix of every topic; empty = 'doorbell/<device.id>'.",
    )
    discovery: bool = Field(default=True, description="Announce entities to Home Assistant.")
    discovery_prefix: str = Field(
        default="homeassistant",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        description="Home Assistant's MQTT discovery prefix.",
    )
    password_in_clear: bool = Field(
        default=False,
        description=(
            "The owner's acknowledgement that with tls = false the broker password crosses "
            "the network unencrypted. Needed for a password without TLS to a broker that is "
            "not on this machine."
        ),
    )
    allow_remote_unpause: bool = Field(
        default=False,
        description=(
            "Let a network command switch privacy mode off again. Switching it on is always "
            "allowed; off is otherwise only possible on the device."
        ),
    )
    health_interval_s: float = Field(
        default=60.0, ge=5.0, le=3600.0, description="Seconds between health messages."
    )
    keepalive: int = Field(
        default=60, ge=5, le=3600, description="MQTT keepalive in seconds (dead link detection)."
    )
    outbox_keep_delivered: int = Field(
        default=1000,
        ge=0,
        le=1_000_000,
        description="Delivered outbox rows kept for inspection; older ones are pruned.",
    )

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> MqttConfig:
        if self.password_file is not None and self.username is None:
            raise ValueError("password_file needs a username")
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("tls_certfile and tls_keyfile go together")
        uses_tls_files = self.tls_ca_file or self.tls_certfile or self.tls_insecure
        if uses_tls_files and not self.tls:
            raise ValueError("tls_* settings need tls = true")
        on_this_machine = self.host in _LOOPBACK_HOSTS or self.host.startswith("127.")
        if (
            self.password_file
            and not self.tls
            and not on_this_machine
            and not self.password_in_clear
        ):
            raise ValueError(
                f"password_file with tls = false would send the broker password to {self.host} "
                "unencrypted: set tls = true (recommended), or password_in_clear = true if "
                "you accept that"
            )
        return self


class MirrorConfig(Section):
    """Copy finished segments (ciphertext), their signed records and the ledger home."""

    enabled: bool = Field(
        default=False,
        description=(
            "Send to `doorbell mirror` on the home server through the [mqtt] broker "
            "(needs mqtt.enabled)."
        ),
    )
    chunk_bytes: int = Field(
        default=240 * 1024,
        ge=4 * 1024,
        le=252 * 1024,
        description="Ciphertext bytes per MQTT message; with its header a message stays "
        "under 256 KiB.",
    )
    window: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Mirror messages awaiting the broker's PUBACK at once (a doorbell press "
        "queues behind at most this many).",
    )
    replay_wait_s: float = Field(
        default=60.0,
        ge=0.0,
        le=3600.0,
        description="Seconds `doorbell replay` waits at the end for the broker to take "
        "its segments.",
    )


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
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)

    @model_validator(mode="after")
    def _mirror_needs_mqtt(self) -> Config:
        if self.mirror.enabled and not self.mqtt.enabled:
            raise ValueError("mirror.enabled needs mqtt.enabled: the mirror uses that connection")
        return self

    @model_validator(mode="after")
    def _device_key_is_no_owner_key(self) -> Config:
        # The device's own key as an owner key would let whoever holds the device sign
        # owner decisions (shares, approvals) that then verify.
        try:
            device_key = (Path(self.storage.path) / "device.pub").read_text("ascii").strip()
        except (OSError, UnicodeError):
            return self
        if device_key in self.owner.signing_keys:
            raise ValueError(
                f"owner.signing_keys: {device_key} is this device's own key (device.pub); "
                "an owner key must come from `doorbell keygen` on the owner's machine"
            )
        return self
