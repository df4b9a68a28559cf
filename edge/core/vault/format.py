"""The age v1 header: strict unpadded base64, stanzas, and the header MAC.

Parsing is strict, as the spec asks: canonical base64 only, no padding, LF line ends,
64-column stanza bodies that end with a short line. Because of that strictness, the
bytes the MAC covers are exactly the bytes read, so the MAC is checked over them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.core.vault.errors import HeaderError, HeaderMACError, NotAgeFileError
from edge.core.vault.source import ByteSource

INTRO = b"age-encryption.org/v1\n"
VERSION_PREFIX = b"age-encryption.org/"
STANZA_PREFIX = b"->"
MAC_PREFIX = b"---"
COLUMNS_PER_LINE = 64
BYTES_PER_LINE = COLUMNS_PER_LINE // 4 * 3
FILE_KEY_SIZE = 16
MAC_SIZE = 32
# Headers are a few hundred bytes; the cap only stops a hostile file from making us
# buffer without end while looking for a newline.
MAX_HEADER_SIZE = 1 << 20

_B64_UNPADDED = re.compile(rb"[A-Za-z0-9+/]*")


def b64encode(data: bytes) -> str:
    """Standard base64 without `=` padding, as the age header uses it."""
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """Decode canonical unpadded base64; raise ValueError on anything else."""
    raw = text.encode("ascii") if isinstance(text, str) else bytes(text)
    if not _B64_UNPADDED.fullmatch(raw) or len(raw) % 4 == 1:
        raise ValueError("not canonical unpadded base64")
    data = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
    # Non-zero unused trailing bits decode to the same bytes; only the canonical
    # encoding is allowed, so that the header cannot be altered without the MAC noticing.
    if base64.b64encode(data).rstrip(b"=") != raw:
        raise ValueError("not canonical unpadded base64")
    return data


class Stanza(NamedTuple):
    """One recipient stanza: its type (first argument), further arguments, and body."""

    type: str
    args: tuple[str, ...]
    body: bytes

    def serialise(self) -> bytes:
        """The stanza's lines, body wrapped at 64 columns and ending with a short line."""
        for arg in (self.type, *self.args):
            if not (arg.isascii() and _is_valid_argument(arg.encode("ascii"))):
                raise ValueError(f"invalid stanza argument {arg!r}")
        lines = [b"-> " + " ".join((self.type, *self.args)).encode("ascii")]
        body = b64encode(self.body).encode("ascii")
        lines += [body[i : i + COLUMNS_PER_LINE] for i in range(0, len(body), COLUMNS_PER_LINE)]
        if len(body) % COLUMNS_PER_LINE == 0:
            lines.append(b"")
        return b"\n".join(lines) + b"\n"


def first_file_key(
    stanzas: Sequence[Stanza], stanza_type: str, unwrap_one: Callable[[Stanza], bytes | None]
) -> bytes | None:
    """The file key from the first stanza of `stanza_type` that `unwrap_one` opens, or None.
    `unwrap_one` raises HeaderError for a malformed stanza of its type."""
    for stanza in stanzas:
        if stanza.type == stanza_type:
            file_key = unwrap_one(stanza)
            if file_key is not None:
                return file_key
    return None


class Header(NamedTuple):
    """A parsed header: its stanzas, its MAC, and the exact bytes the MAC covers."""

    stanzas: tuple[Stanza, ...]
    mac: bytes
    mac_input: bytes


def header_mac(file_key: bytes, mac_input: bytes) -> bytes:
    """HMAC-SHA-256 keyed with HKDF(file key, info "header") over the header up to `---`."""
    return _header_hmac(file_key, mac_input).finalize()


def _header_hmac(file_key: bytes, mac_input: bytes) -> hmac.HMAC:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=b"header").derive(file_key)
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(mac_input)
    return mac


