"""`doorbell keygen` and `doorbell decrypt` as the owner runs them."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.core.vault import X25519Identity, encrypt_bytes, parse_recipient
from edge.core.vault.stream import CHUNK_SIZE
from edge.owner.owner_key import OwnerKey

PASSPHRASE = b"correct horse battery staple"
DATA = os.urandom(2 * CHUNK_SIZE + 123)


@pytest.fixture(scope="module")
def owner() -> OwnerKey:
    return OwnerKey.generate()


@pytest.fixture
def workdir(tmp_path: Path, owner: OwnerKey) -> Path:
    """A folder with the owner key (plain and encrypted), its passphrase and a clip."""
    owner.save(tmp_path / "owner.key", None)
    owner.save(tmp_path / "owner.key.age", PASSPHRASE, work_factor=10)
    (tmp_path / "pass.txt").write_bytes(PASSPHRASE + b"\n")
    (tmp_path / "clip.age").write_bytes(encrypt_bytes([parse_recipient(owner.recipient)], DATA))
    return tmp_path


def error_line(capture: pytest.CaptureFixture) -> str:
    """The single line the command printed on stderr."""
    err = capture.readouterr().err
    if isinstance(err, bytes):
        err = err.decode()
    assert err.count("\n") == 1, err
    return err.strip()


def test_keygen_without_passphrase_prints_where_to_paste(tmp_path: Path, capsys) -> None:
    out_file = tmp_path / "owner.key"
    assert main(["keygen", "--out", str(out_file), "--no-passphrase"]) == 0
    printed = capsys.readouterr().out
    key = OwnerKey.load(out_file, None)
    assert key.recipient in printed
    assert key.signing_public in printed
    assert "owner.recipients" in printed
    assert "owner.signing_keys" in printed
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600


def test_keygen_with_passphrase_file_writes_an_encrypted_key(tmp_path: Path, capsys) -> None:
    (tmp_path / "pass.txt").write_bytes(PASSPHRASE + b"\n")
    out_file = tmp_path / "owner.key.age"
    assert (
        main(["keygen", "--out", str(out_file), "--passphrase-file", str(tmp_path / "pass.txt")])
        == 0
    )
    assert out_file.read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert OwnerKey.load(out_file, PASSPHRASE).recipient in capsys.readouterr().out


def test_keygen_refuses_to_overwrite(workdir: Path, capsys) -> None:
    before = (workdir / "owner.key").read_bytes()
    assert main(["keygen", "--out", str(workdir / "owner.key"), "--no-passphrase"]) == 1
    assert "already exists" in error_line(capsys)
    assert (workdir / "owner.key").read_bytes() == before


def test_keygen_needs_an_explicit_protection_choice(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["keygen", "--out", str(tmp_path / "k")])
    assert caught.value.code == 2
    assert not (tmp_path / "k").exists()


def test_keygen_refuses_an_empty_passphrase(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").write_bytes(b"\n")
    args = ["keygen", "--out", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "empty")]
    assert main(args) == 1
    assert "empty" in error_line(capsys)
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("identity", ["owner.key", "owner.key.age"])
def test_decrypt_to_stdout(workdir: Path, identity: str, capsysbinary) -> None:
    args = ["decrypt", str(workdir / "clip.age"), "-i", str(workdir / identity)]
    args += ["--passphrase-file", str(workdir / "pass.txt")]
    assert main(args) == 0
    assert capsysbinary.readouterr().out == DATA


def test_decrypt_never_overwrites_silently_and_writes_0600(workdir: Path, capsys) -> None:
    out_file = workdir / "clip.mp4"
    out_file.write_bytes(b"old")
    args = ["decrypt", str(workdir / "clip.age"), "-i", str(workdir / "owner.key")]
    assert main([*args, "-o", str(out_file)]) == 1
    assert "--force" in capsys.readouterr().err
    assert out_file.read_bytes() == b"old"
    assert main([*args, "-o", str(out_file), "--force"]) == 0
    assert out_file.read_bytes() == DATA
    fresh = workdir / "fresh.mp4"
    old_umask = os.umask(0o022)
    try:
        assert main([*args, "-o", str(fresh)]) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert not list(workdir.glob("*.partial"))


def test_a_failed_decrypt_leaves_no_output(workdir: Path) -> None:
    broken = workdir / "broken.age"
    data = (workdir / "clip.age").read_bytes()
    broken.write_bytes(data[:-40])  # truncated: the last chunk is gone
    args = ["decrypt", str(broken), "-i", str(workdir / "owner.key")]
    assert main([*args, "-o", str(workdir / "out.mp4")]) == 1
    assert not (workdir / "out.mp4").exists()
    assert not list(workdir.glob("*.partial"))


# More than one 16-chunk read block, ending in a short chunk; and exactly two blocks,
# ending in a full-size final chunk.
@pytest.mark.parametrize("size", [20 * CHUNK_SIZE + 5, 32 * CHUNK_SIZE])
@pytest.mark.parametrize("to_file", [False, True])
def test_decrypt_of_files_longer_than_a_read_block(
    workdir: Path, owner: OwnerKey, size: int, to_file: bool, capsysbinary
) -> None:
    data = os.urandom(size)
    (workdir / "long.age").write_bytes(encrypt_bytes([parse_recipient(owner.recipient)], data))
    args = ["decrypt", str(workdir / "long.age"), "-i", str(workdir / "owner.key")]
    if to_file:
        args += ["-o", str(workdir / "long.bin")]
    assert main(args) == 0
    out = capsysbinary.readouterr().out
    assert (workdir / "long.bin").read_bytes() == data if to_file else out == data


def test_decrypt_writes_everything_to_an_output_that_takes_less_than_given(
    owner: OwnerKey,
) -> None:
    from edge.commands.decrypt_cmd import _copy_plaintext

    class ShortWrites(io.BytesIO):
        """A raw file may write fewer bytes than it is given; this one at most 1000."""

        def write(self, data: bytes | memoryview, /) -> int:
            return super().write(bytes(data[:1000]))

    data = os.urandom(3 * CHUNK_SIZE + 7)
    source = io.BytesIO(encrypt_bytes([parse_recipient(owner.recipient)], data))
    sink = ShortWrites()
    _copy_plaintext([owner.identity], source, sink)
    assert sink.getvalue() == data


def test_decrypt_accepts_a_plain_age_identity_file(workdir: Path, capsysbinary) -> None:
    identity = X25519Identity.generate()
    (workdir / "age.txt").write_text(f"# from age-keygen\n{identity}\n")
    (workdir / "other.age").write_bytes(encrypt_bytes([identity.recipient], b"hi"))
    assert main(["decrypt", str(workdir / "other.age"), "-i", str(workdir / "age.txt")]) == 0
    assert capsysbinary.readouterr().out == b"hi"


def _flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


def _header_end(data: bytes) -> int:
    return data.index(b"\n---") + len(b"\n--- ") + 43 + 1


DAMAGE = {
    "wrong key": lambda d: encrypt_bytes([X25519Identity.generate().recipient], DATA),
    "corrupted header": lambda d: _flip(d, _header_end(d) - 5),
    "corrupted payload": lambda d: _flip(d, len(d) - 100),
    "truncated": lambda d: d[: _header_end(d) + 16 + CHUNK_SIZE + 16],
    "not an age file": lambda d: b"\x00\x00\x00\x18ftypisom" + os.urandom(1000),
}


@pytest.mark.parametrize("reason", DAMAGE)
@pytest.mark.parametrize("to_file", [False, True])
def test_failures_name_the_reason_and_leave_no_output(
    workdir: Path, reason: str, to_file: bool, capsysbinary
) -> None:
    damaged = workdir / "damaged.age"
    damaged.write_bytes(DAMAGE[reason]((workdir / "clip.age").read_bytes()))
    before = sorted(os.listdir(workdir))
    args = ["decrypt", str(damaged), "-i", str(workdir / "owner.key")]
    if to_file:
        args += ["-o", str(workdir / "clip.mp4")]
    assert main(args) == 1
    assert error_line(capsysbinary).startswith(f"doorbell: error: {reason}:")
    assert sorted(os.listdir(workdir)) == before


def test_failure_keeps_an_existing_output_file(workdir: Path) -> None:
    damaged = workdir / "damaged.age"
    damaged.write_bytes(_flip((workdir / "clip.age").read_bytes(), -1))
    (workdir / "clip.mp4").write_bytes(b"old")
    args = [
        "decrypt",
        str(damaged),
        "-i",
        str(workdir / "owner.key"),
        "-o",
        str(workdir / "clip.mp4"),
    ]
    assert main(args) == 1
    assert (workdir / "clip.mp4").read_bytes() == b"old"


def test_encrypted_identity_without_passphrase_file(workdir: Path, capsys) -> None:
    args = ["decrypt", str(workdir / "clip.age"), "-i", str(workdir / "owner.key.age")]
    assert main(args) == 1
    assert "passphrase" in error_line(capsys)


def test_encrypted_identity_with_wrong_passphrase(workdir: Path, capsys) -> None:
    (workdir / "wrong.txt").write_text("guess\n")
    args = ["decrypt", str(workdir / "clip.age"), "-i", str(workdir / "owner.key.age")]
    assert main([*args, "--passphrase-file", str(workdir / "wrong.txt")]) == 1
    assert "wrong passphrase" in error_line(capsys)


def test_missing_input_file(workdir: Path, capsys) -> None:
    args = ["decrypt", str(workdir / "nope.age"), "-i", str(workdir / "owner.key")]
    assert main(args) == 1
    assert "nope.age" in error_line(capsys)


@pytest.mark.skipif(shutil.which("doorbell") is None, reason="the doorbell script is not installed")
def test_installed_script_makes_a_key_and_decrypts(tmp_path: Path) -> None:
    key_file = tmp_path / "owner.key"
    made = subprocess.run(
        ["doorbell", "keygen", "--out", str(key_file), "--no-passphrase"],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    recipient = next(
        line.split()[-1] for line in made.stdout.splitlines() if line.startswith("recipient:")
    )
    clip = tmp_path / "clip.age"
    clip.write_bytes(encrypt_bytes([parse_recipient(recipient)], DATA))
    out = tmp_path / "clip.mp4"
    done = subprocess.run(
        ["doorbell", "decrypt", str(clip), "-i", str(key_file), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == DATA
    piped = subprocess.run(
        ["doorbell", "decrypt", "-", "-i", str(key_file)],
        input=clip.read_bytes(),
        capture_output=True,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == DATA

    clip.write_bytes(clip.read_bytes()[:-1])
    failed = subprocess.run(
        ["doorbell", "decrypt", str(clip), "-i", str(key_file)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith("doorbell: error: corrupted payload:")
    assert failed.stderr.count("\n") == 1


def test_keygen_makes_a_hybrid_key_by_default_and_classic_on_request(
    tmp_path: Path, capsys
) -> None:
    for flags, prefix in (([], "age1pq1"), (["--pq"], "age1pq1"), (["--classic"], "age1")):
        out_file = tmp_path / f"owner{len(flags)}{prefix}.key"
        assert main(["keygen", *flags, "--out", str(out_file), "--no-passphrase"]) == 0
        printed = capsys.readouterr().out
        recipient = next(
            line.split()[-1] for line in printed.splitlines() if line.startswith("recipient:")
        )
        key = OwnerKey.load(out_file, None)
        assert recipient == key.recipient and recipient.startswith(prefix)
        assert key.post_quantum == (prefix == "age1pq1")
        assert key.signing_public in printed
    with pytest.raises(SystemExit):
        main(["keygen", "--pq", "--classic", "--out", str(tmp_path / "k"), "--no-passphrase"])
    assert not (tmp_path / "k").exists()


def test_hybrid_key_decrypts_with_and_without_passphrase(tmp_path: Path, capsysbinary) -> None:
    (tmp_path / "pass.txt").write_bytes(PASSPHRASE + b"\n")
    key_file = tmp_path / "owner.key.age"
    args = [
        "keygen",
        "--pq",
        "--out",
        str(key_file),
        "--passphrase-file",
        str(tmp_path / "pass.txt"),
    ]
    assert main(args) == 0
    capsysbinary.readouterr()
    key = OwnerKey.load(key_file, PASSPHRASE)
    (tmp_path / "clip.age").write_bytes(encrypt_bytes([parse_recipient(key.recipient)], DATA))
    args = ["decrypt", str(tmp_path / "clip.age"), "-i", str(key_file)]
    assert main([*args, "--passphrase-file", str(tmp_path / "pass.txt")]) == 0
    assert capsysbinary.readouterr().out == DATA


VECTORS = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "age-cctv"
# How `doorbell decrypt` names each kind of failure a vector expects.
REASONS = {
    "no match": "wrong key",
    "header failure": "corrupted header",
    "HMAC failure": "corrupted header",
    "armor failure": "corrupted armor",
}


def _hybrid_vectors() -> list[Path]:
    return sorted(VECTORS.glob("hybrid*")) if VECTORS.is_dir() else []


@pytest.mark.skipif(not _hybrid_vectors(), reason=f"age test vectors not present at {VECTORS}")
def test_decrypt_command_opens_or_names_the_failure_of_every_hybrid_vector(
    tmp_path: Path,
) -> None:
    """The contract: `decrypt FILE -i K` on the C2SP hybrid vectors, as a whole process."""
    seen = set()
    for path in _hybrid_vectors():
        head, body = path.read_bytes().split(b"\n\n", 1)
        fields = [line.split(": ", 1) for line in head.decode().splitlines()]
        expect = next(value for key, value in fields if key == "expect")
        identities = [value for key, value in fields if key == "identity"]
        assert all(key != "compressed" for key, _ in fields), path.name
        (tmp_path / "K").write_text("\n".join(identities) + "\n")
        (tmp_path / "file.age").write_bytes(body)
        done = subprocess.run(
            [sys.executable, "-m", "edge", "decrypt", str(tmp_path / "file.age"), "-i", "K"],
            capture_output=True,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        if expect == "success":
            payload = next(value for key, value in fields if key == "payload")
            assert done.returncode == 0, (path.name, done.stderr)
            assert hashlib.sha256(done.stdout).hexdigest() == payload, path.name
        else:
            assert done.returncode == 1, path.name
            assert done.stderr.decode().startswith(f"doorbell: error: {REASONS[expect]}:"), (
                path.name,
                done.stderr,
            )
            assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr
        seen.add(expect)
    assert {"success", "no match", "header failure"} <= seen
