"""Interoperability with the real `age` command line tool, in both directions.

`age` reads passphrases only from a terminal, so those tests give it a pseudo-terminal
of its own (`run_age_with_passphrase`, also used by the owner-key tests).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import subprocess
import termios
import time
from pathlib import Path

import pytest

from edge.core.vault import (
    ScryptIdentity,
    ScryptRecipient,
    X25519Identity,
    decrypt_bytes,
    encrypt_bytes,
)
from edge.core.vault.stream import CHUNK_SIZE

pytestmark = pytest.mark.skipif(shutil.which("age") is None, reason="the age CLI is not installed")

SIZES = [0, 1, 1000, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE]


def run_age_with_passphrase(
    args: list[str], passphrase: bytes, stdout: Path, timeout: float = 60
) -> tuple[int, bytes]:
    """Run `age ARGS` on a pseudo-terminal, answering every passphrase prompt.

    Returns the exit status and what age printed on stderr; stdout goes to `stdout`.
    """
    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    with stdout.open("wb") as out:
        process = subprocess.Popen(
            ["age", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=take_terminal,
            pass_fds=(slave,),
        )
    os.close(slave)
    transcript = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"age {args} did not finish; terminal said {transcript!r}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    transcript += os.read(master, 4096)
                except OSError:
                    continue
                while transcript.count(b"passphrase") > answered:
                    os.write(master, passphrase + b"\n")
                    answered += 1
        _, stderr = process.communicate()
    finally:
        os.close(master)
    return process.returncode, stderr


@pytest.fixture(scope="module")
def age_keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    key_file = tmp_path_factory.mktemp("age") / "key.txt"
    subprocess.run(["age-keygen", "-o", str(key_file)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(key_file)], check=True, capture_output=True, text=True
    )
    return key_file, public.stdout.strip()


@pytest.mark.parametrize("size", SIZES)
def test_age_decrypts_our_files(tmp_path: Path, age_keypair: tuple[Path, str], size: int) -> None:
    key_file, _ = age_keypair
    data = os.urandom(size)
    ours = tmp_path / "ours.age"
    ours.write_bytes(encrypt_bytes([X25519Identity.parse(_secret(key_file)).recipient], data))
    result = subprocess.run(["age", "-d", "-i", str(key_file), str(ours)], capture_output=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == data


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("armored", [False, True])
def test_we_decrypt_files_from_age(
    tmp_path: Path, age_keypair: tuple[Path, str], size: int, armored: bool
) -> None:
    key_file, recipient = age_keypair
    data = os.urandom(size)
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    theirs = tmp_path / "theirs.age"
    armor_flag = ["-a"] if armored else []
    subprocess.run(["age", "-r", recipient, *armor_flag, "-o", str(theirs), str(plain)], check=True)
    identity = X25519Identity.parse(_secret(key_file))
    assert decrypt_bytes([identity], theirs.read_bytes()) == data


def test_we_decrypt_age_passphrase_files(tmp_path: Path) -> None:
    data = os.urandom(CHUNK_SIZE + 3)
    plain = tmp_path / "plain"
    plain.write_bytes(data)
    theirs = tmp_path / "theirs.age"
    status, stderr = run_age_with_passphrase(
        ["-p", "-o", str(theirs), str(plain)], b"it is a secret", tmp_path / "stdout"
    )
    assert status == 0, stderr
    assert decrypt_bytes([ScryptIdentity(b"it is a secret")], theirs.read_bytes()) == data


def test_age_decrypts_our_passphrase_files(tmp_path: Path) -> None:
    data = os.urandom(1000)
    ours = tmp_path / "ours.age"
    ours.write_bytes(encrypt_bytes([ScryptRecipient(b"it is a secret", work_factor=12)], data))
    out = tmp_path / "out"
    status, stderr = run_age_with_passphrase(["-d", str(ours)], b"it is a secret", out)
    assert status == 0, stderr
    assert out.read_bytes() == data


def test_age_refuses_our_files_for_another_key(
    tmp_path: Path, age_keypair: tuple[Path, str]
) -> None:
    key_file, _ = age_keypair
    ours = tmp_path / "ours.age"
    ours.write_bytes(encrypt_bytes([X25519Identity.generate().recipient], b"x"))
    result = subprocess.run(["age", "-d", "-i", str(key_file), str(ours)], capture_output=True)
    assert result.returncode != 0
    assert result.stdout == b""


def _secret(key_file: Path) -> str:
    return next(line for line in key_file.read_text().splitlines() if line.startswith("AGE-"))
