"""`doorbell clips [--config FILE | --mirror DIR] [--json] [--all]`: list stored clips.

Reads the index without changing it, so it is safe while the daemon is recording; with
`--mirror` it reads the home server's copy instead, which keeps clips the device's
retention has removed.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from edge.commands import CommandError
from edge.commands.options import (
    add_config_argument,
    add_mirror_arguments,
    load_device_config,
    mirror_folder,
)
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
