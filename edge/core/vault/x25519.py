"""The X25519 recipient type: `age1…` public keys and `AGE-SECRET-KEY-1…` identities.

Each stanza wraps the file key with ChaCha20-Poly1305 under a key derived by HKDF from
an ephemeral X25519 exchange, so only the holder of the identity can unwrap it.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.core.vault import bech32
from edge.core.vault.errors import HeaderError, InvalidKeyError
from edge.core.vault.format import FILE_KEY_SIZE, Stanza, b64decode, b64encode, first_file_key

STANZA_TYPE = "X25519"
RECIPIENT_HRP = "age"
IDENTITY_HRP = "AGE-SECRET-KEY-"
_LABEL = b"age-encryption.org/v1/X25519"
_KEY_SIZE = 32
_ZERO_NONCE = bytes(12)
_WRAPPED_SIZE = FILE_KEY_SIZE + 16


def _wrap_key(shared_secret: bytes, share: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=share + recipient, info=_LABEL).derive(
        shared_secret
    )


class X25519Recipient:
    """An `age1…` public key; files encrypted to it open only with its identity."""

    __slots__ = ("public_key",)

    def __init__(self, public_key: bytes) -> None:
        self.public_key = bytes(public_key)

    def __repr__(self) -> str:
        return f"X25519Recipient({self})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, X25519Recipient):
            return NotImplemented
        return self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)

    @classmethod
    def parse(cls, text: str) -> X25519Recipient:
        """Parse an `age1…` string."""
        try:
            hrp, data = bech32.decode(text)
        except ValueError as exc:
            raise InvalidKeyError(f"invalid age recipient {text!r}: {exc}") from None
        if hrp != RECIPIENT_HRP or text != text.lower() or len(data) != _KEY_SIZE:
            raise InvalidKeyError(f"invalid age recipient {text!r}: not an age1… X25519 key")
        return cls(data)

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_key)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """One stanza carrying `file_key` for this recipient, with a fresh ephemeral key."""
        ephemeral = X25519PrivateKey.generate()
        share = ephemeral.public_key().public_bytes_raw()
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        key = _wrap_key(shared, share, self.public_key)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza(type=STANZA_TYPE, args=(b64encode(share),), body=body)]


class X25519Identity:
    """An `AGE-SECRET-KEY-1…` private key."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != _KEY_SIZE:
            raise InvalidKeyError("an X25519 identity is 32 bytes")
        self._key = X25519PrivateKey.from_private_bytes(secret)
        self._public = self._key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> X25519Identity:
        """A new random identity."""
        return cls(X25519PrivateKey.generate().private_bytes_raw())

    @classmethod
    def parse(cls, text: str) -> X25519Identity:
        """Parse an `AGE-SECRET-KEY-1…` string."""
        try:
            hrp, data = bech32.decode(text)
        except ValueError as exc:
            raise InvalidKeyError(f"invalid age identity: {exc}") from None
        if hrp != IDENTITY_HRP.lower() or text != text.upper() or len(data) != _KEY_SIZE:
            raise InvalidKeyError("invalid age identity: not an AGE-SECRET-KEY-1… X25519 key")
        return cls(data)

    @property
    def recipient(self) -> X25519Recipient:
        """The public recipient that encrypts to this identity."""
        return X25519Recipient(self._public)

    def __str__(self) -> str:
        return bech32.encode(IDENTITY_HRP, self._key.private_bytes_raw()).upper()

    def __repr__(self) -> str:
        return f"X25519Identity(recipient={self.recipient})"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first X25519 stanza addressed to us, or None."""
        return first_file_key(stanzas, STANZA_TYPE, self._unwrap_one)

    def _unwrap_one(self, stanza: Stanza) -> bytes | None:
        if len(stanza.args) != 1:
            raise HeaderError("X25519 stanza must have exactly one argument")
        try:
            share = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("X25519 stanza share is not canonical base64") from None
        if len(share) != _KEY_SIZE:
            raise HeaderError("X25519 stanza share is not 32 bytes")
        # Checked before decrypting: a body of another size would let an attacker probe
        # keys through a partitioning oracle.
        if len(stanza.body) != _WRAPPED_SIZE:
            raise HeaderError("X25519 stanza body is not a wrapped 16-byte file key")
        try:
            shared = self._key.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:
            raise HeaderError("X25519 stanza share is a low-order point") from None
        key = _wrap_key(shared, share, self._public)
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None
