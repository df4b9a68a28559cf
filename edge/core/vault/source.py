"""Buffered reading from any binary file-like: lines for text parts, exact fills for chunks.

The header and the armor are read line by line, the payload in whole chunks. Reading
lines over-reads from the underlying file, so what was read ahead is kept here and
served first; the payload then fills chunk buffers in place with `readinto`.
"""

from __future__ import annotations

from typing import BinaryIO

_READ_SIZE = 8192


class ByteSource:
    """A binary input with look-ahead that never loses over-read bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._ahead = bytearray()
        self._eof = False

    def _read_more(self, size: int) -> bool:
        if self._eof:
            return False
        data = self._raw.read(max(size, _READ_SIZE))
        if not data:
            self._eof = True
            return False
        self._ahead += data
        return True

    def peek(self, size: int) -> bytes:
        """Return up to `size` next bytes without consuming them (fewer only at EOF)."""
        while len(self._ahead) < size and self._read_more(size - len(self._ahead)):
            pass
        return bytes(self._ahead[:size])

    def readline(self, limit: int) -> bytes:
        """Consume one line including its LF; at most `limit` bytes.

        The result lacks the LF when the input ends first or the line is longer
        than `limit`; callers treat both as errors of their own kind.
        """
        start = 0
        while True:
            end = self._ahead.find(b"\n", start, limit)
            if end >= 0:
                return self._take(end + 1)
            start = len(self._ahead)
            if start >= limit or not self._read_more(_READ_SIZE):
                return self._take(min(limit, len(self._ahead)))

    def _take(self, size: int) -> bytes:
        data = bytes(self._ahead[:size])
        del self._ahead[:size]
        return data

    def readinto(self, view: memoryview) -> int:
        """Fill `view` completely unless the input ends; return how many bytes were put in."""
        filled = min(len(self._ahead), len(view))
        if filled:
            view[:filled] = self._ahead[:filled]
            del self._ahead[:filled]
        readinto = getattr(self._raw, "readinto", None)
        while filled < len(view) and not self._eof:
            if readinto is not None:
                got = readinto(view[filled:]) or 0
            else:
                data = self._raw.read(len(view) - filled)
                got = len(data)
                view[filled : filled + got] = data
            if got == 0:
                self._eof = True
            filled += got
        return filled

    def read(self, size: int = -1) -> bytes:
        """Consume up to `size` bytes (all remaining if negative)."""
        if size < 0:
            while self._read_more(_READ_SIZE):
                pass
            return self._take(len(self._ahead))
        buf = bytearray(size)
        got = self.readinto(memoryview(buf))
        return bytes(buf[:got])
