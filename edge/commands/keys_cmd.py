"""`doorbell keygen`: make the owner key file and print what goes into the device config.

The device only ever gets the public halves (the `age1pq1…` or `age1…` recipient and the
`ed25519:…` signing key); the file itself stays with the owner. New keys are hybrid
post-quantum (ML-KEM-768 + X25519) unless `--classic` asks for an X25519 key, which the
older `age` releases (before 1.3) can also open; see docs/KEYS.md.
It also writes (or extends) a trust file with the owner's signing key, for
`doorbell verify` and `doorbell audit verify`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.commands import CommandError
from edge.commands.options import read_passphrase_file
from edge.core.log.trust import TrustFileError, load_trust, trust_line
from edge.owner.owner_key import OwnerKey


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `keygen` command."""
    parser = sub.add_parser(
        "keygen",
        help="create the owner key file (age identity + Ed25519 signing key)",
        description="Create the owner key file and print the public keys for the device config.",
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="key file to create (never overwritten)"
    )
    protection = parser.add_mutually_exclusive_group(required=True)
    protection.add_argument(
        "--passphrase-file",
        type=Path,
        metavar="F",
        help="encrypt the key file with the passphrase in F (first line)",
    )
    protection.add_argument(
        "--no-passphrase", action="store_true", help="store the key file unencrypted"
    )
    parser.add_argument(
        "--trust",
        type=Path,
        metavar="FILE",
        help="trust file to write or extend with the owner signing key (default: OUT.trust)",
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--pq",
        dest="post_quantum",
        action="store_true",
        default=True,
        help="hybrid post-quantum age key, age1pq1... (the default; opens with age >= 1.3)",
    )
    kind.add_argument(
        "--classic",
        dest="post_quantum",
        action="store_false",
        help="classic X25519 age key, age1... (for age < 1.3; not quantum-safe)",
    )
    parser.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    out: Path = args.out
    if out.exists():
        raise CommandError(f"{out} already exists; refusing to overwrite a key file")
    passphrase = None if args.no_passphrase else read_passphrase_file(args.passphrase_file)
    key = OwnerKey.generate(post_quantum=args.post_quantum)
    try:
        key.save(out, passphrase)
    except FileExistsError:
        raise CommandError(f"{out} already exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise CommandError(f"cannot write {out}: {exc.strerror}") from None
    protection = "passphrase-protected" if passphrase is not None else "UNENCRYPTED"
    print(f"Wrote owner key to {out} (mode 0600, {protection}). Keep it off the device.")
    kind = "hybrid post-quantum (opens with age >= 1.3)" if key.post_quantum else "classic X25519"
    print(f"key type:     {kind}")
    print(f"recipient:    {key.recipient}")
    print(f"signing key:  {key.signing_public}")
    print(
        "Paste the recipient into owner.recipients and the signing key into "
        "owner.signing_keys of the device config:"
    )
    print("  [owner]")
    print(f'  recipients = ["{key.recipient}"]')
    print(f'  signing_keys = ["{key.signing_public}"]')
    trust = args.trust or out.with_name(out.name + ".trust")
    _add_to_trust(trust, "owner", key.signing_public)
    print(f"Pinned the owner signing key in the trust file {trust}; add the doorbell with:")
    print(f'  echo "device $(cat /var/lib/doorbell/device.pub)" >> {trust}')
    return 0


def _add_to_trust(path: Path, role: str, key: str) -> None:
    """Append `role key` to the trust file (made 0644), unless it is there already."""
    if path.exists():
        try:
            known = load_trust(path)
        except TrustFileError as exc:
            raise CommandError(f"{exc}; not adding the new key to it") from None
        if key in getattr(known, role):
            return
    try:
        with path.open("a", encoding="utf-8") as file:
            if file.tell() == 0:
                file.write("# doorbell trust file: pinned public keys (owner|device|witness KEY)\n")
            file.write(trust_line(role, key))
    except OSError as exc:
        raise CommandError(f"cannot write the trust file {path}: {exc.strerror}") from None
