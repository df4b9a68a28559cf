"""ASCII armor: the strict PEM wrapping of an age file ("AGE ENCRYPTED FILE").

Armored files are malleable unless parsed strictly, so only the spec's form is accepted:
exact BEGIN/END lines, 64-column canonical padded base64, no PEM headers, no empty lines,
and nothing but a little whitespace before or after. LF and CRLF line ends are accepted.
"""

from __future__ import annotations

import base64

from edge.core.vault.errors import ArmorError
from edge.core.vault.format import BYTES_PER_LINE, COLUMNS_PER_LINE, VERSION_PREFIX
from edge.core.vault.source import ByteSource

BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
END = b"-----END AGE ENCRYPTED FILE-----"
# Whitespace tolerated around the armor, as in the reference implementation.
MAX_WHITESPACE = 1024


def is_armored(source: ByteSource) -> bool:
    """Whether the input is armored, judged from its first bytes without consuming them."""
    head = source.peek(MAX_WHITESPACE + len(BEGIN))
    if head.startswith(VERSION_PREFIX):
        return False
    if head.lstrip().startswith(b"-----"):
        return True
    if BEGIN in head:
        raise ArmorError("data before the armor's BEGIN line")
    return False


def armor(data: bytes) -> bytes:
    """Armor `data`: BEGIN line, padded base64 in 64 columns, END line."""
    encoded = base64.b64encode(data)
    lines = [encoded[i : i + COLUMNS_PER_LINE] for i in range(0, len(encoded), COLUMNS_PER_LINE)]
    return b"\n".join([BEGIN, *lines, END]) + b"\n"


class ArmorReader:
    """A file-like that yields the bytes inside an armored file, checking it as it goes."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self._started = False
        self._finished = False
        self._decoded = b""

    def read(self, size: int = -1) -> bytes:
        """Up to `size` decoded bytes (all remaining if negative); b"" at the end."""
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._decoded:
                if self._finished:
                    break
                self._decoded = self._next_line()
                continue
            take = len(self._decoded) if size < 0 else size - len(out)
            out += self._decoded[:take]
            self._decoded = self._decoded[take:]
        return bytes(out)

    def _line(self, limit: int) -> bytes:
        raw = self._source.readline(limit)
        if not raw:
            raise ArmorError("the armored file ends before its END line")
        if not raw.endswith(b"\n") and len(raw) >= limit:
            raise ArmorError("armor line is longer than 64 columns")
        return raw.removesuffix(b"\n").removesuffix(b"\r")

    def _next_line(self) -> bytes:
        if not self._started:
            self._skip_to_begin()
        line = self._line(COLUMNS_PER_LINE + 2)
        if line == END:
            self._finish()
            return b""
        if not line:
            raise ArmorError("empty line inside the armor")
        if len(line) > COLUMNS_PER_LINE:
            raise ArmorError("armor line is longer than 64 columns")
        try:
            decoded = base64.b64decode(line, validate=True)
        except ValueError:
            raise ArmorError("armor line is not valid base64") from None
        if base64.b64encode(decoded) != line:
            raise ArmorError("armor line is not canonical base64")
        if len(decoded) < BYTES_PER_LINE:
            if self._line(len(END) + 2) != END:
                raise ArmorError("a short armor line must be followed by the END line")
            self._finish()
        return decoded

    def _skip_to_begin(self) -> None:
        skipped = 0
        while True:
            line = self._line(MAX_WHITESPACE + len(BEGIN))
            if line.strip():
                break
            skipped += len(line) + 1
            if skipped > MAX_WHITESPACE:
                raise ArmorError("too much whitespace before the armor")
        if line != BEGIN:
            raise ArmorError(f"invalid armor BEGIN line {line[:40]!r}")
        self._started = True

    def _finish(self) -> None:
        trailing = self._source.read(MAX_WHITESPACE)
        if trailing.strip():
            raise ArmorError("data after the armor's END line")
        if len(trailing) == MAX_WHITESPACE:
            raise ArmorError("too much whitespace after the armor")
        self._finished = True
