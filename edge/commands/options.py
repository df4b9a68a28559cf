"""Options several commands share: the device config, the owner key and passphrase files."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from edge.commands import CommandError
from edge.core.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from edge.owner.owner_key import OwnerKey, OwnerKeyError, PassphraseRequiredError

CONFIG_VARIABLE = "DOORBELL_CONFIG"


def default_config_path() -> str:
    """`$DOORBELL_CONFIG`, else /etc/doorbell/doorbell.toml."""
    return os.environ.get(CONFIG_VARIABLE) or str(DEFAULT_CONFIG_PATH)


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """`--config FILE` of the device (`-c FILE`; default `$DOORBELL_CONFIG` or /etc/...)."""
    parser.add_argument(
        "-c",
        "--config",
        default=default_config_path(),
        metavar="FILE",
        help=f"device config (default: ${CONFIG_VARIABLE}, else {DEFAULT_CONFIG_PATH})",
    )


def add_owner_key_arguments(parser: argparse.ArgumentParser) -> None:
    """`--identity KEYFILE` and `--passphrase-file F` for the owner key."""
    parser.add_argument(
        "-i", "--identity", required=True, type=Path, metavar="KEYFILE", help="owner key file"
    )
    parser.add_argument(
        "--passphrase-file", type=Path, metavar="F", help="passphrase of the owner key file"
    )


def load_device_config(path: str) -> Config:
    """The device config, or a CommandError naming every problem."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def load_owner_key(args: argparse.Namespace, config: Config) -> OwnerKey:
    """The owner key from `--identity`; its signing key must be in `owner.signing_keys`.

    Without `--passphrase-file` an encrypted key file asks for the passphrase on a terminal.
    """
    owner = read_owner_key(args)
    if owner.signing_public not in config.owner.signing_keys:
        raise CommandError(
            f"this owner key signs as {owner.signing_public}, which is not in "
            "owner.signing_keys of the config; the ledger would not accept its entries"
        )
    return owner


def add_mirror_arguments(parser: argparse.ArgumentParser) -> None:
    """`--mirror DIR` and `--device ID`: read the home server's mirror, not the device."""
    parser.add_argument(
        "--mirror",
        type=Path,
        metavar="DIR",
        help="the home server's mirror directory (`doorbell mirror --dir`) instead of --config",
    )
    parser.add_argument("--device", metavar="ID", help="device id in the mirror (if several)")


def mirror_folder(args: argparse.Namespace) -> Path:
    """The device folder `--mirror`/`--device` name, or a CommandError saying why not."""
    from edge.owner.mirror_dir import MirrorDirError, device_folder

    try:
        return device_folder(args.mirror, args.device)
    except MirrorDirError as exc:
        raise CommandError(str(exc)) from None


def read_owner_key(args: argparse.Namespace) -> OwnerKey:
    """The owner key from `--identity` (asking for its passphrase on a terminal)."""
    passphrase = read_passphrase_file(args.passphrase_file) if args.passphrase_file else None
    try:
        try:
            owner = OwnerKey.load(args.identity, passphrase)
        except PassphraseRequiredError:
            if not sys.stdin.isatty():
                raise
            prompt = f"Passphrase for {args.identity}: "
            owner = OwnerKey.load(args.identity, getpass.getpass(prompt).encode())
    except OwnerKeyError as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot read {args.identity}: {exc.strerror or exc}") from None
    return owner


def read_passphrase_file(path: Path) -> bytes:
    """The passphrase stored in `path`, without its line end; CommandError if unusable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    passphrase = data.removesuffix(b"\n").removesuffix(b"\r")
    if not passphrase:
        raise CommandError(f"passphrase file {path} is empty")
    if b"\n" in passphrase:
        raise CommandError(f"passphrase file {path} must hold a single line")
    return passphrase


def parse_expiry(text: str) -> str:
    """A `YYYY-MM-DD` that is not in the past."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if day < datetime.now(UTC).date():
        raise argparse.ArgumentTypeError(f"{text} is in the past")
    return day.isoformat()
