"""The owner key file: saved safely, loaded with clear errors, and readable by stock age."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from edge.core.keytext import parse_public_key, verify
from edge.core.vault import X25519Identity, decrypt_bytes, encrypt_bytes, parse_recipient
from edge.owner.owner_key import (
    NotAKeyFileError,
    OwnerKey,
    PassphraseRequiredError,
    WrongPassphraseError,
    load_identities,
)

# Key files in tests use a small scrypt work factor so they stay fast; the default is 18.
FAST = 10
PASSPHRASE = b"correct horse battery staple"
needs_age = pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is not installed")


@pytest.fixture(scope="module")
def key() -> OwnerKey:
    return OwnerKey.generate()


def test_public_halves_have_the_config_forms(key: OwnerKey) -> None:
    assert parse_recipient(key.recipient) == key.identity.recipient
    assert key.signing_public.startswith("ed25519:")
    parse_public_key(key.signing_public)


def test_signatures_verify_with_the_public_text_only(key: OwnerKey) -> None:
    signature = key.sign(b"share clip 42")
    assert verify(key.signing_public, b"share clip 42", signature)
    assert not verify(key.signing_public, b"share clip 43", signature)
    assert not verify(OwnerKey.generate().signing_public, b"share clip 42", signature)


@pytest.mark.parametrize(
    "text", ["", "ed25519:", "ed25519:AAAA", "ssh-ed25519 AAAA", "ed25519:" + "A" * 43]
)
def test_malformed_signing_public_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_public_key(text)


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_saved_key_loads_back(tmp_path: Path, key: OwnerKey, passphrase: bytes | None) -> None:
    path = tmp_path / "owner.key"
    key.save(path, passphrase, work_factor=FAST)
    loaded = OwnerKey.load(path, passphrase)
    assert loaded.recipient == key.recipient
    assert loaded.signing_public == key.signing_public
    assert verify(key.signing_public, b"m", loaded.sign(b"m"))


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_key_file_is_private_and_alone(tmp_path: Path, key: OwnerKey, passphrase) -> None:
    path = tmp_path / "owner.key"
    key.save(path, passphrase, work_factor=FAST)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["owner.key"]


def test_existing_file_is_never_overwritten(tmp_path: Path, key: OwnerKey) -> None:
    path = tmp_path / "owner.key"
    path.write_text("precious")
    with pytest.raises(FileExistsError):
        key.save(path, None)
    assert path.read_text() == "precious"
    assert os.listdir(tmp_path) == ["owner.key"]


def test_encrypted_key_without_passphrase_says_so(tmp_path: Path, key: OwnerKey) -> None:
    path = tmp_path / "owner.key"
    key.save(path, PASSPHRASE, work_factor=FAST)
    with pytest.raises(PassphraseRequiredError, match="passphrase"):
        OwnerKey.load(path, None)
    with pytest.raises(PassphraseRequiredError):
        load_identities(path, None)


def test_wrong_passphrase_says_so(tmp_path: Path, key: OwnerKey) -> None:
    path = tmp_path / "owner.key"
    key.save(path, PASSPHRASE, work_factor=FAST)
    with pytest.raises(WrongPassphraseError, match="wrong passphrase"):
        OwnerKey.load(path, b"guess")


@pytest.mark.parametrize(
    "content",
    [b"", b"hello\n", b"\xff\xfe\x00", b"# just a comment\n", b"AGE-SECRET-KEY-1QQQ\n"],
)
def test_other_files_are_not_key_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "owner.key"
    path.write_bytes(content)
    with pytest.raises(NotAKeyFileError):
        OwnerKey.load(path, None)


def test_age_file_for_a_key_is_not_a_passphrase_key_file(tmp_path: Path) -> None:
    path = tmp_path / "owner.key"
    path.write_bytes(encrypt_bytes([X25519Identity.generate().recipient], b"x"))
    with pytest.raises(NotAKeyFileError, match="not a passphrase"):
        OwnerKey.load(path, PASSPHRASE)


def test_plain_age_identity_file_is_an_identity_but_not_an_owner_key(tmp_path: Path) -> None:
    identity = X25519Identity.generate()
    path = tmp_path / "age.key"
    path.write_text(f"# created by age-keygen\n{identity}\n")
    assert [str(i) for i in load_identities(path, None)] == [str(identity)]
    with pytest.raises(NotAKeyFileError, match="without a signing key"):
        OwnerKey.load(path, None)


@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_owner_key_file_gives_its_identity(tmp_path: Path, key: OwnerKey, passphrase) -> None:
    path = tmp_path / "owner.key"
    key.save(path, passphrase, work_factor=FAST)
    clip = encrypt_bytes([parse_recipient(key.recipient)], b"clip")
    assert decrypt_bytes(load_identities(path, passphrase), clip) == b"clip"


def test_tampered_signing_public_line_is_detected(tmp_path: Path, key: OwnerKey) -> None:
    other = OwnerKey.generate()
    text = key.to_text().replace(key.signing_public, other.signing_public)
    path = tmp_path / "owner.key"
    path.write_text(text)
    with pytest.raises(NotAKeyFileError, match="does not match"):
        OwnerKey.load(path, None)


@needs_age
def test_plain_key_file_is_an_identity_file_for_age(tmp_path: Path, key: OwnerKey) -> None:
    path = tmp_path / "owner.key"
    key.save(path, None)
    clip = tmp_path / "clip.age"
    clip.write_bytes(encrypt_bytes([parse_recipient(key.recipient)], b"front door"))
    result = subprocess.run(["age", "-d", "-i", str(path), str(clip)], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"front door"


@needs_age
def test_age_opens_the_encrypted_key_file_and_uses_it(tmp_path: Path, key: OwnerKey) -> None:
    from test_vault_age_cli import run_age_with_passphrase

    path = tmp_path / "owner.key.age"
    key.save(path, PASSPHRASE, work_factor=FAST)
    shown = tmp_path / "shown"
    status, stderr = run_age_with_passphrase(["-d", str(path)], PASSPHRASE, shown)
    assert status == 0, stderr
    assert OwnerKey.from_text(shown.read_text()).recipient == key.recipient

    clip = tmp_path / "clip.age"
    clip.write_bytes(encrypt_bytes([parse_recipient(key.recipient)], b"front door"))
    out = tmp_path / "out"
    status, stderr = run_age_with_passphrase(["-d", "-i", str(path), str(clip)], PASSPHRASE, out)
    assert status == 0, stderr
    assert out.read_bytes() == b"front door"
