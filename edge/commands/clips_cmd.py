"""`doorbell clips [--config FILE | --mirror DIR] [--json] [--all]`: list stored clips;
`doorbell clips keep|delete CLIP... -i KEY`: the owner's orders about them.

Listing reads the index without changing it, so it is safe while the daemon is
recording; with `--mirror` it reads the home server's copy instead, which keeps clips the
device's retention has removed. `keep` protects clips from retention (age and quota; only
a full disk may still take them, after every other clip, and says so) and `delete` has
the device delete them: both are owner-signed, in the device's ledger (on the device)
or as decisions the mirror relays to it (`--mirror`), and the daemon carries them out.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from edge.commands import CommandError
from edge.commands.options import (
    add_config_argument,
    add_mirror_arguments,
    add_owner_key_arguments,
    load_device_config,
    load_owner_key,
    mirror_folder,
    read_owner_key,
)
from edge.core.log import entries
from edge.core.log.ledger import Ledger, LedgerError
from edge.core.store.errors import StorageError
from edge.core.store.index import ClipRecord
from edge.core.store.reading import read_clips

_COLUMNS = ("ID", "START (UTC)", "DURATION", "SEGMENTS", "SIZE", "STATUS")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `clips` command."""
    parser = sub.add_parser("clips", help="list stored clips")
    add_config_argument(parser)
    add_mirror_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON list instead")
    parser.add_argument("--all", action="store_true", help="include clips deleted by retention")
    parser.set_defaults(func=_clips)
    orders = parser.add_subparsers(dest="order", metavar="ACTION")
    for action, text in (
        ("keep", "keep clips from retention (owner-signed)"),
        ("delete", "have the device delete clips (owner-signed)"),
    ):
        order = orders.add_parser(action, help=text)
        order.add_argument("clip_ids", nargs="+", metavar="CLIP")
        order.add_argument("--reason", help="why (kept in the ledger)")
        add_owner_key_arguments(order)
        add_config_argument(order)
        add_mirror_arguments(order)
        order.set_defaults(func=_order)


def _clips(args: argparse.Namespace) -> int:
    state_dir = mirror_folder(args) if args.mirror else load_device_config(args.config).storage.path
    try:
        clips = read_clips(state_dir, include_deleted=args.all)
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps([clip.to_json() for clip in clips], indent=2))
    elif not clips:
        print("no clips")
    else:
        print(_table(clips))
    return 0


def _order(args: argparse.Namespace) -> int:
    kind = entries.CLIP_KEPT if args.order == "keep" else entries.CLIP_DELETE
    body = entries.clip_order(args.clip_ids, args.reason)
    if args.mirror:
        from edge.owner.mirror_dir import record_decision

        folder = mirror_folder(args)
        known = _known(folder, args.clip_ids)
        path = record_decision(folder, read_owner_key(args), kind, body)
        print(f"{args.order} {', '.join(known)}: signed, pending on the mirror ({path.name})")
        return 0
    from edge.device.consent.device_audit import checkpoint_now
    from edge.device.store.device_key import load_or_create

    config = load_device_config(args.config)
    state_dir = Path(config.storage.path)
    known = _known(state_dir, args.clip_ids)
    owner = load_owner_key(args, config)
    try:
        Ledger.in_state_dir(state_dir).append(owner, kind, body)
        checkpoint_now(state_dir, load_or_create(state_dir))
    except (LedgerError, StorageError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"{args.order} {', '.join(known)}: signed in the ledger; the daemon carries it out")
    return 0


def _known(state_dir: Path, clip_ids: list[str]) -> list[str]:
    try:
        ids = {clip.id for clip in read_clips(state_dir, include_deleted=True)}
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    unknown = [c for c in clip_ids if c not in ids]
    if unknown:
        raise CommandError(f"no clip {', '.join(unknown)} (see `doorbell clips`)")
    return clip_ids


def _table(clips: list[ClipRecord]) -> str:
    rows = [_COLUMNS] + [
        (
            clip.id,
            datetime.fromtimestamp(clip.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "-" if clip.duration_s is None else f"{clip.duration_s:.1f}s",
            str(clip.segments),
            _size(clip.bytes),
            clip.status if clip.status != "deleted" else f"deleted ({clip.delete_reason})",
        )
        for clip in clips
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    right = {2, 3, 4}
    return "\n".join(
        "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    size = count / 1000
    for unit in ("kB", "MB"):
        if size < 1000:
            return f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"
