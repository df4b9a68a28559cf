"""The scrypt (passphrase) recipient type, used for the owner's key file.

The work factor is bounded on both sides: we never write one we would refuse to read,
and we refuse headers that would make us spend minutes and gigabytes on scrypt.
An scrypt stanza must be alone in its header, because a passphrase-encrypted file is
expected to be readable only by whoever knows the passphrase.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from edge.core.vault.errors import HeaderError
from edge.core.vault.format import FILE_KEY_SIZE, Stanza, b64decode, b64encode

STANZA_TYPE = "scrypt"
DEFAULT_WORK_FACTOR = 18
# Same ceiling as the age CLI: 2**22 iterations take tens of seconds and 4 GiB.
MAX_WORK_FACTOR = 22
_LABEL = b"age-encryption.org/v1/scrypt"
_SALT_SIZE = 16
_ZERO_NONCE = bytes(12)
_WRAPPED_SIZE = FILE_KEY_SIZE + 16
_DECIMAL = re.compile(r"[1-9][0-9]*")


def _passphrase_bytes(passphrase: bytes | str) -> bytes:
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if not data:
        raise ValueError("the passphrase is empty")
    return data


def _wrap_key(passphrase: bytes, salt: bytes, work_factor: int) -> bytes:
    kdf = Scrypt(salt=_LABEL + salt, length=32, n=1 << work_factor, r=8, p=1)
    return kdf.derive(passphrase)


class ScryptRecipient:
    """Encrypts the file key to a passphrase."""

    def __init__(self, passphrase: bytes | str, work_factor: int = DEFAULT_WORK_FACTOR) -> None:
        if not 1 <= work_factor <= MAX_WORK_FACTOR:
            raise ValueError(f"scrypt work factor must be 1..{MAX_WORK_FACTOR}")
        self._passphrase = _passphrase_bytes(passphrase)
        self.work_factor = work_factor

    def __repr__(self) -> str:
        return f"ScryptRecipient(work_factor={self.work_factor})"

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """One scrypt stanza with a fresh salt."""
        salt = os.urandom(_SALT_SIZE)
        key = _wrap_key(self._passphrase, salt, self.work_factor)
        body = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)
        return [Stanza(type=STANZA_TYPE, args=(b64encode(salt), str(self.work_factor)), body=body)]


class ScryptIdentity:
    """Decrypts files encrypted to a passphrase."""

    def __init__(self, passphrase: bytes | str, max_work_factor: int = MAX_WORK_FACTOR) -> None:
        self._passphrase = _passphrase_bytes(passphrase)
        self._max_work_factor = max_work_factor

    def __repr__(self) -> str:
        return "ScryptIdentity(…)"

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key if the header is passphrase-encrypted with our passphrase, else None."""
        scrypt = [s for s in stanzas if s.type == STANZA_TYPE]
        if not scrypt:
            return None
        if len(stanzas) != 1:
            raise HeaderError("an scrypt stanza must be the only stanza in the header")
        stanza = scrypt[0]
        if len(stanza.args) != 2:
            raise HeaderError("scrypt stanza must have a salt and a work factor")
        try:
            salt = b64decode(stanza.args[0])
        except ValueError:
            raise HeaderError("scrypt salt is not canonical base64") from None
        if len(salt) != _SALT_SIZE:
            raise HeaderError("scrypt salt is not 16 bytes")
        if not _DECIMAL.fullmatch(stanza.args[1]):
            raise HeaderError(f"scrypt work factor {stanza.args[1]!r} is not a plain decimal")
        work_factor = int(stanza.args[1])
        if work_factor > self._max_work_factor:
            raise HeaderError(f"scrypt work factor {work_factor} exceeds {self._max_work_factor}")
        if len(stanza.body) != _WRAPPED_SIZE:
            raise HeaderError("scrypt stanza body is not a wrapped 16-byte file key")
        key = _wrap_key(self._passphrase, salt, work_factor)
        try:
            return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, stanza.body, None)
        except InvalidTag:
            return None
