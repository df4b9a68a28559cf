"""The device's Ed25519 signing key: made once on first start, then loaded.

Every stored segment is signed with it, so the owner can later show that a ciphertext
came from this doorbell unchanged. `device.key` (PKCS#8 PEM, 0600) is created atomically:
written to `device.key.partial` (O_EXCL), fsynced, then hard-linked into place, which
fails rather than replace an existing key and never leaves a half-written key behind.
`device.pub` holds the public key as `ed25519:<base64>`, the same form as
`owner.signing_keys`, and is rewritten from the private key whenever it is missing or wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.keytext import public_key_text
from edge.core.store.errors import StorageError
from edge.core.store.layout import DEVICE_KEY_NAME, DEVICE_PUB_NAME, PARTIAL_SUFFIX, fsync_dir

KEY_NAME = DEVICE_KEY_NAME
PUB_NAME = DEVICE_PUB_NAME


@dataclass(frozen=True)
class DeviceKey:
    """The device signing key and its public form."""

    private_key: Ed25519PrivateKey

    @property
    def public_text(self) -> str:
        """The public key as `ed25519:<base64 of 32 bytes>`."""
        return public_key_text(self.private_key.public_key())

    @property
    def signing_public(self) -> str:
        """The same, under the name `edge.core.log.signing.Signer` asks for."""
        return self.public_text

    def sign(self, message: bytes) -> bytes:
        """An Ed25519 signature (64 bytes) over `message`."""
        return self.private_key.sign(message)


def load_or_create(state_dir: Path) -> DeviceKey:
    """Load `state_dir/device.key`, creating it (and `device.pub`) on first start."""
    key_path = state_dir / KEY_NAME
    # Two processes starting together (daemon and a tool) must not both make a key; an
    # flock on the directory itself serialises them without any extra lock file.
    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if not key_path.exists():
            _create(key_path)
        key = _load(key_path)
        _ensure_public_file(state_dir / PUB_NAME, key)
    finally:
        os.close(fd)
    return key


def _create(key_path: Path) -> None:
    staging = key_path.with_name(key_path.name + PARTIAL_SUFFIX)
    # A staging file left by a power cut was never linked, so no signature was ever made
    # with it; it is safe to discard.
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_durably(staging, pem, 0o600, exclusive=True)
    try:
        os.link(staging, key_path)
    finally:
        staging.unlink()
    fsync_dir(key_path.parent)


def _load(key_path: Path) -> DeviceKey:
    try:
        data = key_path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read device key {key_path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StorageError(f"device key {key_path} is not an Ed25519 key")
    return DeviceKey(key)


def _ensure_public_file(pub_path: Path, key: DeviceKey) -> None:
    text = key.public_text + "\n"
    with contextlib.suppress(OSError):
        if pub_path.read_text(encoding="ascii") == text:
            return
    staging = pub_path.with_name(pub_path.name + PARTIAL_SUFFIX)
    _write_durably(staging, text.encode("ascii"), 0o644, exclusive=False)
    os.replace(staging, pub_path)
    fsync_dir(pub_path.parent)


def _write_durably(path: Path, data: bytes, mode: int, *, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with open(os.open(path, flags, mode), "wb") as file:
        # The umask must not decide who can read the key: set the mode explicitly.
        os.fchmod(file.fileno(), mode)
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
