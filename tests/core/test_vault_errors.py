"""Each way a file can be wrong raises its own error, and no unauthenticated byte comes out."""

from __future__ import annotations

import io
import os

import pytest

from edge.core.vault import (
    ArmorError,
    HeaderError,
    HeaderMACError,
    NoIdentityMatchError,
    NotAgeFileError,
    PayloadError,
    ScryptIdentity,
    ScryptRecipient,
    TruncatedError,
    VaultError,
    X25519Identity,
    armor,
    decrypt_bytes,
    encrypt_bytes,
    open_reader,
)
from edge.core.vault.stream import CHUNK_SIZE, PAYLOAD_NONCE_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE

IDENTITY = X25519Identity.generate()
DATA = os.urandom(3 * CHUNK_SIZE + 100)
FILE = encrypt_bytes([IDENTITY.recipient], DATA)
HEADER_END = FILE.index(b"\n---") + len(b"\n--- ") + 43 + 1
PAYLOAD_START = HEADER_END + PAYLOAD_NONCE_SIZE


def flipped(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


def chunk_offset(n: int) -> int:
    return PAYLOAD_START + n * SEALED_CHUNK_SIZE


def test_wrong_key_is_no_identity_match() -> None:
    with pytest.raises(NoIdentityMatchError) as caught:
        decrypt_bytes([X25519Identity.generate()], FILE)
    assert caught.value.stanza_types == ["X25519"]


def test_wrong_passphrase_is_no_identity_match() -> None:
    encrypted = encrypt_bytes([ScryptRecipient(b"right", work_factor=10)], b"x")
    with pytest.raises(NoIdentityMatchError):
        decrypt_bytes([ScryptIdentity(b"wrong")], encrypted)


def test_passphrase_does_not_open_a_file_for_a_key() -> None:
    with pytest.raises(NoIdentityMatchError):
        decrypt_bytes([ScryptIdentity(b"anything")], FILE)


def test_altered_mac_character_is_a_header_mac_error() -> None:
    # Another base64 letter, so the MAC still parses and only its value is wrong (flipping
    # a bit could make a character that is not base64, a different error).
    mac_position = HEADER_END - 10
    tampered = bytearray(FILE)
    tampered[mac_position] = ord("A") if FILE[mac_position] != ord("A") else ord("B")
    with pytest.raises(HeaderMACError):
        decrypt_bytes([IDENTITY], bytes(tampered))


def test_stanza_added_to_a_header_fails_the_mac() -> None:
    stanza_end = FILE.index(b"\n---") + 1
    tampered = FILE[:stanza_end] + b"-> grease x\n\n" + FILE[stanza_end:]
    with pytest.raises(HeaderMACError):
        decrypt_bytes([IDENTITY], tampered)


def test_every_flipped_header_byte_is_refused_before_any_plaintext() -> None:
    for position in range(HEADER_END):
        with pytest.raises((HeaderError, NoIdentityMatchError)):
            open_reader([IDENTITY], io.BytesIO(flipped(FILE, position)))


def test_flipped_payload_nonce_byte_fails_the_first_chunk() -> None:
    with pytest.raises(PayloadError):
        decrypt_bytes([IDENTITY], flipped(FILE, HEADER_END + 3))


@pytest.mark.parametrize("chunk", [0, 1, 3])
def test_flipped_payload_byte_is_a_payload_error(chunk: int) -> None:
    with pytest.raises(PayloadError):
        decrypt_bytes([IDENTITY], flipped(FILE, chunk_offset(chunk) + 5))


@pytest.mark.parametrize("chunk", [0, 2])
def test_flipped_tag_byte_is_a_payload_error(chunk: int) -> None:
    with pytest.raises(PayloadError):
        decrypt_bytes([IDENTITY], flipped(FILE, chunk_offset(chunk) + SEALED_CHUNK_SIZE - 1))


@pytest.mark.parametrize("chunks", [1, 2, 3])
def test_truncated_at_a_chunk_boundary_is_truncated(chunks: int) -> None:
    with pytest.raises(TruncatedError):
        decrypt_bytes([IDENTITY], FILE[: chunk_offset(chunks)])


def test_truncated_right_after_the_nonce_is_truncated() -> None:
    with pytest.raises(TruncatedError):
        decrypt_bytes([IDENTITY], FILE[:PAYLOAD_START])


@pytest.mark.parametrize("cut", [1, TAG_SIZE, 1000, CHUNK_SIZE])
def test_truncated_inside_a_chunk_is_a_payload_error(cut: int) -> None:
    with pytest.raises(PayloadError):
        decrypt_bytes([IDENTITY], FILE[:-cut])


def test_truncated_inside_the_header_or_nonce_is_a_header_error() -> None:
    for end in (30, HEADER_END - 1, HEADER_END + 4):
        with pytest.raises(HeaderError):
            decrypt_bytes([IDENTITY], FILE[:end])


def test_data_after_the_final_chunk_is_a_payload_error() -> None:
    with pytest.raises(PayloadError):
        decrypt_bytes([IDENTITY], FILE + b"\x00")


def test_a_chunk_that_fails_is_never_returned() -> None:
    damaged = flipped(FILE, chunk_offset(1) + 100)
    reader = open_reader([IDENTITY], io.BytesIO(damaged))
    assert reader.read(CHUNK_SIZE) == DATA[:CHUNK_SIZE]
    with pytest.raises(PayloadError):
        reader.read(1)
    with pytest.raises(PayloadError):
        reader.read(1)


def test_failed_chunk_leaves_none_of_its_plaintext_in_the_callers_buffer() -> None:
    # Whole chunks are decrypted straight into the caller's buffer; a chunk that fails
    # has its unauthenticated plaintext wiped there before the error is raised.
    damaged = flipped(FILE, chunk_offset(0) + 100)
    buffer = bytearray(b"\xaa" * CHUNK_SIZE)
    reader = open_reader([IDENTITY], io.BytesIO(damaged))
    with pytest.raises(PayloadError):
        reader.readinto(buffer)
    assert buffer == bytes(CHUNK_SIZE)


def test_failed_chunk_after_good_ones_in_one_readinto_is_wiped() -> None:
    damaged = flipped(FILE, chunk_offset(2) + 100)
    buffer = bytearray(b"\xaa" * (4 * CHUNK_SIZE))
    reader = open_reader([IDENTITY], io.BytesIO(damaged))
    with pytest.raises(PayloadError, match="chunk 2 failed authentication"):
        reader.readinto(buffer)
    assert buffer[: 2 * CHUNK_SIZE] == DATA[: 2 * CHUNK_SIZE]
    assert buffer[2 * CHUNK_SIZE : 3 * CHUNK_SIZE] == bytes(CHUNK_SIZE)
    assert buffer[3 * CHUNK_SIZE :] == b"\xaa" * CHUNK_SIZE
    with pytest.raises(PayloadError, match="chunk 2 failed authentication"):
        reader.readinto(buffer)


def test_reading_everything_from_a_damaged_file_returns_nothing() -> None:
    damaged = flipped(FILE, len(FILE) - 1)
    reader = open_reader([IDENTITY], io.BytesIO(damaged))
    with pytest.raises(PayloadError):
        reader.read()


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x00" * 100, b"AGE-SECRET-KEY-1"])
def test_input_that_is_not_age_at_all(data: bytes) -> None:
    with pytest.raises(NotAgeFileError):
        decrypt_bytes([IDENTITY], data)


def test_other_age_versions_are_header_errors() -> None:
    with pytest.raises(HeaderError) as caught:
        decrypt_bytes([IDENTITY], FILE.replace(b"/v1\n", b"/v2\n", 1))
    assert not isinstance(caught.value, NotAgeFileError)


def test_damaged_armor_is_an_armor_error() -> None:
    armored = armor(encrypt_bytes([IDENTITY.recipient], b"x" * 500))
    lines = armored.split(b"\n")
    for broken in (
        armored + b"trailing",
        b"leading\n" + armored,
        armored.replace(b"-----END AGE", b"-----END age"),
        b"\n".join([*lines[:2], b"", *lines[2:]]),
        b"\n".join([lines[0], lines[1] + b" ", *lines[2:]]),
        armored[: len(armored) // 2],
    ):
        with pytest.raises(ArmorError):
            decrypt_bytes([IDENTITY], broken)


def test_every_error_is_a_vault_error() -> None:
    for error in (ArmorError, HeaderError, HeaderMACError, NoIdentityMatchError, PayloadError):
        assert issubclass(error, VaultError)
    assert issubclass(TruncatedError, PayloadError)
    assert issubclass(HeaderMACError, HeaderError)
