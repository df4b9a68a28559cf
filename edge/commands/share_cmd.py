"""`doorbell share` (owner) and `doorbell verify` (recipient): hand clips over, check a package.

`share --mirror DIR` (first choice) runs where the owner key lives, on the home server's
mirror: the share is kept there as an owner-signed pending decision. `share --config`
runs on the device against its state directory and records the share in the device's
ledger (the owner key must then be brought to the device). `verify` needs nothing of
the device.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.commands import CommandError
from edge.commands.options import (
    add_config_argument,
    add_mirror_arguments,
    add_owner_key_arguments,
    load_device_config,
    load_owner_key,
    mirror_folder,
    parse_expiry,
    read_owner_key,
    read_passphrase_file,
)
from edge.core.log import entries
from edge.core.log.ledger import LedgerError
from edge.core.store.errors import StorageError
from edge.owner.owner_key import OwnerKeyError, load_identities
from edge.owner.package_verify import describe, verify_package
from edge.owner.share import ShareError, SharePackage, share_clips, write_share_package


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `share` and `verify` commands."""
    share = sub.add_parser(
        "share",
        help="re-encrypt clips to someone's age key, with a signed manifest",
        description=(
            "Decrypt clips with the owner key and re-encrypt them to a recipient's age key "
            "into a new folder with a signed manifest.json; the share is recorded in the "
            "device's audit ledger."
        ),
    )
    share.add_argument("clips", nargs="+", metavar="CLIP_ID", help="clips to share")
    share.add_argument("--to", required=True, metavar="age1…", help="recipient's age key")
    share.add_argument("--out", required=True, type=Path, help="new or empty folder to write")
    add_owner_key_arguments(share)
    share.add_argument("--purpose", help="why the footage is shared (goes into the manifest)")
    share.add_argument(
        "--expires", type=parse_expiry, metavar="DATE", help="share until YYYY-MM-DD"
    )
    add_config_argument(share)
    add_mirror_arguments(share)
    share.set_defaults(func=_share)

    verify = sub.add_parser(
        "verify",
        help="check a share package (signatures, hashes; with a key also the videos)",
        description=(
            "Check a share package: the owner's signature over manifest.json, the device's "
            "signatures and every file hash. With --identity also decrypt each video in "
            "memory and decode it."
        ),
    )
    verify.add_argument("package", type=Path, metavar="PACKAGE_DIR")
    verify.add_argument("-i", "--identity", type=Path, help="your age identity file")
    verify.add_argument(
        "--passphrase-file", type=Path, metavar="F", help="passphrase of the identity file"
    )
    verify.add_argument("--owner-key", metavar="ed25519:…", help="the owner signing key you expect")
    verify.set_defaults(func=_verify)


def _share(args: argparse.Namespace) -> int:
    if args.mirror:
        return _share_from_mirror(args)
    config = load_device_config(args.config)
    owner = load_owner_key(args, config)
    try:
        package = share_clips(
            config.storage.path,
            args.clips,
            owner,
            args.to,
            args.out,
            device_id=config.device.id,
            purpose=args.purpose,
            expires=args.expires,
        )
    except (ShareError, StorageError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    segments = sum(len(clip["segments"]) for clip in package.manifest["clips"])
    print(f"Wrote {len(args.clips)} clip(s), {segments} segment(s) for {args.to} to {args.out}")
    print(f"manifest sha256 {package.manifest_sha256} (recorded in the audit ledger)")
    print(f"The recipient checks it with: doorbell verify {args.out} -i THEIR_KEY")
    return 0


def _share_from_mirror(args: argparse.Namespace) -> int:
    from edge.owner.mirror_dir import record_decision

    folder = mirror_folder(args)
    owner = read_owner_key(args)
    decisions = []

    def record(package: SharePackage) -> None:
        body = entries.clip_shared(
            [clip["id"] for clip in package.manifest["clips"]],
            args.to,
            package.manifest_sha256,
            args.purpose,
            args.expires,
            None,
        )
        decisions.append(record_decision(folder, owner, entries.CLIP_SHARED, body))

    try:
        package = write_share_package(
            folder,
            args.clips,
            owner,
            args.to,
            args.out,
            device_id=folder.name,
            purpose=args.purpose,
            expires=args.expires,
            record=record,
        )
    except (ShareError, StorageError, OSError) as exc:
        raise CommandError(str(exc)) from None
    segments = sum(len(clip["segments"]) for clip in package.manifest["clips"])
    print(f"Wrote {len(args.clips)} clip(s), {segments} segment(s) for {args.to} to {args.out}")
    print(
        f"manifest sha256 {package.manifest_sha256} (an owner-signed decision, pending on "
        f"the mirror: {decisions[0].name})"
    )
    print(f"The recipient checks it with: doorbell verify {args.out} -i THEIR_KEY")
    return 0


def _verify(args: argparse.Namespace) -> int:
    identities = []
    if args.identity is not None:
        passphrase = read_passphrase_file(args.passphrase_file) if args.passphrase_file else None
        try:
            identities = load_identities(args.identity, passphrase)
        except OwnerKeyError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot read {args.identity}: {exc.strerror or exc}") from None
    report = verify_package(args.package, identities, owner_key=args.owner_key)
    if report.manifest is not None:
        for line in describe(report.manifest):
            print(line)
    for note in report.notes:
        print(f"note: {note}")
    if not report.ok:
        for problem in report.problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    checked = "signatures and hashes"
    if identities:
        checked += f", decrypted and decoded {report.frames} frame(s)"
    print(f"OK: {args.package}: {checked}")
    if args.owner_key is None:
        print("Compare the owner signing key above with the one the owner gave you.")
    return 0
