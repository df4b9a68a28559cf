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
# Sealed chunks read per read call when decrypting (1 MiB of plaintext).
CHUNKS_PER_READ = 16


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
    """Hands out the plaintext of each chunk only after that chunk has been authenticated.

    Sealed chunks are read `CHUNKS_PER_READ` at a time (plus one byte, which tells whether more
    follows) into one reusable buffer, so the final chunk is known without a look-ahead
    read per chunk. `readinto` decrypts whole chunks straight into the caller's buffer;
    `next_chunk` decrypts one chunk into a buffer of its own.
    """

    def __init__(self, key: bytes, source: ByteSource) -> None:
        self._aead = ChaCha20Poly1305(key)
        self._source = source
        self._sealed = memoryview(bytearray(CHUNKS_PER_READ * SEALED_CHUNK_SIZE + 1))
        self._start = 0  # the next sealed chunk starts here in `_sealed`
        self._end = 0  # bytes of `_sealed` that hold read data
        self._eof = False
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
        return self._plain[: self._open_next(self._plain)]

    def readinto(self, out: memoryview) -> int:
        """Decrypt whole chunks into `out` while a whole chunk fits; return the bytes written.

        Fewer than fit only at the end, or before an error the next call raises. A
        chunk that fails authentication raises here, its part of `out` wiped.
        """
        if self._failure is not None:
            raise self._failure
        filled = 0
        while not self._done and self._failure is None and len(out) - filled >= CHUNK_SIZE:
            filled += self._open_next(out[filled : filled + CHUNK_SIZE])
        return filled

    def _next_sealed(self) -> tuple[memoryview, bool]:
        """The next sealed chunk (possibly short or empty) and whether it ends the input."""
        if self._end - self._start <= SEALED_CHUNK_SIZE and not self._eof:
            rest = self._end - self._start
            self._sealed[:rest] = self._sealed[self._start : self._end]
            # ByteSource.readinto fills the view unless the input ends.
            got = self._source.readinto(self._sealed[rest:])
            self._eof = rest + got < len(self._sealed)
            self._start, self._end = 0, rest + got
        size = min(self._end - self._start, SEALED_CHUNK_SIZE)
        sealed = self._sealed[self._start : self._start + size]
        self._start += size
        # Not at EOF, the buffer holds more than one sealed chunk; at EOF, what is left.
        return sealed, self._end - self._start == 0 and self._eof

    def _open_next(self, out: memoryview) -> int:
        """Authenticate and decrypt the next chunk into `out`; return its plaintext size."""
        try:
            return self._read_chunk(out)
        except PayloadError as exc:
            self._failure = exc
            raise

    def _read_chunk(self, out: memoryview) -> int:
        sealed, at_end = self._next_sealed()
        size = len(sealed)
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
        plain = out[: size - TAG_SIZE]

        if self._open(sealed, plain, last=at_end):
            self._done = at_end
            self._counter += 1
            return len(plain)
        if not full:
            raise PayloadError(
                f"final chunk {counter} failed authentication (damaged or truncated)"
            )
        # A full-length chunk is authentic under the other flag: release its plaintext,
        # since it is authenticated, and report what is wrong around it on the next call.
        if not self._open(sealed, plain, last=not at_end):
            raise PayloadError(f"chunk {counter} failed authentication (file damaged)")
        self._done = True
        if at_end:
            self._failure = TruncatedError(
                f"the file ends after chunk {counter} without a final chunk"
            )
        else:
            self._failure = PayloadError(f"data follows the final chunk {counter}")
        return len(plain)

    def _open(self, sealed: memoryview, plain: memoryview, last: bool) -> bool:
        try:
            self._aead.decrypt_into(_chunk_nonce(self._counter, last), sealed, None, plain)
        except InvalidTag:
            # decrypt_into has already written the unauthenticated plaintext here; wipe
            # it so no later bug can hand it out.
            plain[:] = bytes(len(plain))
            return False
        return True
