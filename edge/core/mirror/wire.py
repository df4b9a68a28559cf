"""Mirror messages: one JSON header line, a newline, then the body bytes.

Three kinds, each on its own topic under the device prefix:

- `mirror/segment`: one chunk of a finished segment's age ciphertext. The header repeats
  the segment's signed index record (clip, n, sha256, device signature, times, state),
  the device's public key, the total size, the chunk number and count, and the chunk's
  offset and length. The receiver assembles the chunks, then checks hash and signature.
- `mirror/clip`: a clip's index row (status, times, faces), no body.
- `mirror/ledger`: complete ledger lines copied verbatim, `first` being the 0-based line
  number of the first; the body is the lines with their newlines.

Every field is checked on decoding; anything else is a `WireError` with one line saying
what is wrong, so the receiver can log it and drop the message.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from edge.core.store.layout import is_clip_id
from edge.core.strict_json import loads_strict

VERSION = 1
# A whole message, header included, never exceeds this.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_HEADER_BYTES = 4096
MAX_SEGMENT_BYTES = 1 << 31
MAX_CHUNKS = 1 << 14

_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{128}$")
_KEY = re.compile(r"^ed25519:[A-Za-z0-9+/]{43}=$")
_SEGMENT_STATES = ("stored", "recovered")
_CLIP_STATUSES = ("in_progress", "complete", "truncated", "deleted")


class WireError(ValueError):
    """A mirror message that is not well formed."""


@dataclass(frozen=True)
class SegmentChunk:
    """One chunk of one segment, with the segment's signed record."""

    device: str
    key: str
    clip_id: str
    n: int
    sha256: str
    signature: str
    started_at: float | None
    duration_s: float | None
    state: str
    size: int
    chunk: int
    chunks: int
    offset: int
    data: bytes


@dataclass(frozen=True)
class ClipUpdate:
    """A clip's index row as the device has it."""

    device: str
    key: str
    clip_id: str
    started_at: float
    ended_at: float | None
    duration_s: float | None
    status: str
    faces_redacted: int


@dataclass(frozen=True)
class LedgerLines:
    """Complete ledger lines starting at 0-based line `first`."""

    device: str
    key: str
    first: int
    lines: list[bytes]


Message = SegmentChunk | ClipUpdate | LedgerLines


def encode(header: dict[str, Any], body: bytes = b"") -> bytes:
    """One message: the compact JSON header, a newline, the body."""
    head = json.dumps(
        {"v": VERSION, **header, "len": len(body)}, separators=(",", ":"), sort_keys=True
    ).encode("ascii")
    message = head + b"\n" + body
    if len(head) > MAX_HEADER_BYTES or len(message) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(message)} bytes is over the mirror limit")
    return message


def segment_header(chunk: SegmentChunk) -> dict[str, Any]:
    """The header fields of a segment chunk (its `data` is the body)."""
    return {
        "type": "segment",
        "device": chunk.device,
        "key": chunk.key,
        "clip": chunk.clip_id,
        "n": chunk.n,
        "sha256": chunk.sha256,
        "sig": chunk.signature,
        "started_at": chunk.started_at,
        "duration_s": chunk.duration_s,
        "state": chunk.state,
        "size": chunk.size,
        "chunk": chunk.chunk,
        "chunks": chunk.chunks,
        "offset": chunk.offset,
    }


def encode_message(message: Message) -> bytes:
    """The wire bytes of any mirror message."""
    if isinstance(message, SegmentChunk):
        return encode(segment_header(message), message.data)
    if isinstance(message, ClipUpdate):
        return encode(
            {
                "type": "clip",
                "device": message.device,
                "key": message.key,
                "clip": message.clip_id,
                "started_at": message.started_at,
                "ended_at": message.ended_at,
                "duration_s": message.duration_s,
                "status": message.status,
                "faces_redacted": message.faces_redacted,
            }
        )
    body = b"".join(message.lines)
    return encode(
        {
            "type": "ledger",
            "device": message.device,
            "key": message.key,
            "first": message.first,
            "count": len(message.lines),
        },
        body,
    )


