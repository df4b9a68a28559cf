"""The payload is read CHUNKS_PER_READ sealed chunks at a time: every end-of-payload rule
still holds when the end, a cut, a damaged chunk or extra data falls at a block edge.

Each file is read three ways: chunk by chunk (`read(CHUNK_SIZE)`), in 1 MiB `readinto`
calls that decrypt straight into the caller's buffer, and in `readinto` calls of one and
a half chunks, which mix both paths.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.core.vault import (
    AgeReader,
    PayloadError,
    TruncatedError,
    X25519Identity,
    encrypt_bytes,
    open_reader,
)
from edge.core.vault.stream import (
    CHUNK_SIZE,
    CHUNKS_PER_READ,
    PAYLOAD_NONCE_SIZE,
    SEALED_CHUNK_SIZE,
    TAG_SIZE,
)

IDENTITY = X25519Identity.generate()
BLOCK = CHUNKS_PER_READ * CHUNK_SIZE
DATA = os.urandom(2 * BLOCK + 2 * CHUNK_SIZE + 1000)
FILE = encrypt_bytes([IDENTITY.recipient], DATA)
PAYLOAD_START = FILE.index(b"\n---") + len(b"\n--- ") + 43 + 1 + PAYLOAD_NONCE_SIZE


def chunk_offset(n: int, file: bytes = FILE) -> int:
    start = file.index(b"\n---") + len(b"\n--- ") + 43 + 1 + PAYLOAD_NONCE_SIZE
    return start + n * SEALED_CHUNK_SIZE


def by_chunks(reader: AgeReader, released: bytearray) -> None:
    while piece := reader.read(CHUNK_SIZE):
        released += piece


def by_readinto(size: int) -> Callable[[AgeReader, bytearray], None]:
    def read(reader: AgeReader, released: bytearray) -> None:
        buffer = bytearray(size)
        while count := reader.readinto(buffer):
            released += buffer[:count]

    return read


WAYS = {
    "chunks": by_chunks,
    "readinto 1 MiB": by_readinto(BLOCK),
    "readinto 1.5 chunks": by_readinto(CHUNK_SIZE + CHUNK_SIZE // 2),
}


def read_all(way: str, file: bytes) -> tuple[bytes, Exception | None]:
    """Everything the reader released, and the error that stopped it (None at a clean end)."""
    released = bytearray()
    try:
        WAYS[way](open_reader([IDENTITY], io.BytesIO(file)), released)
    except PayloadError as exc:
        return bytes(released), exc
    return bytes(released), None


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    "size",
    [BLOCK - 1, BLOCK, BLOCK + 1, BLOCK + CHUNK_SIZE, 2 * BLOCK, 2 * BLOCK + 1],
    ids=lambda s: f"{s // CHUNK_SIZE}x64KiB+{s % CHUNK_SIZE}",
)
def test_files_ending_at_and_around_a_block_edge_round_trip(way: str, size: int) -> None:
    # BLOCK and 2 * BLOCK end with a full-size final chunk that is the last of a block.
    data = DATA[:size]
    released, error = read_all(way, encrypt_bytes([IDENTITY.recipient], data))
    assert error is None
    assert released == data


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("chunks", [CHUNKS_PER_READ - 1, CHUNKS_PER_READ, CHUNKS_PER_READ + 1])
def test_cut_at_a_chunk_boundary_near_a_block_edge_is_truncated(way: str, chunks: int) -> None:
    released, error = read_all(way, FILE[: chunk_offset(chunks)])
    assert isinstance(error, TruncatedError)
    assert str(error) == f"the file ends after chunk {chunks - 1} without a final chunk"
    assert released == DATA[: len(released)]
    assert len(released) <= chunks * CHUNK_SIZE


def test_chunk_by_chunk_releases_every_authenticated_chunk_before_a_cut() -> None:
    released, _ = read_all("chunks", FILE[: chunk_offset(CHUNKS_PER_READ)])
    assert released == DATA[:BLOCK]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (1, f"chunk {CHUNKS_PER_READ} is shorter than its tag (damaged or truncated)"),
        (TAG_SIZE - 1, f"chunk {CHUNKS_PER_READ} is shorter than its tag (damaged or truncated)"),
        (TAG_SIZE, f"final chunk {CHUNKS_PER_READ} is empty"),
        (
            TAG_SIZE + 1,
            f"final chunk {CHUNKS_PER_READ} failed authentication (damaged or truncated)",
        ),
    ],
)
def test_a_few_bytes_past_a_full_block_are_refused(way: str, extra: int, message: str) -> None:
    # One byte past a full block is exactly the byte the reader reads ahead.
    released, error = read_all(way, FILE[: chunk_offset(CHUNKS_PER_READ) + extra])
    assert isinstance(error, PayloadError)
    assert str(error) == message
    assert released == DATA[: len(released)]
    assert len(released) <= BLOCK


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("junk", [b"\x00", os.urandom(SEALED_CHUNK_SIZE), os.urandom(BLOCK)])
def test_data_after_a_final_chunk_that_ends_a_block(way: str, junk: bytes) -> None:
    data = DATA[:BLOCK]
    released, error = read_all(way, encrypt_bytes([IDENTITY.recipient], data) + junk)
    assert isinstance(error, PayloadError)
    assert str(error) == f"data follows the final chunk {CHUNKS_PER_READ - 1}"
    assert released == data[: len(released)]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("chunk", [CHUNKS_PER_READ - 1, CHUNKS_PER_READ, 2 * CHUNKS_PER_READ])
def test_a_damaged_chunk_at_a_block_edge_stops_there(way: str, chunk: int) -> None:
    damaged = bytearray(FILE)
    damaged[chunk_offset(chunk) + 7] ^= 0x01
    released, error = read_all(way, bytes(damaged))
    assert isinstance(error, PayloadError)
    assert not isinstance(error, TruncatedError)
    assert released == DATA[: len(released)]
    assert len(released) <= chunk * CHUNK_SIZE
    if way == "chunks":
        assert len(released) == chunk * CHUNK_SIZE


@pytest.mark.parametrize("way", WAYS)
def test_chunks_swapped_across_a_block_edge_fail(way: str) -> None:
    a, b = chunk_offset(CHUNKS_PER_READ - 1), chunk_offset(CHUNKS_PER_READ)
    swapped = FILE[:a] + FILE[b : b + SEALED_CHUNK_SIZE] + FILE[a:b] + FILE[b + SEALED_CHUNK_SIZE :]
    released, error = read_all(way, swapped)
    assert isinstance(error, PayloadError)
    assert len(released) <= (CHUNKS_PER_READ - 1) * CHUNK_SIZE


def test_the_block_read_decrypts_into_the_callers_buffer_only_what_authenticated() -> None:
    damaged = bytearray(FILE)
    damaged[chunk_offset(CHUNKS_PER_READ + 3) + 7] ^= 0x01
    reader = open_reader([IDENTITY], io.BytesIO(bytes(damaged)))
    buffer = bytearray(b"\xaa" * BLOCK)
    assert reader.readinto(buffer) == BLOCK
    assert buffer == DATA[:BLOCK]
    buffer[:] = b"\xaa" * BLOCK
    with pytest.raises(PayloadError, match=f"chunk {CHUNKS_PER_READ + 3} failed"):
        reader.readinto(buffer)
    assert buffer[: 3 * CHUNK_SIZE] == DATA[BLOCK : BLOCK + 3 * CHUNK_SIZE]
    assert buffer[3 * CHUNK_SIZE : 4 * CHUNK_SIZE] == bytes(CHUNK_SIZE)
    assert buffer[4 * CHUNK_SIZE :] == b"\xaa" * (BLOCK - 4 * CHUNK_SIZE)


# Tiny reads are covered on small files in test_vault_roundtrip; here they would be slow.
AMOUNTS = st.one_of(
    st.integers(4096, 3 * CHUNK_SIZE),
    st.sampled_from([CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, BLOCK - 1, BLOCK, BLOCK + 1]),
)


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 2 * BLOCK + 2 * CHUNK_SIZE),
    reads=st.lists(st.tuples(st.booleans(), AMOUNTS), min_size=1),
)
def test_mixed_read_and_readinto_sizes_return_the_plaintext(
    size: int, reads: list[tuple[bool, int]]
) -> None:
    data = DATA[:size]
    reader = open_reader([IDENTITY], io.BytesIO(encrypt_bytes([IDENTITY.recipient], data)))
    out = bytearray()
    step = 0
    while True:
        into, amount = reads[step % len(reads)]
        step += 1
        if into:
            buffer = bytearray(amount)
            count = reader.readinto(buffer)
            piece = bytes(buffer[:count])
        else:
            piece = reader.read(amount)
        assert len(piece) == amount or len(out) + len(piece) == size
        out += piece
        if not piece:
            break
    assert bytes(out) == data
