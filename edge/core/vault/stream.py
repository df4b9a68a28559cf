"""The age STREAM payload: 64 KiB chunks, each sealed with ChaCha20-Poly1305.

The chunk nonce is an 11-byte big-endian counter plus a flag byte that is 1 only on the
final chunk, so truncating, reordering or extending the payload fails authentication.
Both directions work on two reusable buffers and `encrypt_into` / `decrypt_into`, so
plaintext is never copied byte by byte and no per-chunk allocation is made.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from edge.core.vault.errors import PayloadError, TruncatedError
from edge.core.vault.source import ByteSource

CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
SEALED_CHUNK_SIZE = CHUNK_SIZE + TAG_SIZE
PAYLOAD_NONCE_SIZE = 16
_LAST = b"\x01"
_NOT_LAST = b"\x00"


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """HKDF-SHA-256(ikm = file key, salt = payload nonce, info = "payload")."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=b"payload").derive(file_key)


class Sink(Protocol):
    """Where ciphertext goes: a file, a BytesIO, or any object with `write` (`flush` optional)."""

    def write(self, data: bytes | memoryview, /) -> object:
        """Take `data`; like `io` writers, it must not keep the buffer after returning."""
        ...


def _chunk_nonce(counter: int, last: bool) -> bytes:
    # to_bytes raises OverflowError past 2**88 chunks, which cannot happen in practice.
    return counter.to_bytes(11, "big") + (_LAST if last else _NOT_LAST)


class StreamWriter:
    """Seals plaintext pushed in any sizes into whole chunks written to `sink`.

    A full chunk is held back until more data arrives, because only then is it known
    not to be the final one. Data longer than a chunk is sealed straight from the
    caller's buffer.
    """

    def __init__(self, key: bytes, sink: Sink) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._sink = sink
        self._plain = memoryview(bytearray(CHUNK_SIZE))
        self._sealed = memoryview(bytearray(SEALED_CHUNK_SIZE))
        self._filled = 0
        self._counter = 0
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt `data`; whole chunks go to the sink as soon as they are known not last."""
        if self._closed:
            raise ValueError("write to a closed age writer")
        view = memoryview(data).cast("B")
        while view:
            if self._filled == CHUNK_SIZE:
                self._seal(self._plain, last=False)
                self._filled = 0
            if self._filled == 0 and len(view) > CHUNK_SIZE:
                self._seal(view[:CHUNK_SIZE], last=False)
                view = view[CHUNK_SIZE:]
                continue
            take = min(CHUNK_SIZE - self._filled, len(view))
            self._plain[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]

    def close(self) -> None:
        """Seal the final chunk (empty only when the whole plaintext is empty)."""
        if self._closed:
            return
        if self._filled == 0 and self._counter != 0:
            raise RuntimeError("stream: internal error: final chunk would be empty")
        self._seal(self._plain[: self._filled], last=True)
        self._closed = True

    def abort(self) -> None:
        """Stop without a final chunk, so the output reads as truncated, never as complete."""
        self._closed = True

    def _seal(self, plain: memoryview, last: bool) -> None:
        sealed = self._sealed[: len(plain) + TAG_SIZE]
        try:
            self._aead.encrypt_into(_chunk_nonce(self._counter, last), plain, None, sealed)
            # The sink must not keep `sealed` after write returns (the io.write contract):
            # the buffer is reused for the next chunk.
            self._sink.write(sealed)
        except BaseException:
            self._closed = True
            raise
        self._counter += 1


class StreamReader:
    """Yields the plaintext of each chunk only after that chunk has been authenticated."""

    def __init__(self, key: bytes, source: ByteSource) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._source = source
        self._sealed = memoryview(bytearray(SEALED_CHUNK_SIZE))
        self._plain = memoryview(bytearray(CHUNK_SIZE))
        self._counter = 0
        self._done = False
        self._failure: PayloadError | None = None

    def next_chunk(self) -> memoryview | None:
        """The next chunk's authenticated plaintext, or None after the final chunk.

        The returned view is only valid until the next call. After a failure every
        further call raises the same error.
        """
        if self._failure is not None:
            raise self._failure
        if self._done:
            return None
        try:
            return self._read_chunk()
        except PayloadError as exc:
            self._failure = exc
            raise

    def _read_chunk(self) -> memoryview:
        size = self._source.readinto(self._sealed)
        counter = self._counter
        if size == 0:
            if counter == 0:
                raise TruncatedError("the payload has no chunks (file truncated)")
            raise TruncatedError(f"the file ends after chunk {counter} without a final chunk")
        if size < TAG_SIZE:
            raise PayloadError(f"chunk {counter} is shorter than its tag (damaged or truncated)")
        if size == TAG_SIZE and counter != 0:
            raise PayloadError(f"final chunk {counter} is empty")
        full = size == SEALED_CHUNK_SIZE
        at_end = not full or not self._source.peek(1)
        sealed = self._sealed[:size]

        plain = self._open(sealed, last=at_end)
        if plain is not None:
            self._done = at_end
            self._counter += 1
            return plain
        if not full:
            raise PayloadError(
                f"final chunk {counter} failed authentication (damaged or truncated)"
            )
        # A full-length chunk is authentic under the other flag: release its plaintext,
        # since it is authenticated, and report what is wrong around it on the next call.
        plain = self._open(sealed, last=not at_end)
        if plain is None:
            raise PayloadError(f"chunk {counter} failed authentication (file damaged)")
        self._done = True
        if at_end:
            self._failure = TruncatedError(
                f"the file ends after chunk {counter} without a final chunk"
            )
        else:
            self._failure = PayloadError(f"data follows the final chunk {counter}")
        return plain

    def _open(self, sealed: memoryview, last: bool) -> memoryview | None:
        plain = self._plain[: len(sealed) - TAG_SIZE]
        try:
            self._aead.decrypt_into(_chunk_nonce(self._counter, last), sealed, None, plain)
        except InvalidTag:
            # decrypt_into has already written the unauthenticated plaintext here; wipe
            # it so no later bug can hand it out.
            plain[:] = bytes(len(plain))
            return None
        return plain
