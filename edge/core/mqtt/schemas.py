"""The payload of every topic the doorbell publishes, as strict pydantic models.

These models are the contract with Home Assistant and the home-server watcher: each
JSON payload carries a `schema` version and RFC 3339 UTC times, unknown fields are
refused, and no field can hold image data (ids and hashes are short, bounded strings).
The publisher validates every payload against them before it leaves the device.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from edge.core.log.checkpoint import parse_checkpoint_text
from edge.core.log.note import parse_note
from edge.core.mqtt import topics
from edge.core.timestamps import rfc3339

SCHEMA_VERSION = 1


def _must_be_utc(value: datetime) -> datetime:
    if value.utcoffset() != UTC.utcoffset(None):
        raise ValueError("time must be in UTC")
    return value.astimezone(UTC)


UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(_must_be_utc),
    PlainSerializer(rfc3339, return_type=str),
    Field(description="RFC 3339 time in UTC"),
]
Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"),
]
Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]
ZoneIndex = Annotated[int, Field(ge=0, le=255)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Payload(BaseModel):
    """Base of every JSON payload: strict, immutable, versioned."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    TOPIC: ClassVar[str]

    schema_version: Literal[1] = Field(default=SCHEMA_VERSION, alias="schema")

    def to_json(self) -> str:
        """Serialise with the wire field names (`schema`, not `schema_version`)."""
        return self.model_dump_json(by_alias=True)


class EventStarted(Payload):
    """Motion started inside the zones: a recording began."""

    TOPIC: ClassVar[str] = topics.EVENT_STARTED

    id: Identifier
    time: UtcTime
    zones: list[ZoneIndex] = Field(
        max_length=64, description="Indexes of motion zones that saw motion; empty = whole frame"
    )
    peak_score: Fraction = Field(description="Largest changed fraction of the zone area so far")


class EventEnded(Payload):
    """The motion event is over (after the post-roll)."""

    TOPIC: ClassVar[str] = topics.EVENT_ENDED

    id: Identifier
    time: UtcTime
    started: UtcTime
    zones: list[ZoneIndex] = Field(max_length=64)
    peak_score: Fraction


class ClipStored(Payload):
    """A clip is on disk, encrypted to the owner; hashes are of the ciphertext segments."""

    TOPIC: ClassVar[str] = topics.CLIP_STORED

    id: Identifier
    status: Literal["complete", "truncated"] = Field(
        description="truncated: cut short by a fault or a power cut (closed at restart)"
    )
    start: UtcTime
    duration_s: float = Field(ge=0.0, le=86_400.0, allow_inf_nan=False)
    segments: int = Field(ge=0, le=100_000)
    bytes: Count
    ciphertext_sha256: list[Sha256Hex] = Field(max_length=100_000)
    faces_redacted: Count
    time: UtcTime

    @model_validator(mode="after")
    def _one_hash_per_segment(self) -> ClipStored:
        if len(self.ciphertext_sha256) != self.segments:
            raise ValueError("ciphertext_sha256 needs exactly one hash per segment")
        return self


class ClipDeleted(Payload):
    """A clip was deleted by retention (age), the quota, to keep disk space free, or by
    the owner (whose stated reason stays on the device)."""

    TOPIC: ClassVar[str] = topics.CLIP_DELETED

    id: Identifier
    reason: Literal["retention", "quota", "free_space", "owner"]
    time: UtcTime


class RequestStatus(Payload):
    """A footage request's state; never who asked or what they asked for."""

    TOPIC: ClassVar[str] = topics.REQUEST_STATUS

    id: Identifier
    status: Literal["pending", "approved", "denied"]
    time: UtcTime


class DoorbellPress(Payload):
    """Someone pressed the doorbell button (a Home Assistant `event` entity)."""

    TOPIC: ClassVar[str] = topics.DOORBELL

    event_type: Literal["press"] = "press"
    time: UtcTime


class StorageUsage(BaseModel):
    """Bytes used by clips and bytes free on the state directory's filesystem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    used_bytes: Count
    free_bytes: Count


class LedgerHead(BaseModel):
    """The newest entry of the audit ledger; a witness checks it only ever extends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: Count
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class Health(Payload):
    """Published every `mqtt.health_interval_s` seconds, retained."""

    TOPIC: ClassVar[str] = topics.HEALTH

    time: UtcTime
    interval_s: float = Field(gt=0.0, le=86_400.0, allow_inf_nan=False)
    uptime_s: float = Field(ge=0.0, allow_inf_nan=False)
    fps: float = Field(ge=0.0, le=1000.0, allow_inf_nan=False)
    dropped_frames: Count
    redaction_fail_closed: Count = Field(
        description="Frames dropped or fully obscured because face detection failed"
    )
    storage: StorageUsage
    cpu_temp_c: float | None = Field(default=None, ge=-60.0, le=150.0, allow_inf_nan=False)
    ledger_head: LedgerHead | None = None
    privacy_mode: bool
    recording_stopped: str | None = Field(
        default=None,
        max_length=300,
        description="Why recording has stopped (a full disk with nothing left to delete, "
        "a storage fault); null while the device can record",
    )
    mirror_backlog: Count | None = Field(
        default=None,
        description="Finished segments not yet mirrored to the home server; null without a mirror",
    )
    unmirrored_deleted: Count | None = Field(
        default=None,
        description="Clips the full disk forced retention to delete before they were "
        "mirrored, since start; null without a mirror",
    )


