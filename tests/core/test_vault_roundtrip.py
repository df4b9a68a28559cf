"""Round trips through our own writer and reader, with any split of the plaintext into writes."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.core.vault import (
    ScryptIdentity,
    ScryptRecipient,
    TruncatedError,
    X25519Identity,
    armor,
    decrypt_bytes,
    encrypt_bytes,
    open_reader,
    open_writer,
)
from edge.core.vault.stream import CHUNK_SIZE

IDENTITY = X25519Identity.generate()
# Sizes around the chunk boundaries, where STREAM implementations go wrong.
EDGE_SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE + 7]


class Sink(io.BytesIO):
    """A BytesIO that records whether anyone closed it."""

    closed_by_writer = False

    def close(self) -> None:
        self.closed_by_writer = True
        super().close()


write_sizes = st.lists(
    st.one_of(
        st.integers(0, 3),
        st.sampled_from([CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE]),
        st.integers(0, 3 * CHUNK_SIZE),
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=write_sizes, seed=st.binary(min_size=1, max_size=8))
def test_any_split_of_writes_round_trips(sizes: list[int], seed: bytes) -> None:
    pieces = [(seed * (size // len(seed) + 1))[:size] for size in sizes]
    sink = io.BytesIO()
    with open_writer([IDENTITY.recipient], sink) as writer:
        for piece in pieces:
            writer.write(piece)
    assert decrypt_bytes([IDENTITY], sink.getvalue()) == b"".join(pieces)


@pytest.mark.parametrize("size", EDGE_SIZES)
def test_chunk_boundary_sizes_round_trip_and_have_the_spec_length(size: int) -> None:
    data = os.urandom(size)
    encrypted = encrypt_bytes([IDENTITY.recipient], data)
    assert decrypt_bytes([IDENTITY], encrypted) == data
    chunks = max(1, -(-size // CHUNK_SIZE))
    header_end = encrypted.index(b"\n---") + len(b"\n--- ") + 43 + 1
    assert len(encrypted) == header_end + 16 + size + 16 * chunks


@settings(max_examples=25, deadline=None)
@given(size=st.integers(0, 3 * CHUNK_SIZE), read_size=st.integers(1, 2 * CHUNK_SIZE))
def test_reading_in_any_sizes_returns_the_plaintext(size: int, read_size: int) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reader = open_reader([IDENTITY], io.BytesIO(encrypt_bytes([IDENTITY.recipient], data)))
    out = bytearray()
    while piece := reader.read(read_size):
        assert len(piece) == read_size or len(out) + len(piece) == size
        out += piece
    assert bytes(out) == data


def test_readinto_fills_caller_buffers() -> None:
    data = os.urandom(CHUNK_SIZE * 2 + 5)
    reader = open_reader([IDENTITY], io.BytesIO(encrypt_bytes([IDENTITY.recipient], data)))
    buffer = bytearray(50_000)
    out = bytearray()
    while count := reader.readinto(buffer):
        out += buffer[:count]
    assert bytes(out) == data


def test_writer_accepts_memoryviews_and_bytearrays() -> None:
    data = bytearray(os.urandom(CHUNK_SIZE + 10))
    sink = io.BytesIO()
    with open_writer([IDENTITY.recipient], sink) as writer:
        writer.write(memoryview(data)[:100])
        writer.write(memoryview(data)[100:])
    assert decrypt_bytes([IDENTITY], sink.getvalue()) == data


def test_writer_writes_the_header_on_open_and_never_closes_the_sink() -> None:
    sink = Sink()
    writer = open_writer([IDENTITY.recipient], sink)
    assert sink.getvalue().startswith(b"age-encryption.org/v1\n-> X25519 ")
    writer.write(b"hello")
    writer.close()
    writer.close()
    assert not sink.closed_by_writer
    assert decrypt_bytes([IDENTITY], sink.getvalue()) == b"hello"


def test_writing_after_close_is_refused() -> None:
    writer = open_writer([IDENTITY.recipient], io.BytesIO())
    writer.close()
    with pytest.raises(ValueError):
        writer.write(b"late")


def test_error_inside_with_block_leaves_a_file_that_reads_as_truncated() -> None:
    sink = io.BytesIO()
    with pytest.raises(RuntimeError), open_writer([IDENTITY.recipient], sink) as writer:
        writer.write(os.urandom(3 * CHUNK_SIZE))
        raise RuntimeError("encoder crashed")
    with pytest.raises(TruncatedError):
        decrypt_bytes([IDENTITY], sink.getvalue())


def test_every_recipient_can_open_a_file_for_several() -> None:
    others = [X25519Identity.generate() for _ in range(3)]
    encrypted = encrypt_bytes([i.recipient for i in others], b"shared")
    for identity in others:
        assert decrypt_bytes([identity], encrypted) == b"shared"
    assert decrypt_bytes([IDENTITY, others[2]], encrypted) == b"shared"


def test_passphrase_round_trip() -> None:
    encrypted = encrypt_bytes([ScryptRecipient(b"correct horse", work_factor=10)], b"secret")
    assert b"\n-> scrypt " in encrypted
    assert decrypt_bytes([ScryptIdentity(b"correct horse")], encrypted) == b"secret"


def test_passphrase_recipient_must_be_alone() -> None:
    with pytest.raises(ValueError):
        encrypt_bytes([ScryptRecipient(b"pw", work_factor=10), IDENTITY.recipient], b"")
    with pytest.raises(ValueError):
        encrypt_bytes([], b"")


def test_scrypt_work_factor_is_bounded_when_writing() -> None:
    with pytest.raises(ValueError):
        ScryptRecipient(b"pw", work_factor=23)
    with pytest.raises(ValueError):
        ScryptRecipient(b"pw", work_factor=0)


def test_armored_input_is_detected_automatically() -> None:
    data = os.urandom(1000)
    armored = armor(encrypt_bytes([IDENTITY.recipient], data))
    assert armored.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert decrypt_bytes([IDENTITY], b"\n  \r\n" + armored + b"\n\n") == data
    assert decrypt_bytes([IDENTITY], armored.replace(b"\n", b"\r\n")) == data
