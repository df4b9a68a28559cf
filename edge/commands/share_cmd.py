"""`doorbell share` (owner) and `doorbell verify` (recipient): hand clips over, check a package.

`share --mirror DIR` (first choice) runs where the owner key lives, on the home server's
mirror: the share is kept there as an owner-signed pending decision. `share --config`
runs on the device against its state directory: it needs the owner key there to decrypt,
records the share in the device's ledger, has the device sign a checkpoint, and puts the
entry's inclusion proof in the package. `verify` needs nothing of the device, only the
owner's and device's keys pinned (`--owner-key`, `--device-key` or `--trust`).
"""

from __future__ import annotations

import argparse
import json
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
from edge.commands.pinning import add_pin_arguments, pinned_keys
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
    share.add_argument("-o", "--out", required=True, type=Path, help="new or empty folder to write")
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
            "Check a share package against keys you got from the owner: the owner's "
            "signature over manifest.json, the device's signatures, every file hash and "
            "the proof that the share is in the device's signed log (cosigned by each "
            "--witness-key). With --identity also decrypt each video in memory and decode it."
        ),
    )
    verify.add_argument("package", type=Path, metavar="PACKAGE_DIR")
    verify.add_argument("-i", "--identity", type=Path, help="your age identity file")
    verify.add_argument(
        "--passphrase-file", type=Path, metavar="F", help="passphrase of the identity file"
    )
    add_pin_arguments(verify)
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(func=_verify)

    prove = sub.add_parser(
        "prove",
        help="add the log inclusion proof to a package shared on the mirror",
        description="Once the device has recorded a share made with `share --mirror`, "
        "write the package's inclusion.json from the mirrored log and checkpoint.",
    )
    prove.add_argument("package", type=Path, metavar="PACKAGE_DIR")
    add_mirror_arguments(prove)
    prove.add_argument(
        "--force",
        action="store_true",
        help="replace the package's inclusion.json (to lead to the witness's cosigned checkpoint)",
    )
    prove.set_defaults(func=_prove)


def _share(args: argparse.Namespace) -> int:
    if args.mirror:
        return _share_from_mirror(args)
    from edge.device.consent.device_audit import checkpoint_now
    from edge.device.store.device_key import load_or_create

    config = load_device_config(args.config)
    owner = load_owner_key(args, config)
    state_dir = Path(config.storage.path)
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
            checkpoint=lambda: checkpoint_now(state_dir, load_or_create(state_dir)),
        )
    except (ShareError, StorageError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    segments = sum(len(clip["segments"]) for clip in package.manifest["clips"])
    print(f"Wrote {len(args.clips)} clip(s), {segments} segment(s) for {args.to} to {args.out}")
    print(f"manifest sha256 {package.manifest_sha256} (recorded in the audit ledger)")
    device_key = package.manifest["device"]["signing_key"]
    print(
        f"The recipient checks it with: doorbell verify {args.out} -i THEIR_KEY "
        f"--owner-key {owner.signing_public} --device-key {device_key}"
    )
    print("(give them both keys yourself, not with the package)")
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
    print(
        "Once the device has recorded it, add the log inclusion proof with: "
        f"doorbell prove {args.out} --mirror {args.mirror}"
    )
    return 0


def _prove(args: argparse.Namespace) -> int:
    from edge.owner.mirror_proof import ProofNotReady, attach_inclusion_proof

    if not args.mirror:
        raise CommandError("give --mirror DIR: the home server's mirror of the device")
    try:
        path = attach_inclusion_proof(args.package, mirror_folder(args), replace=args.force)
    except (ProofNotReady, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"wrote {path}: the share is in the device's log")
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
    pins = pinned_keys(args)
    if len(pins.owner) > 1 or len(pins.device) > 1:
        raise CommandError("give one owner key and one device key for a package")
    report = verify_package(
        args.package,
        identities,
        owner_key=pins.owner[0] if pins.owner else None,
        device_key=pins.device[0] if pins.device else None,
        witness_keys=pins.witness,
    )
    if args.json:
        result = {
            "package": str(args.package),
            "ok": report.ok,
            "problems": list(report.problems),
            "notes": list(report.notes),
            "frames_decoded": report.frames if identities else None,
            "witnesses_required": len(pins.witness),
        }
        print(json.dumps(result, indent=2))
        return 0 if report.ok else 1
    if report.manifest is not None:
        for line in describe(report.manifest):
            print(line)
    for note in report.notes:
        print(f"note: {note}")
    if not report.ok:
        for problem in report.problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return 1
    checked = "pinned keys, signatures, hashes and the log inclusion proof"
    if pins.witness:
        checked += f", cosigned by {len(pins.witness)} witness(es)"
    if identities:
        checked += f", decrypted and decoded {report.frames} frame(s)"
    print(f"OK: {args.package}: {checked}")
    return 0
