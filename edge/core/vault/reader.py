"""Decrypting: armor detection, header checks, file-key unwrap, then the payload.

Every header problem is raised by `open_reader` itself, before any plaintext exists;
payload problems are raised by `read` at the chunk where they are found, and no byte of
a chunk is returned before that chunk has been authenticated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import BinaryIO

from edge.core.vault.armor import ArmorReader, is_armored
from edge.core.vault.errors import HeaderError, NoIdentityMatchError
from edge.core.vault.format import Header, parse_header, verify_header_mac
from edge.core.vault.keys import Identity
from edge.core.vault.source import ByteSource
from edge.core.vault.stream import PAYLOAD_NONCE_SIZE, StreamReader, payload_key


def _unwrap_file_key(header: Header, identities: Sequence[Identity]) -> bytes:
    if not identities:
        raise ValueError("at least one identity is needed")
    for identity in identities:
        file_key = identity.unwrap(header.stanzas)
        if file_key is not None:
            return file_key
    raise NoIdentityMatchError([stanza.type for stanza in header.stanzas])


class AgeReader:
    """A read-only file-like over the plaintext of an age file."""

    def __init__(self, identities: Iterable[Identity], source: BinaryIO) -> None:
        identities = list(identities)
        input_ = ByteSource(source)
        if is_armored(input_):
            input_ = ByteSource(ArmorReader(input_))
        header = parse_header(input_)
        file_key = _unwrap_file_key(header, identities)
        verify_header_mac(header, file_key)
        nonce = bytearray(PAYLOAD_NONCE_SIZE)
        if input_.readinto(memoryview(nonce)) != PAYLOAD_NONCE_SIZE:
            raise HeaderError("the file ends before the payload nonce (truncated)")
        self._chunks = StreamReader(payload_key(file_key, bytes(nonce)), input_)
        self._unread = memoryview(b"")

    def _refill(self) -> bool:
        chunk = self._chunks.next_chunk()
        if chunk is None:
            return False
        self._unread = chunk
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes of plaintext (all of it if negative); fewer only at the end."""
        out = bytearray()
        while size is None or size < 0 or len(out) < size:
            if not self._unread and not self._refill():
                break
            take = len(self._unread) if size is None or size < 0 else size - len(out)
            out += self._unread[:take]
            self._unread = self._unread[take:]
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        """Fill `buffer` with plaintext; return the count (less than its size only at the end).

        Whole chunks are decrypted straight into `buffer`; only a part smaller than a chunk
        passes through the reader's own chunk buffer.
        """
        view = memoryview(buffer).cast("B")
        filled = self._take_unread(view)
        filled += self._chunks.readinto(view[filled:])
        while filled < len(view) and (self._unread or self._refill()):
            filled += self._take_unread(view[filled:])
        return filled

    def _take_unread(self, view: memoryview) -> int:
        take = min(len(self._unread), len(view))
        view[:take] = self._unread[:take]
        self._unread = self._unread[take:]
        return take

    def readable(self) -> bool:
        """Always true; present so io helpers accept the reader."""
        return True

    def __enter__(self) -> AgeReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._unread = memoryview(b"")


def open_reader(identities: Iterable[Identity], source: BinaryIO) -> AgeReader:
    """Open an age file (binary or armored) from `source` with the first matching identity."""
    return AgeReader(identities, source)
