"""The home server witness's own Ed25519 key, with which it cosigns checkpoints.

Kept in one file (PKCS#8 PEM, 0600) next to the watcher's database, made on first start
and never replaced; its public half (`ed25519:…`) is what a share recipient or an
auditor pins with `--witness-key`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.keytext import public_key_text


class WitnessKeyError(Exception):
    """The key file exists but is not an Ed25519 private key."""


@dataclass(frozen=True)
class WitnessKey:
    """The witness's signing key."""

    private_key: Ed25519PrivateKey

    @property
    def signing_public(self) -> str:
        """The public key as `ed25519:<base64>`."""
        return public_key_text(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature over `message`."""
        return self.private_key.sign(message)


def load_or_create_witness_key(path: Path) -> WitnessKey:
    """Load the key at `path`, creating it (0600, never overwriting) when missing."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made by another process meanwhile: load that one
        else:
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise WitnessKeyError(f"cannot read the witness key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessKeyError(f"{path} is not an Ed25519 private key")
    return WitnessKey(key)
