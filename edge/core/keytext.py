"""The one text form of an Ed25519 public key, `ed25519:<base64 of 32 bytes>`, and checking
a signature against it.

Device keys (`device.pub`), owner signing keys (`owner.signing_keys`, the owner key file)
and the keys a share manifest names all use it. Parsing is strict: canonical padded
base64 of exactly 32 bytes, so one key has one spelling and two spellings never compare
unequal for the same key.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PREFIX = "ed25519:"


def public_key_text(key: Ed25519PublicKey) -> str:
    """`ed25519:<base64>` of a public key."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PREFIX + base64.b64encode(raw).decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Read an `ed25519:<base64>` public key (surrounding whitespace allowed); ValueError
    naming the defect when it is not one."""
    text = text.strip()
    if not text.startswith(PREFIX):
        raise ValueError(f"not an ed25519 public key (must start with {PREFIX!r}): {text!r}")
    body = text.removeprefix(PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"bad base64 in public key: {text!r}") from None
    if base64.b64encode(raw).decode("ascii") != body:
        raise ValueError(f"public key is not canonical base64: {text!r}")
    if len(raw) != 32:
        raise ValueError(f"an ed25519 public key has 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(public_key: Ed25519PublicKey | str, message: bytes, signature: bytes) -> bool:
    """True when `signature` is the key's signature over `message`; a key in text form that
    does not parse raises ValueError."""
    key = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
