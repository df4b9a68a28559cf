"""What a recipient and an identity are, and parsing them from text.

Recipients wrap a file key into stanzas; identities find the stanza meant for them and
unwrap it. Identity files follow the age format: one key per line, `#` comments and
blank lines ignored, so tools like `age -d -i FILE` read the same files we do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edge.core.vault.errors import InvalidKeyError
from edge.core.vault.format import Stanza
from edge.core.vault.x25519 import X25519Identity, X25519Recipient


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


def parse_recipient(text: str) -> X25519Recipient:
    """Parse an `age1…` recipient; raise InvalidKeyError (a ValueError) if it is not one."""
    text = text.strip()
    if text.startswith("age1pq1"):
        raise InvalidKeyError("post-quantum age recipients (age1pq1…) are not supported")
    if not text.startswith("age1"):
        raise InvalidKeyError(f"not an age recipient (expected age1…): {text[:20]!r}")
    return X25519Recipient.parse(text)


def parse_identities(text: str) -> list[X25519Identity]:
    """Parse an age identity file: keys one per line, `#` comments and blank lines ignored."""
    identities = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        if line.startswith("AGE-SECRET-KEY-PQ-1"):
            raise InvalidKeyError(f"line {number}: post-quantum identities are not supported")
        if not line.startswith("AGE-SECRET-KEY-1"):
            raise InvalidKeyError(f"line {number}: not an age identity (AGE-SECRET-KEY-1…)")
        try:
            identities.append(X25519Identity.parse(line))
        except InvalidKeyError as exc:
            raise InvalidKeyError(f"line {number}: {exc}") from None
    if not identities:
        raise InvalidKeyError("no identities found")
    return identities
