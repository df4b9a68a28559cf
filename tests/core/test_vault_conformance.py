"""Every C2SP age test vector (CCTV) in ../shared/testdata/age-cctv, run through our reader.

The vectors are read in place and never copied into the repository; the whole module
is skipped when the folder is absent. Hybrid (mlkem768x25519) vectors run like the
others; none is skipped.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edge.core.vault import (
    ArmorError,
    HeaderError,
    HeaderMACError,
    NoIdentityMatchError,
    PayloadError,
    ScryptIdentity,
    open_reader,
    parse_identities,
)
from edge.core.vault.stream import CHUNK_SIZE

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "age-cctv"

if not VECTORS.is_dir():
    pytest.skip(f"age test vectors not present at {VECTORS}", allow_module_level=True)

FAILURES = {
    "header failure": HeaderError,
    "HMAC failure": HeaderMACError,
    "armor failure": ArmorError,
    "payload failure": PayloadError,
    "no match": NoIdentityMatchError,
}


@dataclass
class Vector:
    expect: str = ""
    payload_sha256: str | None = None
    identities: list[str] = field(default_factory=list)
    passphrases: list[str] = field(default_factory=list)
    armored: bool = False
    body: bytes = b""


def parse_vector(path: Path) -> Vector:
    vector = Vector()
    rest = path.read_bytes()
    compressed = False
    while True:
        line, rest = rest.split(b"\n", 1)
        if not line:
            break
        key, value = line.decode().split(": ", 1)
        if key == "expect":
            assert value == "success" or value in FAILURES, value
            vector.expect = value
        elif key == "payload":
            vector.payload_sha256 = value
        elif key == "identity":
            vector.identities.append(value)
        elif key == "passphrase":
            vector.passphrases.append(value)
        elif key == "armored":
            vector.armored = True
        elif key == "compressed":
            assert value == "zlib"
            compressed = True
        else:
            assert key in ("file key", "comment"), key
    vector.body = zlib.decompress(rest) if compressed else rest
    return vector


def read_in_chunks(reader) -> tuple[bytes, Exception | None]:
    """All plaintext the reader hands out before it fails, and the failure if any."""
    out = bytearray()
    while True:
        try:
            data = reader.read(CHUNK_SIZE)
        except PayloadError as exc:
            return bytes(out), exc
        if not data:
            return bytes(out), None
        out += data


@pytest.mark.parametrize("path", sorted(VECTORS.iterdir()), ids=lambda p: p.name)
def test_cctv_vector(path: Path) -> None:
    vector = parse_vector(path)
    identities = parse_identities("\n".join(vector.identities)) if vector.identities else []
    identities += [ScryptIdentity(p) for p in vector.passphrases]

    if vector.expect in ("success", "payload failure"):
        reader = open_reader(identities, io.BytesIO(vector.body))
        plaintext, failure = read_in_chunks(reader)
        if vector.expect == "success":
            assert failure is None
        else:
            assert isinstance(failure, PayloadError)
        assert hashlib.sha256(plaintext).hexdigest() == vector.payload_sha256
    else:
        with pytest.raises(FAILURES[vector.expect]):
            open_reader(identities, io.BytesIO(vector.body)).read()
