"""pyrage (Python bindings of rage, the Rust age) as a second, independent implementation."""

from __future__ import annotations

import os

import pytest

from edge.core.vault import (
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    X25519Recipient,
    decrypt_bytes,
    encrypt_bytes,
)
from edge.core.vault.stream import CHUNK_SIZE

pyrage = pytest.importorskip("pyrage")

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 5]


@pytest.mark.parametrize("size", SIZES)
def test_rage_decrypts_our_files(size: int) -> None:
    theirs = pyrage.x25519.Identity.generate()
    data = os.urandom(size)
    encrypted = encrypt_bytes([X25519Recipient.parse(str(theirs.to_public()))], data)
    assert pyrage.decrypt(encrypted, [theirs]) == data


@pytest.mark.parametrize("size", SIZES)
def test_we_decrypt_rage_files(size: int) -> None:
    ours = X25519Identity.generate()
    data = os.urandom(size)
    encrypted = pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(str(ours.recipient))])
    assert decrypt_bytes([ours], encrypted) == data


def test_rage_decrypts_our_passphrase_files() -> None:
    encrypted = encrypt_bytes([ScryptRecipient(b"pass phrase", work_factor=12)], b"hello")
    assert pyrage.passphrase.decrypt(encrypted, "pass phrase") == b"hello"


def test_we_decrypt_rage_passphrase_files() -> None:
    encrypted = pyrage.passphrase.encrypt(b"hello", "pass phrase")
    assert decrypt_bytes([ScryptIdentity(b"pass phrase")], encrypted) == b"hello"
