"""Signed notes (C2SP signed-note): text followed by a blank line and signature lines.

A note is UTF-8 text ending in a newline, a blank line, then one or more lines
`— <key name> <base64(4-byte key ID || signature)>`. The key ID is the first four bytes
of SHA-256(key name || 0x0A || signature type || public key), so a verifier that holds a
public key can pick out the lines that claim to be from it: type 0x01 is a plain Ed25519
signature over the text (a checkpoint signed by the device), type 0x04 a timestamped
cosignature (see `edge.core.log.cosignature`). Lines from unknown keys are ignored, as
the spec requires; a line from a known key that does not verify rejects the note.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from edge.core.keytext import parse_public_key, verify
from edge.core.log.signing import Signer

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
MAX_NOTE_BYTES = 64 * 1024
MAX_SIGNATURES = 32
_DASH = "\u2014 "


class NoteError(ValueError):
    """A note that is malformed, or not signed by the key asked for."""


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as it appears in a note, with its newline."""
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_DASH}{self.name} {blob}\n"


def raw_public_key(public_key: str) -> bytes:
    """The 32 bytes of an `ed25519:…` public key."""
    return parse_public_key(public_key).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def key_id(name: str, signature_type: int, public_key: str) -> bytes:
    """SHA-256(name || 0x0A || type || public key)[:4], the note key ID."""
    data = name.encode() + b"\n" + bytes([signature_type]) + raw_public_key(public_key)
    return hashlib.sha256(data).digest()[:4]


def check_key_name(name: str) -> None:
    """Raise NoteError unless `name` is a valid key name (non-empty, no spaces or `+`)."""
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise NoteError(f"{name!r} is not a note key name (no spaces, no '+', not empty)")


def sign_note(text: str, name: str, signer: Signer) -> str:
    """The signed note of `text` with one Ed25519 signature by `signer` under `name`."""
    _check_text(text)
    check_key_name(name)
    signature = NoteSignature(
        name, key_id(name, ED25519, signer.signing_public), signer.sign(text.encode())
    )
    return text + "\n" + signature.line()


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines; NoteError if malformed."""
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise NoteError(f"note longer than {MAX_NOTE_BYTES} bytes")
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise NoteError("note contains a control character")
    if not note.endswith("\n"):
        raise NoteError("note does not end with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    signatures = [_parse_line(line) for line in block.splitlines()]
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"note needs 1 to {MAX_SIGNATURES} signature lines")
    return text, signatures


def _parse_line(line: str) -> NoteSignature:
    if not line.startswith(_DASH):
        raise NoteError(f"not a signature line: {line[:40]!r}")
    parts = line[len(_DASH) :].split(" ")
    if len(parts) != 2:
        raise NoteError(f"malformed signature line: {line[:40]!r}")
    name, blob = parts
    check_key_name(name)
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"signature of {name} is not base64") from None
    if len(raw) < 5:
        raise NoteError(f"signature of {name} is too short")
    return NoteSignature(name, raw[:4], raw[4:])


def verified_text(note: str, public_key: str) -> tuple[str, str]:
    """(text, key name) of a note with a valid Ed25519 signature by `public_key`.

    NoteError when no line is from that key, or a line from it does not verify.
    """
    text, signatures = parse_note(note)
    found = None
    for sig in signatures:
        if sig.key_id != key_id(sig.name, ED25519, public_key):
            continue  # another key's line (a cosignature, another signer): ignored
        if len(sig.signature) != 64 or not verify(public_key, text.encode(), sig.signature):
            raise NoteError(f"the signature of {sig.name} by {public_key} does not verify")
        found = sig.name
    if found is None:
        raise NoteError(f"not signed by {public_key}")
    return text, found


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise NoteError("note text must be non-empty lines, each ending in a newline")
