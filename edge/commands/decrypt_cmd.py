"""`doorbell decrypt`: open one age file with the owner key, like `age -d`.

Failures are reported as one line naming what is wrong (wrong key, corrupted header,
corrupted payload, truncated, not an age file). With `-o` the plaintext goes to a
hidden sibling file that is renamed into place only after the whole file authenticated,
so a failed decryption leaves no output file behind.

Speed: the command is timed as a whole process against `age -d` (docs/PERFORMANCE.md).
It imports no device code and no `logging` (nothing here logs), and the shared options
module (with the config models) only when a passphrase file is given. Whole age chunks
are decrypted straight into a 1 MiB buffer and leave in 128 KiB writes. The output is
fsynced only when it replaces an existing file, the one case where a crash could lose
data: a new file can always be made again from the age file, which is left untouched.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO

from edge.commands import CommandError
from edge.core.vault import (
    ArmorError,
    HeaderError,
    HeaderMACError,
    Identity,
    NoIdentityMatchError,
    NotAgeFileError,
    PayloadError,
    TruncatedError,
    VaultError,
    open_reader,
)
from edge.owner.owner_key import OwnerKeyError, load_identities
from edge.owner.plaintext_file import OutputError, PlaintextFile, check_output_path

# Plaintext is decrypted 1 MiB (16 age chunks) at a time, straight into one buffer, and
# written from it in 128 KiB pieces: on Linux 6.x, writes of 256 KiB or more into a new
# file now and then cost a few ms of kernel time each (docs/PERFORMANCE.md).
_READ_SIZE = 1 << 20
_WRITE_SIZE = 128 << 10


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `decrypt` command."""
    parser = sub.add_parser(
        "decrypt",
        help="decrypt an age file (a clip segment) with the owner key",
        description="Decrypt an age file, like `age -d`. Writes to stdout unless -o is given.",
    )
    parser.add_argument("file", type=Path, help="age file to decrypt (- for stdin)")
    parser.add_argument(
        "-i",
        "--identity",
        required=True,
        type=Path,
        help="owner key file or any age identity file",
    )
    parser.add_argument("-o", "--output", type=Path, help="write the plaintext here (mode 0600)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="F",
        help="passphrase of an encrypted identity file, first line of F",
    )
    # Nothing on the decrypt path logs: the CLI need not import and set up `logging`.
    parser.set_defaults(func=_decrypt, logs=False)


def describe_failure(error: VaultError, name: str) -> str:
    """One line that says which kind of failure this is."""
    if isinstance(error, NoIdentityMatchError):
        kinds = ", ".join(dict.fromkeys(error.stanza_types))
        return f"wrong key: no identity given can open {name} (it is encrypted to: {kinds})"
    if isinstance(error, NotAgeFileError):
        return f"not an age file: {name}: {error}"
    if isinstance(error, HeaderMACError):
        return f"corrupted header: {name}: the header MAC does not match (modified or damaged)"
    if isinstance(error, HeaderError):
        return f"corrupted header: {name}: {error}"
    if isinstance(error, ArmorError):
        return f"corrupted armor: {name}: {error}"
    if isinstance(error, TruncatedError):
        return f"truncated: {name}: {error}"
    if isinstance(error, PayloadError):
        return f"corrupted payload: {name}: {error}"
    return f"cannot decrypt {name}: {error}"


def _load_identities(args: argparse.Namespace) -> list[Identity]:
    passphrase = None
    if args.passphrase_file:
        from edge.commands.options import read_passphrase_file

        passphrase = read_passphrase_file(args.passphrase_file)
    try:
        return load_identities(args.identity, passphrase)
    except OwnerKeyError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot read identity file {args.identity}: {exc.strerror}") from None


def _copy_plaintext(identities: list[Identity], source: BinaryIO, sink: BinaryIO) -> None:
    reader = open_reader(identities, source)
    buffer = memoryview(bytearray(_READ_SIZE))
    while count := reader.readinto(buffer):
        for start in range(0, count, _WRITE_SIZE):
            _write_all(sink, buffer[start : min(count, start + _WRITE_SIZE)])


def _write_all(sink: BinaryIO, data: memoryview) -> None:
    # An unbuffered file may take fewer bytes than given; the rest must not be lost.
    while data:
        data = data[sink.write(data) :]


def _decrypt_to_file(
    identities: list[Identity], source: BinaryIO, output: Path, *, force: bool
) -> None:
    # 0600, visible only when complete, never over an existing file without --force. Not
    # fsynced, like `age -d`: the ciphertext it came from is still there.
    with PlaintextFile(output, force=force) as staging:
        with staging.partial.open("r+b", buffering=0) as sink:
            _copy_plaintext(identities, source, sink)
        staging.publish(durable=False)


def _decrypt(args: argparse.Namespace) -> int:
    if args.output is not None:
        try:
            check_output_path(args.output, force=args.force)
        except OutputError as exc:
            raise CommandError(str(exc)) from None
    identities = _load_identities(args)
    name = str(args.file)
    try:
        stdin = nullcontext(sys.stdin.buffer)
        with stdin if name == "-" else args.file.open("rb", buffering=0) as source:
            if args.output is None:
                sink = sys.stdout.buffer
                _copy_plaintext(identities, source, sink)
                sink.flush()
            else:
                _decrypt_to_file(identities, source, args.output, force=args.force)
    except VaultError as exc:
        raise CommandError(describe_failure(exc, name)) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise CommandError(f"cannot decrypt {name}: {exc.strerror or exc}{where}") from None
    return 0
