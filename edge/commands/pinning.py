"""Options for keys a verifier pins: `--trust FILE`, `--owner-key`, `--device-key`, `--witness-key`.

A verifier trusts only keys it was given this way, never keys the thing being verified
asserts about itself (a manifest's own keys, a device config anyone holding the device
can edit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.commands import CommandError
from edge.core.log.trust import Trust, TrustFileError, canonical_key, load_trust


def add_pin_arguments(parser: argparse.ArgumentParser) -> None:
    """The four pinning options (keys may repeat)."""
    parser.add_argument(
        "--trust", type=Path, metavar="FILE", help="trust file with pinned keys (see keygen)"
    )
    for role, text in (
        ("owner", "an owner signing key you trust"),
        ("device", "the doorbell's device key (its device.pub)"),
        ("witness", "a witness key whose cosignature is required"),
    ):
        parser.add_argument(
            f"--{role}-key",
            dest=f"{role}_keys",
            action="append",
            default=[],
            metavar="ed25519:…",
            help=text + " (repeatable)",
        )


def pinned_keys(args: argparse.Namespace) -> Trust:
    """The keys of `--trust` and the `--*-key` options; CommandError on a bad one."""
    try:
        given = Trust(
            tuple(canonical_key(k) for k in args.owner_keys),
            tuple(canonical_key(k) for k in args.device_keys),
            tuple(canonical_key(k) for k in args.witness_keys),
            "the command line",
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.trust is None:
        return given
    try:
        return load_trust(args.trust).merged(given)
    except TrustFileError as exc:
        raise CommandError(str(exc)) from None
