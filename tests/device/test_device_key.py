"""The device signing key: made once, atomically, private to the daemon, then reused."""

from __future__ import annotations

import multiprocessing
import os
import re
import stat
from pathlib import Path

import pytest

from edge.core.keytext import parse_public_key, verify
from edge.core.store.errors import StorageError
from edge.core.store.segment_signature import segment_message
from edge.device.store.device_key import load_or_create


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_start_creates_a_private_key_and_a_readable_public_key(tmp_path: Path) -> None:
    key = load_or_create(tmp_path)

    assert _mode(tmp_path / "device.key") == 0o600
    assert _mode(tmp_path / "device.pub") == 0o644
    assert (tmp_path / "device.pub").read_text() == key.public_text + "\n"
    assert b"PRIVATE KEY" in (tmp_path / "device.key").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["device.key", "device.pub"]


def test_public_key_has_the_same_form_as_owner_signing_keys(tmp_path: Path) -> None:
    key = load_or_create(tmp_path)

    assert re.fullmatch(r"ed25519:[A-Za-z0-9+/]{43}=", key.public_text)


def test_later_starts_load_the_same_key(tmp_path: Path) -> None:
    first = load_or_create(tmp_path)
    second = load_or_create(tmp_path)

    assert first.public_text == second.public_text


def test_restrictive_umask_still_leaves_the_public_key_readable(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        load_or_create(tmp_path)
    finally:
        os.umask(old)

    assert _mode(tmp_path / "device.pub") == 0o644


def test_missing_or_wrong_public_file_is_rewritten_from_the_private_key(tmp_path: Path) -> None:
    key = load_or_create(tmp_path)
    (tmp_path / "device.pub").unlink()
    load_or_create(tmp_path)
    assert (tmp_path / "device.pub").read_text() == key.public_text + "\n"

    (tmp_path / "device.pub").write_text("ed25519:" + "A" * 43 + "=\n")
    load_or_create(tmp_path)
    assert (tmp_path / "device.pub").read_text() == key.public_text + "\n"


def test_staging_file_left_by_a_power_cut_is_discarded(tmp_path: Path) -> None:
    (tmp_path / "device.key.partial").write_bytes(b"-----BEGIN PRIV")

    key = load_or_create(tmp_path)

    assert not (tmp_path / "device.key.partial").exists()
    assert (tmp_path / "device.pub").read_text() == key.public_text + "\n"


def test_corrupt_key_is_an_error_and_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "device.key").write_bytes(b"not a key")

    with pytest.raises(StorageError, match="device key"):
        load_or_create(tmp_path)
    assert (tmp_path / "device.key").read_bytes() == b"not a key"


def _public_text(state_dir: str) -> str:
    return load_or_create(Path(state_dir)).public_text


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        keys = pool.map(_public_text, [str(tmp_path)] * 8)

    assert len(set(keys)) == 1
    assert keys[0] + "\n" == (tmp_path / "device.pub").read_text()


def test_segment_signature_verifies_with_the_published_key_only_for_its_segment(
    tmp_path: Path,
) -> None:
    key = load_or_create(tmp_path)
    digest = "ab" * 32
    signature = key.sign(segment_message("20261127T231500Z-3f9a", 3, digest))
    public = parse_public_key((tmp_path / "device.pub").read_text())

    assert verify(public, segment_message("20261127T231500Z-3f9a", 3, digest), signature)
    assert not verify(public, segment_message("20261127T231500Z-3f9a", 4, digest), signature)
    assert not verify(public, segment_message("20261127T231500Z-3f9a", 3, "cd" * 32), signature)
    assert not verify(public, segment_message("20261127T231501Z-3f9a", 3, digest), signature)


def test_signed_message_is_the_documented_canonical_text() -> None:
    assert segment_message("20261127T231500Z-3f9a", 12, "0f" * 32) == (
        b"doorbell-edge segment v1\nclip=20261127T231500Z-3f9a\nn=12\nsha256=" + b"0f" * 32 + b"\n"
    )


def test_malformed_public_keys_are_refused() -> None:
    for text in ("ssh-ed25519 AAAA", "ed25519:!!!", "ed25519:" + "A" * 40):
        with pytest.raises(ValueError):
            parse_public_key(text)
