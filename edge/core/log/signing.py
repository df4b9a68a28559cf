"""Ed25519 signatures in the text form used by the ledger and share manifests.

Public keys are written `ed25519:<base64 of 32 bytes>` (the form of `owner.signing_keys`
and of the store's `device.pub`), signatures as plain base64. Anything with
`signing_public` and `sign(bytes)` can sign: `edge.owner.owner_key.OwnerKey` does as it is,
and so does the device key (`edge.device.store.device_key.DeviceKey`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol

from edge.core.keytext import parse_public_key, verify


class Signer(Protocol):
    """A holder of an Ed25519 private key."""

    @property
    def signing_public(self) -> str:
        """The public key as `ed25519:<base64>`."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `message`."""
        ...


def encode_signature(signature: bytes) -> str:
    """Base64 text of a signature."""
    return base64.b64encode(signature).decode("ascii")


def signature_is_valid(public_key: str, message: bytes, signature: str) -> bool:
    """True if base64 `signature` is `public_key`'s signature of `message`; False on any defect."""
    try:
        key = parse_public_key(public_key)
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        return False
    return verify(key, message, raw)