def decode(payload: bytes) -> Message:
    """Parse and check one message; raises WireError naming the first defect."""
    if len(payload) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(payload)} bytes is over {MAX_MESSAGE_BYTES}")
    newline = payload.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if newline < 0:
        raise WireError("no header line")
    try:
        header = loads_strict(payload[:newline])
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"header is not JSON: {str(exc)[:80]}") from None
    if not isinstance(header, dict):
        raise WireError("header is not a JSON object")
    body = payload[newline + 1 :]
    fields = _Fields(header)
    if fields.int("v", 1, 1) != VERSION:
        raise WireError("unknown version")
    if fields.int("len", 0, MAX_MESSAGE_BYTES) != len(body):
        raise WireError(f"body is {len(body)} bytes, header says {header.get('len')}")
    kind = fields.text("type", re.compile(r"^(segment|clip|ledger)$"))
    device = fields.text("device", _DEVICE_ID)
    key = fields.text("key", _KEY)
    if kind == "segment":
        message: Message = _segment(fields, device, key, body)
    elif kind == "clip":
        message = _clip(fields, device, key, body)
    else:
        message = _ledger(fields, device, key, body)
    fields.done()
    return message


def _segment(fields: _Fields, device: str, key: str, body: bytes) -> SegmentChunk:
    size = fields.int("size", 1, MAX_SEGMENT_BYTES)
    chunks = fields.int("chunks", 1, MAX_CHUNKS)
    chunk = fields.int("chunk", 0, chunks - 1)
    offset = fields.int("offset", 0, size - 1)
    if not body:
        raise WireError("segment chunk without data")
    if offset + len(body) > size:
        raise WireError(f"chunk {chunk} runs past the segment's {size} bytes")
    return SegmentChunk(
        device=device,
        key=key,
        clip_id=fields.clip_id("clip"),
        n=fields.int("n", 0, 999_999),
        sha256=fields.text("sha256", _SHA256),
        signature=fields.text("sig", _SIGNATURE),
        started_at=fields.time("started_at", optional=True),
        duration_s=fields.time("duration_s", optional=True),
        state=fields.choice("state", _SEGMENT_STATES),
        size=size,
        chunk=chunk,
        chunks=chunks,
        offset=offset,
        data=body,
    )


def _clip(fields: _Fields, device: str, key: str, body: bytes) -> ClipUpdate:
    if body:
        raise WireError("clip message with a body")
    started = fields.time("started_at", optional=False)
    assert started is not None
    return ClipUpdate(
        device=device,
        key=key,
        clip_id=fields.clip_id("clip"),
        started_at=started,
        ended_at=fields.time("ended_at", optional=True),
        duration_s=fields.time("duration_s", optional=True),
        status=fields.choice("status", _CLIP_STATUSES),
        faces_redacted=fields.int("faces_redacted", 0, 1 << 31),
    )


def _ledger(fields: _Fields, device: str, key: str, body: bytes) -> LedgerLines:
    first = fields.int("first", 0, 1 << 40)
    count = fields.int("count", 1, 1 << 20)
    if not body.endswith(b"\n"):
        raise WireError("ledger lines do not end with a newline")
    lines = [line + b"\n" for line in body[:-1].split(b"\n")]
    if len(lines) != count:
        raise WireError(f"{len(lines)} ledger lines, header says {count}")
    return LedgerLines(device=device, key=key, first=first, lines=lines)


class _Fields:
    """Typed access to header fields; `done` refuses fields nobody asked for."""

    def __init__(self, header: dict[str, Any]) -> None:
        self._header = header
        self._seen: set[str] = set()

    def _get(self, name: str) -> Any:
        if name not in self._header:
            raise WireError(f"header lacks {name!r}")
        self._seen.add(name)
        return self._header[name]

    def int(self, name: str, low: int, high: int) -> int:
        value = self._get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise WireError(f"{name} must be an integer in {low}..{high}")
        return value

    def text(self, name: str, pattern: re.Pattern[str]) -> str:
        value = self._get(name)
        if not isinstance(value, str) or pattern.match(value) is None:
            raise WireError(f"{name} is malformed: {str(value)[:80]!r}")
        return value

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self._get(name)
        if value not in allowed:
            raise WireError(f"{name} must be one of {', '.join(allowed)}")
        return str(value)

    def clip_id(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not is_clip_id(value):
            raise WireError(f"{name} is not a clip id: {str(value)[:80]!r}")
        return value

    def time(self, name: str, *, optional: bool) -> float | None:
        value = self._get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e11:
            raise WireError(f"{name} must be a number of seconds")
        return float(value)

    def done(self) -> None:
        extra = set(self._header) - self._seen
        if extra:
            raise WireError(f"unexpected header fields {sorted(extra)}")
