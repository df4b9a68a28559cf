"""Signed notes, checkpoints and cosignatures: the C2SP examples, then round trips and forgeries."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.keytext import public_key_text
from edge.core.log.checkpoint import (
    Checkpoint,
    cosign,
    cosignature_time,
    open_checkpoint,
    origin_for,
    parse_checkpoint_text,
    sign_checkpoint,
)
from edge.core.log.note import NoteError, key_id, parse_note, verified_text


class KeySigner:
    """A throwaway Ed25519 signer."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()

    @property
    def signing_public(self) -> str:
        return public_key_text(self._key.public_key())

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


# c2sp.org/signed-note, "Example": a verifier key and the note it verifies.
EXAMPLE_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_NOTE = (
    "This is an example message.\n\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjO"
    "BH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
# c2sp.org/tlog-cosignature: a checkpoint with a log signature and a cosignature.
EXAMPLE_COSIGNED = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJ"
    "sX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def test_signed_note_example_verifies() -> None:
    name, hex_id, blob = EXAMPLE_VKEY.split("+")
    raw = base64.b64decode(blob)
    assert raw[0] == 0x01
    public = "ed25519:" + base64.b64encode(raw[1:]).decode()
    assert key_id(name, 0x01, public).hex() == hex_id
    text, signer = verified_text(EXAMPLE_NOTE, public)
    assert (text, signer) == ("This is an example message.\n", "example.com/foo")
    edited = EXAMPLE_NOTE.replace("example message", "exemplary message")
    with pytest.raises(NoteError, match="does not verify"):
        verified_text(edited, public)


def test_cosignature_example_layout() -> None:
    text, signatures = parse_note(EXAMPLE_COSIGNED)
    checkpoint = parse_checkpoint_text(text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    witness = signatures[1]
    assert witness.name == "witness.example.com/w1"
    # The spec's signed-message example uses this timestamp: the layout is id || u64 || sig.
    assert struct.unpack(">Q", witness.signature[:8])[0] == 1679315147
    assert len(witness.signature) == 8 + 64


def test_checkpoint_round_trip_and_cosignature() -> None:
    device, witness, stranger = KeySigner(), KeySigner(), KeySigner()
    checkpoint = Checkpoint(origin_for("front-door"), 7, bytes(range(32)))
    note = sign_checkpoint(checkpoint, device)
    assert note.startswith("doorbell-edge.local/front-door\n7\n")
    assert open_checkpoint(note, device.signing_public) == checkpoint
    with pytest.raises(NoteError, match="not signed by"):
        open_checkpoint(note, stranger.signing_public)
    assert cosignature_time(note, witness.signing_public) is None
    cosigned = cosign(note, "home.example/witness", witness, 1_700_000_000)
    assert open_checkpoint(cosigned, device.signing_public) == checkpoint
    assert cosignature_time(cosigned, witness.signing_public) == 1_700_000_000
    assert cosignature_time(cosigned, stranger.signing_public) is None
    # The device key's plain signature is not a cosignature (different key ID type).
    assert cosignature_time(note, device.signing_public) is None


def test_forged_checkpoints_are_refused() -> None:
    device = KeySigner()
    note = sign_checkpoint(Checkpoint(origin_for("d"), 3, bytes(32)), device)
    public = device.signing_public
    bigger = note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(NoteError, match="does not verify"):
        open_checkpoint(bigger, public)
    for broken in (note[:-1], note.replace("\n\n", "\n"), note + "junk\n", "\x01" + note):
        with pytest.raises(NoteError):
            open_checkpoint(broken, public)
    witness = KeySigner()
    cosigned = cosign(note, "w", witness, 5)
    tampered = cosigned[:-10] + ("A" if cosigned[-10] != "A" else "B") + cosigned[-9:]
    with pytest.raises(NoteError):
        cosignature_time(tampered, witness.signing_public)
