"""Removing a clip's files and the date folders it leaves empty, durably."""

from __future__ import annotations

import contextlib
from pathlib import Path

from edge.core.store.layout import clip_dir, clips_root, fsync_dir, parse_segment_name

_HASH_BLOCK = 1 << 20


def remove_clip_files(state_dir: Path, clip_id: str) -> int:
    """Delete a clip's segment files (finished and partial) and prune empty folders.

    Returns how many files were removed. Files that are not segments are left alone (and
    so is their folder): the store only deletes what it wrote.
    """
    folder = clip_dir(state_dir, clip_id)
    removed = 0
    try:
        for path in folder.iterdir():
            if parse_segment_name(path.name) is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        fsync_dir(folder)
    except FileNotFoundError:
        pass  # no folder (never written, or removed already): nothing left to remove
    prune_empty_dirs(folder, clips_root(state_dir))
    return removed


def prune_empty_dirs(folder: Path, stop: Path) -> None:
    """Remove `folder` and its parents below `stop` while they are empty."""
    while folder != stop and stop in folder.parents:
        try:
            folder.rmdir()
            fsync_dir(folder.parent)
        except FileNotFoundError:
            pass  # another thread pruned it (or its parent) first: keep climbing
        except OSError:
            return  # not empty: stop climbing
        folder = folder.parent
