"""Checkpoints (C2SP tlog-checkpoint) and cosignatures (C2SP tlog-cosignature, Ed25519).

A checkpoint is the note text

    <origin>
    <tree size in decimal>
    <base64 of the 32-byte root hash>

signed by the device key under the origin as key name. A witness that checked the
checkpoint extends the last one it saw adds a cosignature line: key type 0x04, and the
signature is `timestamp (u64, big-endian) || Ed25519 signature` over
`cosignature/v1\\ntime <timestamp>\\n` followed by the checkpoint text.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from edge.core.keytext import verify
from edge.core.log.note import (
    COSIGNATURE_V1,
    NoteError,
    NoteSignature,
    check_key_name,
    key_id,
    parse_note,
    sign_note,
    verified_text,
)
from edge.core.log.signing import Signer

ORIGIN_PREFIX = "doorbell-edge.local/"
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,18})$")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: which log, how many leaves, and the root hash."""

    origin: str
    size: int
    root: bytes

    def text(self) -> str:
        """The checkpoint note text (what is signed)."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def origin_for(device_id: str) -> str:
    """The origin line of a device's log: `doorbell-edge.local/<device id>`."""
    origin = ORIGIN_PREFIX + device_id
    check_key_name(origin)
    return origin


def parse_checkpoint_text(text: str) -> Checkpoint:
    """Read a checkpoint text; NoteError naming what is wrong."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise NoteError("a checkpoint has an origin, a size and a root hash line")
    origin, size, root = lines[0], lines[1], lines[2]
    check_key_name(origin)
    if not _SIZE.match(size):
        raise NoteError(f"checkpoint size {size[:20]!r} is not a decimal number")
    try:
        raw = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError("checkpoint root hash is not base64") from None
    if len(raw) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes")
    return Checkpoint(origin, int(size), raw)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The signed note of `checkpoint`, signed by the log's key under its origin."""
    return sign_note(checkpoint.text(), checkpoint.origin, signer)


def open_checkpoint(note: str, log_key: str) -> Checkpoint:
    """The checkpoint of a note signed by `log_key` under its origin; NoteError otherwise."""
    text, name = verified_text(note, log_key)
    checkpoint = parse_checkpoint_text(text)
    if name != checkpoint.origin:
        raise NoteError(f"signed as {name}, but the checkpoint's origin is {checkpoint.origin}")
    return checkpoint


def _cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def cosign(note: str, name: str, signer: Signer, timestamp: int) -> str:
    """The note with a cosignature line by `signer` (the witness) under `name` added."""
    check_key_name(name)
    if not 0 <= timestamp < 2**63:
        raise ValueError("cosignature timestamp out of range")
    text, _signatures = parse_note(note)
    signature = signer.sign(_cosigned_message(text, timestamp))
    line = NoteSignature(
        name,
        key_id(name, COSIGNATURE_V1, signer.signing_public),
        struct.pack(">Q", timestamp) + signature,
    )
    return note + line.line()


def cosignature_time(note: str, witness_key: str) -> int | None:
    """The timestamp of a valid cosignature by `witness_key` in `note`, None if it has none.

    A line that claims to be from the witness but does not verify raises NoteError.
    """
    text, signatures = parse_note(note)
    found = None
    for sig in signatures:
        if sig.key_id != key_id(sig.name, COSIGNATURE_V1, witness_key):
            continue
        if len(sig.signature) != 8 + 64:
            raise NoteError(f"cosignature of {sig.name} has the wrong length")
        (timestamp,) = struct.unpack(">Q", sig.signature[:8])
        if not verify(witness_key, _cosigned_message(text, timestamp), sig.signature[8:]):
            raise NoteError(f"the cosignature of {sig.name} does not verify")
        found = timestamp if found is None else max(found, timestamp)
    return found