def serialise_header(stanzas: list[Stanza], file_key: bytes) -> bytes:
    """The complete header, MAC line included."""
    mac_input = INTRO + b"".join(s.serialise() for s in stanzas) + MAC_PREFIX
    return mac_input + b" " + b64encode(header_mac(file_key, mac_input)).encode() + b"\n"


def verify_header_mac(header: Header, file_key: bytes) -> None:
    """Raise HeaderMACError unless the header's MAC matches the file key."""
    try:
        # verify compares in constant time.
        _header_hmac(file_key, header.mac_input).verify(header.mac)
    except InvalidSignature:
        raise HeaderMACError("header MAC mismatch: the header was modified or is damaged") from None


def _is_valid_argument(arg: bytes) -> bool:
    return bool(arg) and all(33 <= c <= 126 for c in arg)


class _HeaderLines:
    """Reads header lines from a source, keeping the raw bytes for the MAC."""

    def __init__(self, source: ByteSource) -> None:
        self._source = source
        self.consumed = bytearray()

    def next_line(self) -> bytes:
        limit = MAX_HEADER_SIZE - len(self.consumed)
        line = self._source.readline(limit)
        if not line.endswith(b"\n"):
            if len(line) >= limit:
                raise HeaderError("header is too long")
            raise HeaderError("file ends inside the header (truncated?)")
        self.consumed += line
        return line[:-1]


def parse_header(source: ByteSource) -> Header:
    """Read and check the header syntax; leave `source` at the start of the payload."""
    lines = _HeaderLines(source)
    first = source.peek(len(VERSION_PREFIX))
    if not first:
        raise NotAgeFileError("the file is empty")
    if first != VERSION_PREFIX:
        raise NotAgeFileError("the file does not start with an age header")
    version_line = lines.next_line() + b"\n"
    if version_line != INTRO:
        if version_line.replace(b"\r", b"") == INTRO:
            raise HeaderError("header lines end with CRLF; age headers use LF only")
        raise HeaderError("unsupported age version (only age-encryption.org/v1 is known)")

    stanzas: list[Stanza] = []
    while True:
        if source.peek(len(MAC_PREFIX)) == MAC_PREFIX:
            mac_input = bytes(lines.consumed) + MAC_PREFIX
            mac = _parse_mac_line(lines.next_line())
            break
        stanzas.append(_parse_stanza(lines))
    if not stanzas:
        raise HeaderError("header has no recipient stanza")
    return Header(stanzas=tuple(stanzas), mac=mac, mac_input=mac_input)


def _parse_mac_line(line: bytes) -> bytes:
    parts = line.split(b" ")
    if len(parts) != 2 or parts[0] != MAC_PREFIX:
        raise HeaderError(f"malformed MAC line {line!r}")
    try:
        mac = b64decode(parts[1])
    except ValueError:
        raise HeaderError("header MAC is not canonical base64") from None
    if len(mac) != MAC_SIZE:
        raise HeaderError("header MAC has the wrong length")
    return mac


def _parse_stanza(lines: _HeaderLines) -> Stanza:
    line = lines.next_line()
    parts = line.split(b" ")
    if parts[0] != STANZA_PREFIX or len(parts) < 2:
        raise HeaderError(f"malformed stanza line {line[:80]!r}")
    if not all(_is_valid_argument(arg) for arg in parts[1:]):
        raise HeaderError(f"malformed stanza argument in {line[:80]!r}")
    args = [arg.decode("ascii") for arg in parts[1:]]
    body = bytearray()
    while True:
        line = lines.next_line()
        try:
            chunk = b64decode(line)
        except ValueError:
            if line.startswith((STANZA_PREFIX, MAC_PREFIX)):
                raise HeaderError("stanza body does not end with a short line") from None
            raise HeaderError(f"malformed stanza body line {line[:80]!r}") from None
        if len(chunk) > BYTES_PER_LINE:
            raise HeaderError("stanza body line is longer than 64 columns")
        body += chunk
        if len(chunk) < BYTES_PER_LINE:
            return Stanza(type=args[0], args=tuple(args[1:]), body=bytes(body))
