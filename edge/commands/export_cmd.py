"""`doorbell export CLIP_ID --identity KEYFILE --out OUT.mp4 [--mirror DIR]`: the owner's
playable copy, from the device's state or (first choice) the home server's mirror.

Decrypting needs the owner key, and the export is recorded in the ledger with an
owner-signed entry, like a share. `--salvage` also exports what authenticates of a
segment a power cut left incomplete; the output line then says `truncated`. On the
mirror the export is recorded as an owner-signed decision in the mirror's pending
decisions (`edge.owner.mirror_dir`); the mirror's ledger copy stays the device's.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
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
from edge.core.log.ledger import LedgerError
from edge.core.store.errors import StorageError
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.owner.export import ExportError, export_segments
from edge.owner.export_log import record_export
from edge.owner.owner_key import OwnerKey
from edge.owner.plaintext_file import OutputError, check_output_path


def register(sub: argparse._SubParsersAction) -> None:
    """Add `export`."""
    parser = sub.add_parser("export", help="decrypt a clip into one playable MP4 (owner key)")
    parser.add_argument("clip_id", help="clip id (see `doorbell clips`)")
    add_owner_key_arguments(parser)
    parser.add_argument(
        "-o", "--out", required=True, type=Path, help="MP4 file to write (mode 0600)"
    )
    parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
    add_config_argument(parser)
    add_mirror_arguments(parser)
    parser.add_argument("--purpose", help="why it is exported (kept in the ledger)")
    parser.add_argument(
        "--salvage",
        action="store_true",
        help="also recover the authenticated part of a segment cut off by a power cut",
    )
    parser.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    try:
        check_output_path(args.out, force=args.force)
    except OutputError as exc:
        raise CommandError(str(exc)) from None
    if args.mirror:
        state_dir = mirror_folder(args)
    else:
        config = load_device_config(args.config)
        state_dir = config.storage.path
    try:
        clip = next((c for c in read_clips(state_dir) if c.id == args.clip_id), None)
        if clip is None:
            raise CommandError(f"no clip {args.clip_id} (see `doorbell clips`)")
        segments = read_segments(state_dir, clip.id)
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    if not segments:
        raise CommandError(f"clip {clip.id} has no segments")
    owner = read_owner_key(args) if args.mirror else load_owner_key(args, config)
    files = [(segment, segment_file(state_dir, segment)) for segment in segments]
    try:
        result = export_segments(
            files,
            [owner.identity],
            args.out,
            _progress_bar(),
            salvage=args.salvage,
            force=args.force,
            # Logged before the file is visible: no export exists that the log lacks.
            before_publish=lambda: _record(args, state_dir, owner, clip.id),
        )
    except (ExportError, OutputError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    for problem in result.problems:
        print(f"doorbell: warning: {problem}", file=sys.stderr)
    truncated = "".join(f"; truncated: {note}" for note in result.truncated)
    print(
        f"{args.out}: {result.frames} frames, {result.duration_s:.1f} s, "
        f"{result.segments_exported}/{len(segments)} segments{truncated}"
    )
    return 0 if not result.problems else 2


def _record(args: argparse.Namespace, state_dir: Path, owner: OwnerKey, clip_id: str) -> None:
    if not args.mirror:
        record_export(state_dir, owner, [clip_id], args.purpose)
        return
    from edge.owner.mirror_dir import record_decision

    body = entries.clip_exported([clip_id], args.purpose)
    decision = record_decision(state_dir, owner, entries.CLIP_EXPORTED, body)
    print(f"export recorded as a signed decision, pending on the mirror: {decision.name}")


def _progress_bar() -> Callable[[int, int], None]:
    if not sys.stderr.isatty():
        return lambda done, total: None

    def show(done: int, total: int) -> None:
        filled = round(30 * done / total)
        end = "\n" if done == total else ""
        sys.stderr.write(f"\rexporting [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}{end}")
        sys.stderr.flush()

    return show