Base64Hash = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class LedgerCheckpoint(Payload):
    """The device's signed checkpoint of its audit log, and the consistency proof from the
    checkpoint before it (`previous_size`, null for the first one).

    The signed note is sent in pieces (origin, size, root, key ID, signature as two hex
    halves) because the image guard refuses any base64 run longer than 64 characters;
    `note()` puts the exact signed bytes back together.
    """

    TOPIC: ClassVar[str] = topics.LEDGER_CHECKPOINT

    key: str = Field(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$", description="device signing key")
    origin: str = Field(min_length=1, max_length=120, pattern=r"^[!-*,-~]+$")
    size: Count
    root: Base64Hash
    key_id: str = Field(pattern=r"^[0-9a-f]{8}$")
    signature: list[Hex64] = Field(min_length=2, max_length=2)
    previous_size: Count | None
    consistency: list[Base64Hash] = Field(max_length=64)
    time: UtcTime

    @classmethod
    def from_note(
        cls,
        key: str,
        note: str,
        previous_size: int | None,
        consistency: list[bytes],
        time: datetime,
    ) -> LedgerCheckpoint:
        """The payload of a signed checkpoint note (exactly one signature line)."""
        text, signatures = parse_note(note)
        checkpoint = parse_checkpoint_text(text)
        if len(signatures) != 1 or len(signatures[0].signature) != 64:
            raise ValueError("a device checkpoint has exactly one Ed25519 signature")
        signature = signatures[0].signature.hex()
        return cls(
            key=key,
            origin=checkpoint.origin,
            size=checkpoint.size,
            root=base64.b64encode(checkpoint.root).decode(),
            key_id=signatures[0].key_id.hex(),
            signature=[signature[:64], signature[64:]],
            previous_size=previous_size,
            consistency=[base64.b64encode(h).decode() for h in consistency],
            time=time,
        )

    def note(self) -> str:
        """The signed checkpoint note, byte for byte as the device signed it."""
        blob = bytes.fromhex(self.key_id + "".join(self.signature))
        line = f"\u2014 {self.origin} {base64.b64encode(blob).decode()}\n"
        return f"{self.origin}\n{self.size}\n{self.root}\n\n{line}"

    def proof(self) -> list[bytes]:
        """The consistency proof as hashes."""
        return [base64.b64decode(h) for h in self.consistency]


JSON_MODELS: dict[str, type[Payload]] = {
    model.TOPIC: model
    for model in (
        EventStarted,
        EventEnded,
        ClipStored,
        ClipDeleted,
        RequestStatus,
        DoorbellPress,
        Health,
        LedgerCheckpoint,
    )
}
PLAIN_VALUES: dict[str, frozenset[str]] = {
    topics.AVAILABILITY: frozenset({topics.ONLINE, topics.OFFLINE}),
    topics.MOTION: frozenset({"ON", "OFF"}),
    topics.PRIVACY: frozenset({"ON", "OFF"}),
}


class PayloadError(ValueError):
    """A payload that does not match the documented schema of its topic."""


def outbox_event(payload: Payload) -> tuple[str, str]:
    """Turn an event payload into the store's `(topic suffix, JSON text)` outbox event.

    State and doorbell presses are published directly, so they are refused here.
    """
    if payload.TOPIC not in topics.OUTBOX_TOPICS:
        raise PayloadError(f"{payload.TOPIC} is published directly, not through the outbox")
    return payload.TOPIC, payload.to_json()


def validate_payload(suffix: str, data: bytes | str) -> Payload | str:
    """Check a payload against the schema of its topic suffix; return the parsed value.

    Raises `PayloadError` naming what is wrong.
    """
    text = data.decode("utf-8", errors="strict") if isinstance(data, bytes) else data
    if suffix in PLAIN_VALUES:
        if text not in PLAIN_VALUES[suffix]:
            allowed = ", ".join(sorted(PLAIN_VALUES[suffix]))
            raise PayloadError(f"{suffix}: {text[:20]!r} is not one of {allowed}")
        return text
    model = JSON_MODELS.get(suffix)
    if model is None:
        raise PayloadError(f"{suffix}: not a published topic")
    try:
        # Strict: a number sent as a string, or a missing `Z`, is a bug in the sender.
        return model.model_validate_json(text, strict=True)
    except (ValueError, ValidationError) as exc:
        raise PayloadError(f"{suffix}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(part) for part in err["loc"]) or "payload"
        return f"{where}: {err['msg']}"[:300]
    return " ".join(str(exc).split())[:300]
