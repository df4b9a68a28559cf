"""What a recipient and an identity are, and parsing them from text.

Recipients wrap a file key into stanzas; identities find the stanza meant for them and
unwrap it. Two key types are known: classic X25519 (`age1…`, `AGE-SECRET-KEY-1…`) and
hybrid post-quantum MLKEM768-X25519 (`age1pq1…`, `AGE-SECRET-KEY-PQ-1…`). Identity
files follow the age format: one key per line, `#` comments and blank lines ignored, so
tools like `age -d -i FILE` read the same files we do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edge.core.vault.errors import InvalidKeyError
from edge.core.vault.format import Stanza
from edge.core.vault.mlkem768x25519 import MLKEM768X25519Identity, MLKEM768X25519Recipient
from edge.core.vault.x25519 import X25519Identity, X25519Recipient

AsymmetricRecipient = X25519Recipient | MLKEM768X25519Recipient
AsymmetricIdentity = X25519Identity | MLKEM768X25519Identity


class Recipient(Protocol):
    """Something the file key can be encrypted to."""

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Stanzas that carry `file_key` for this recipient."""
        ...


class Identity(Protocol):
    """Something that may unwrap the file key from a header's stanzas."""

    def unwrap(self, stanzas: Sequence[Stanza]) -> bytes | None:
        """The file key, None if no stanza is for us; HeaderError if a stanza is malformed."""
        ...


def parse_recipient(text: str) -> AsymmetricRecipient:
    """Parse an `age1…` or `age1pq1…` recipient; raise InvalidKeyError (a ValueError) if not one."""
    text = text.strip()
    if text.startswith("age1pq1"):
        return MLKEM768X25519Recipient.parse(text)
    if not text.startswith("age1"):
        raise InvalidKeyError(f"not an age recipient (expected age1… or age1pq1…): {text[:20]!r}")
    return X25519Recipient.parse(text)


def is_post_quantum(recipient: object) -> bool:
    """Whether `recipient` keeps the file safe from a future quantum computer."""
    return "postquantum" in getattr(recipient, "labels", frozenset())


def parse_identities(text: str) -> list[AsymmetricIdentity]:
    """Parse an age identity file: keys one per line, `#` comments and blank lines ignored."""
    identities: list[AsymmetricIdentity] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("AGE-SECRET-KEY-PQ-1"):
                identities.append(MLKEM768X25519Identity.parse(line))
            elif line.startswith("AGE-SECRET-KEY-1"):
                identities.append(X25519Identity.parse(line))
            else:
                raise InvalidKeyError(
                    "not an age identity (AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)"
                )
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"line {number}: {exc}") from None
    if not identities:
        raise InvalidKeyError("no identities found")
    return identities
