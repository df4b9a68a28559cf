"""`doorbell export (CLIP_ID | --from T --until T) -i KEYFILE -o OUT.mp4 [--mirror DIR]`: the
owner's playable copy, from the device's state or (first choice) the home server's mirror.
A time range joins its clips, one after the other, into one file whose timeline never
goes back.

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
from edge.core.store.index import ClipRecord
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.core.timestamps import parse_rfc3339
from edge.owner.export import ExportError, export_segments
from edge.owner.export_log import record_export
from edge.owner.owner_key import OwnerKey
from edge.owner.plaintext_file import OutputError, check_output_path


def register(sub: argparse._SubParsersAction) -> None:
    """Add `export`."""
    parser = sub.add_parser("export", help="decrypt a clip into one playable MP4 (owner key)")
    parser.add_argument("clip_id", nargs="?", help="clip id (see `doorbell clips`)")
    parser.add_argument(
        "--from",
        dest="start",
        type=_moment,
        metavar="TIME",
        help="instead of a clip: every clip from TIME (RFC 3339, e.g. 2026-05-01T18:00:00Z)",
    )
    parser.add_argument(
        "--until", dest="end", type=_moment, metavar="TIME", help="... until TIME, as one file"
    )
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
        clips = _chosen_clips(args, read_clips(state_dir))
        segments = [s for clip in clips for s in read_segments(state_dir, clip.id)]
    except StorageError as exc:
        raise CommandError(str(exc)) from None
    if not segments:
        raise CommandError(f"clip {', '.join(c.id for c in clips)} has no segments")
    clip_ids = [clip.id for clip in clips]
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
            before_publish=lambda: _record(args, state_dir, owner, clip_ids),
        )
    except (ExportError, OutputError, LedgerError) as exc:
        raise CommandError(str(exc)) from None
    for problem in result.problems:
        print(f"doorbell: warning: {problem}", file=sys.stderr)
    truncated = "".join(f"; truncated: {note}" for note in result.truncated)
    joined = f" of {len(clips)} clips, one after the other" if len(clips) > 1 else ""
    print(
        f"{args.out}: {result.frames} frames, {result.duration_s:.1f} s, "
        f"{result.segments_exported}/{len(segments)} segments{joined}{truncated}"
    )
    return 0 if not result.problems else 2


def _moment(text: str) -> float:
    try:
        return parse_rfc3339(text).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an RFC 3339 time with a zone (2026-05-01T18:00:00Z)"
        ) from None


def _chosen_clips(args: argparse.Namespace, clips: list[ClipRecord]) -> list[ClipRecord]:
    """The one clip asked for, or the finished clips overlapping --from/--until, in order."""
    window = args.start is not None or args.end is not None
    if window == (args.clip_id is not None):
        raise CommandError("give a clip id, or --from and --until (not both)")
    if not window:
        chosen = [c for c in clips if c.id == args.clip_id]
        if not chosen:
            raise CommandError(f"no clip {args.clip_id} (see `doorbell clips`)")
        return chosen
    if args.start is None or args.end is None or args.end <= args.start:
        raise CommandError("--from and --until go together, --until after --from")
    chosen = [
        c
        for c in clips
        if c.status in ("complete", "truncated")
        and c.started_at <= args.end
        and (c.ended_at or c.started_at) >= args.start
    ]
    if not chosen:
        raise CommandError("no finished clip in that time range (see `doorbell clips`)")
    return sorted(chosen, key=lambda c: c.started_at)


def _record(
    args: argparse.Namespace, state_dir: Path, owner: OwnerKey, clip_ids: list[str]
) -> None:
    if not args.mirror:
        record_export(state_dir, owner, clip_ids, args.purpose)
        return
    from edge.owner.mirror_dir import record_decision

    body = entries.clip_exported(clip_ids, args.purpose)
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
