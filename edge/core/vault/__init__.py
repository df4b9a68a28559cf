"""The vault: our own age v1 (age-encryption.org/v1) on `cryptography`.

Clips are encrypted in the standard age format so the owner can open them with the
stock `age` tool and the device, holding only public recipients, cannot. The layers
follow the C2SP age spec, one module each: `format` (header, stanzas, unpadded strict
base64, header MAC), `stream` (STREAM payload), `mlkem768x25519`, `x25519` and `scrypt`
(recipient types), `armor` (ASCII armor, read strictly; written only for key files),
`bech32`, `keys` (what recipients and identities are; key and identity-file parsing).
`writer` and `reader` put them together; the rest of the product uses only this
package's top level: `open_writer(recipients, sink)`, `open_reader(identities, source)`,
`looks_like_age(data)` and the few constants re-exported here.

Format choices:
- Written files are binary age v1 with hybrid MLKEM768-X25519 or X25519 recipients (or
  a lone scrypt stanza for passphrase files); a fresh 16-byte file key and payload
  nonce per file; 64 KiB chunks. Post-quantum and classic recipients are never mixed in
  one file (IncompatibleRecipientsError), as the spec asks.
- Reading is strict: canonical base64 only, LF line ends in the header, scrypt stanzas
  must be alone, work factor at most 2**22, armor detected from the first bytes.
  Files mixing hybrid and classic stanzas are read (the rule binds writers). Plugin and
  tagged (p256tag, mlkem768p256tag) recipients are not supported.
- Errors say where the file is wrong: ArmorError, HeaderError (NotAgeFileError,
  HeaderMACError), NoIdentityMatchError, PayloadError (TruncatedError), all VaultError.
- The reader returns a chunk's plaintext only after its Poly1305 tag has verified; a
  failing chunk raises and nothing of it is returned. `readinto` decrypts whole chunks
  straight into the caller's buffer, so a failing chunk's part of it is wiped there.

The owner key file (see `edge.owner.owner_key` and docs/KEYS.md) is an age identity file
whose `#` comment lines also carry an Ed25519 signing key; with a passphrase the whole
file is armored and scrypt-encrypted, which `age -d -i` recognises and prompts for.
"""

from __future__ import annotations

import io
from collections.abc import Iterable

from edge.core.vault.armor import BEGIN, armor
from edge.core.vault.errors import (
    ArmorError,
    HeaderError,
    HeaderMACError,
    IncompatibleRecipientsError,
    InvalidKeyError,
    NoIdentityMatchError,
    NotAgeFileError,
    PayloadError,
    TruncatedError,
    VaultError,
)
from edge.core.vault.format import VERSION_PREFIX
from edge.core.vault.keys import (
    Identity,
    Recipient,
    is_post_quantum,
    parse_identities,
    parse_recipient,
)
from edge.core.vault.mlkem768x25519 import MLKEM768X25519Identity, MLKEM768X25519Recipient
from edge.core.vault.reader import AgeReader, open_reader
from edge.core.vault.scrypt import DEFAULT_WORK_FACTOR, ScryptIdentity, ScryptRecipient
from edge.core.vault.stream import CHUNK_SIZE, Sink
from edge.core.vault.writer import AgeWriter, check_recipients, open_writer
from edge.core.vault.x25519 import X25519Identity, X25519Recipient


def encrypt_bytes(recipients: Iterable[Recipient], data: bytes) -> bytes:
    """Encrypt `data` in memory to `recipients`; returns a binary age file."""
    sink = io.BytesIO()
    with open_writer(recipients, sink) as writer:
        writer.write(data)
    return sink.getvalue()


def looks_like_age(data: bytes) -> bool:
    """Whether `data` starts like an age file, binary or armored (a cheap check of the first
    line only; opening the file is what proves it)."""
    return data.startswith(VERSION_PREFIX) or data.lstrip().startswith(BEGIN)


def decrypt_bytes(identities: Iterable[Identity], data: bytes) -> bytes:
    """Decrypt a whole age file (binary or armored) held in memory."""
    return open_reader(identities, io.BytesIO(data)).read()


__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_WORK_FACTOR",
    "AgeReader",
    "AgeWriter",
    "ArmorError",
    "HeaderError",
    "HeaderMACError",
    "Identity",
    "IncompatibleRecipientsError",
    "InvalidKeyError",
    "MLKEM768X25519Identity",
    "MLKEM768X25519Recipient",
    "NoIdentityMatchError",
    "NotAgeFileError",
    "PayloadError",
    "Recipient",
    "ScryptIdentity",
    "ScryptRecipient",
    "Sink",
    "TruncatedError",
    "VaultError",
    "X25519Identity",
    "X25519Recipient",
    "armor",
    "check_recipients",
    "decrypt_bytes",
    "encrypt_bytes",
    "is_post_quantum",
    "looks_like_age",
    "open_reader",
    "open_writer",
    "parse_identities",
    "parse_recipient",
]
