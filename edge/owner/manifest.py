"""The share manifest: what a share package holds, where it came from, signed by the owner.

`manifest.json` lists each clip with its times and, per segment, the file in the package
with its hash, the hash of the plaintext inside, and the hash of the ciphertext the
device stored with the device's signature over it (provenance back to the doorbell).
The owner signs the canonical JSON of everything but `signature`; a recipient needs
only the owner's and the device's public keys, both in the manifest, to check it, and
should compare the owner key with one they got from the owner directly.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edge.core.log.canonical import canonical_json, sha256_hex
from edge.core.log.signing import Signer, encode_signature, signature_is_valid
from edge.core.strict_json import loads_strict

MANIFEST_NAME = "manifest.json"
FORMAT = "doorbell-share/1"
SEGMENT_SIGNATURE_SCHEME = "doorbell-edge segment v1"

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
SigningKey = Annotated[str, Field(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$")]
ClipId = Annotated[str, Field(pattern=r"^\d{8}T\d{6}Z-[0-9a-f]{4}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class ManifestSegment(_Strict):
    """One segment file of the package."""

    n: int = Field(ge=0, le=999_999)
    file: str = Field(description="Path in the package: <clip id>/<n>.mp4.age")
    size: int = Field(ge=0)
    sha256: Sha256Hex = Field(description="SHA-256 of the file in the package")
    plaintext_sha256: Sha256Hex = Field(description="SHA-256 of the MP4 inside")
    original_sha256: Sha256Hex = Field(description="SHA-256 of the ciphertext the device stored")
    original_size: int = Field(ge=0)
    device_signature: str = Field(pattern=r"^[0-9a-f]{128}$")
    state: Literal["stored", "recovered"]


class ManifestClip(_Strict):
    """One clip: its id, times and segments in order."""

    id: ClipId
    start: str
    end: str | None
    status: Literal["complete", "truncated"]
    segments: list[ManifestSegment] = Field(min_length=1)


class ManifestDevice(_Strict):
    """The doorbell the clips come from."""

    id: str
    signing_key: SigningKey
    segment_signature: Literal["doorbell-edge segment v1"]


class Manifest(_Strict):
    """The whole `manifest.json`."""

    format: Literal["doorbell-share/1"]
    created: str
    purpose: str | None
    expires: str | None
    recipient: str
    request: str | None
    device: ManifestDevice
    owner_signing_key: SigningKey
    clips: list[ManifestClip]
    signature: str


def sign_manifest(unsigned: dict[str, Any], owner: Signer) -> dict[str, Any]:
    """Add the owner's signing key and signature to a manifest dict."""
    body = {**unsigned, "owner_signing_key": owner.signing_public}
    return {**body, "signature": encode_signature(owner.sign(canonical_json(body)))}


def manifest_signature_is_valid(manifest: dict[str, Any]) -> bool:
    """Whether the owner signature in a parsed manifest covers the rest of it."""
    body = {key: value for key, value in manifest.items() if key != "signature"}
    return signature_is_valid(
        str(manifest.get("owner_signing_key")),
        canonical_json(body),
        str(manifest.get("signature")),
    )


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """Hash of the canonical signed manifest; the ledger's `clip.shared` entry pins it."""
    return sha256_hex(canonical_json(manifest))


def render_manifest(manifest: dict[str, Any]) -> bytes:
    """The bytes of `manifest.json`: indented for people; the signature is over canonical JSON."""
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def load_manifest(data: bytes) -> tuple[dict[str, Any], Manifest]:
    """Parse `manifest.json` strictly (no duplicate keys, no floats, no unknown fields)."""
    raw = loads_strict(data, fractions=False)
    return raw, Manifest.model_validate(raw)
