"""The hybrid post-quantum recipient type: `age1pq1…` public keys and `AGE-SECRET-KEY-PQ-1…`.

The file key is sealed with HPKE (RFC 9180) base mode: the MLKEM768-X25519 KEM (X-Wing,
draft-ietf-hpke-pq), HKDF-SHA256 and ChaCha20-Poly1305, info
"age-encryption.org/mlkem768x25519", empty aad. The stanza is
`-> mlkem768x25519 <base64 enc>` with the 32-byte HPKE ciphertext as its body.

An identity is a 32-byte seed; SHAKE256(seed, 96) gives the 64-byte ML-KEM-768 seed
(d || z) and the 32-byte X25519 private key. The public key is the ML-KEM encapsulation
key (1184 bytes) followed by the X25519 public key (32 bytes). `cryptography`'s HPKE
suite does the KEM, key schedule and AEAD; the conformance vectors and the spec's
example key check that it matches the spec (tests/core/test_vault_conformance.py).

The file is safe against a future quantum computer only if no classic stanza unlocks it
too, so these recipients carry the `postquantum` label and the writer refuses to mix
them with recipients without it (see `writer`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from edge.core.vault import bech32
from edge.core.vault.errors import HeaderError, InvalidKeyError
from edge.core.vault.format import FILE_KEY_SIZE, Stanza, b64decode, b64encode, first_file_key

STANZA_TYPE = "mlkem768x25519"
RECIPIENT_HRP = "age1pq"
IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
POST_QUANTUM = "postquantum"
_INFO = b"age-encryption.org/mlkem768x25519"
_SEED_SIZE = 32
_MLKEM_PUBLIC_SIZE = 1184
_MLKEM_CIPHERTEXT_SIZE = 1088
_X25519_SIZE = 32
PUBLIC_KEY_SIZE = _MLKEM_PUBLIC_SIZE + _X25519_SIZE
ENC_SIZE = _MLKEM_CIPHERTEXT_SIZE + _X25519_SIZE
_SEALED_SIZE = FILE_KEY_SIZE + 16
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


def _expand_seed(seed: bytes) -> tuple[MLKEM768PrivateKey, X25519PrivateKey]:
    shake = hashes.Hash(hashes.SHAKE256(digest_size=64 + _X25519_SIZE))
    shake.update(seed)
    expanded = shake.finalize()
    return (
        MLKEM768PrivateKey.from_seed_bytes(expanded[:64]),
        X25519PrivateKey.from_private_bytes(expanded[64:]),
    )


class MLKEM768X25519Recipient:
    """An `age1pq1…` hybrid public key; files encrypted to it open only with its identity."""

    labels = frozenset({POST_QUANTUM})

    def __init__(self, public_key: bytes) -> None:
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise InvalidKeyError(f"an MLKEM768-X25519 public key is {PUBLIC_KEY_SIZE} bytes")
        try:
            mlkem = MLKEM768PublicKey.from_public_bytes(public_key[:_MLKEM_PUBLIC_SIZE])
            x25519 = X25519PublicKey.from_public_bytes(public_key[_MLKEM_PUBLIC_SIZE:])
        except ValueError:
            raise InvalidKeyError("invalid MLKEM768-X25519 public key") from None
        self.public_key = bytes(public_key)
        self._key = hpke.MLKEM768X25519PublicKey(mlkem, x25519)

    @classmethod
    def parse(cls, text: str) -> MLKEM768X25519Recipient:
        """Parse an `age1pq1…` string (Bech32 without a length limit, lowercase)."""
        try:
            hrp, data = bech32.decode(text)
        except ValueError as exc:
            raise InvalidKeyError(f"invalid age recipient {text[:20]!r}…: {exc}") from None
        if hrp != RECIPIENT_HRP or text != text.lower():
            raise InvalidKeyError(f"invalid age recipient {text[:20]!r}…: not an age1pq1… key")
        try:
            return cls(data)
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"invalid age recipient {text[:20]!r}…: {exc}") from None

    def __str__(self) -> str:
        return bech32.encode(RECIPIENT_HRP, self.public_key)

    def __repr__(self) -> str:
        return f"MLKEM768X25519Recipient({str(self)[:24]}…)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MLKEM768X25519Recipient):
            return NotImplemented
        return self.public_key == other.public_key

    def __hash__(self) -> int:
        return hash(self.public_key)

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """One stanza sealing `file_key` to this key with a fresh HPKE encapsulation."""
        sealed = _SUITE.encrypt(file_key, self._key, info=_INFO)
        enc, body = sealed[:ENC_SIZE], sealed[ENC_SIZE:]
        return [Stanza(type=STANZA_TYPE, args=(b64encode(enc),), body=body)]


class MLKEM768X25519Identity:
    """An `AGE-SECRET-KEY-PQ-1…` hybrid private key (a 32-byte seed)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != _SEED_SIZE:
            raise InvalidKeyError("an MLKEM768-X25519 identity is a 32-byte seed")
        self._seed = bytes(seed)
        mlkem, x25519 = _expand_seed(self._seed)
        self._x25519 = x25519
        self._key = hpke.MLKEM768X25519PrivateKey(mlkem, x25519)
        self._public = (
            mlkem.public_key().public_bytes_raw() + x25519.public_key().public_bytes_raw()
        )

    @classmethod
    def generate(cls) -> MLKEM768X25519Identity:
        """A new random identity."""
        return cls(os.urandom(_SEED_SIZE))

    @classmethod
    def parse(cls, text: str) -> MLKEM768X25519Identity:
        """Parse an `AGE-SECRET-KEY-PQ-1…` string (uppercase)."""
        try:
            hrp, data = bech32.decode(text)
        except ValueError as exc:
            raise InvalidKeyError(f"invalid age identity: {exc}") from None
        if hrp != IDENTITY_HRP.lower() or text != text.upper() or len(data) != _SEED_SIZE:
            raise InvalidKeyError("invalid age identity: not an AGE-SECRET-KEY-PQ-1… hybrid key")
        return cls(data)

    @property
    def recipient(self) -> MLKEM768X25519Recipient:
        """The public `age1pq1…` recipient that encrypts to this identity."""
        return MLKEM768X25519Recipient(self._public)

    def __str__(self) -> str:
        return bech32.encode(IDENTITY_HRP, self._seed).upper()

    def __repr__(self) -> str:
        return f"MLKEM768X25519Identity(recipient={str(self.recipient)[:24]}…)"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key from the first mlkem768x25519 stanza addressed to us, or None."""
        return first_file_key(stanzas, STANZA_TYPE, self._unwrap_one)

    def _unwrap_one(self, stanza: Stanza) -> bytes | None:
        if len(stanza.args) != 1:
            raise HeaderError("mlkem768x25519 stanza must have exactly one argument")
        try:
            enc = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("mlkem768x25519 stanza enc is not canonical base64") from None
        if len(enc) != ENC_SIZE:
            raise HeaderError(f"mlkem768x25519 stanza enc is not {ENC_SIZE} bytes")
        # Checked before decrypting: a body of another size would let an attacker probe
        # keys through a partitioning oracle.
        if len(stanza.body) != _SEALED_SIZE:
            raise HeaderError("mlkem768x25519 stanza body is not a sealed 16-byte file key")
        try:
            # The X25519 half must not be a low-order point (an all-zero shared secret);
            # ML-KEM rejects a wrong ciphertext implicitly, seen as a failed open below.
            self._x25519.exchange(X25519PublicKey.from_public_bytes(enc[_MLKEM_CIPHERTEXT_SIZE:]))
        except ValueError:
            raise HeaderError("mlkem768x25519 stanza enc has a low-order X25519 share") from None
        try:
            return _SUITE.decrypt(enc + stanza.body, self._key, info=_INFO)
        except InvalidTag:
            return None
