"""Where clips live on disk and how clip ids are made, as pure functions of the clip id.

Layout: `<state>/clips/YYYY/MM/DD/<clip-id>/<n>.mp4.age` (the date is the clip's UTC start).
A clip id is `YYYYMMDDTHHMMSSZ-xxxx`: a UTC timestamp that sorts, plus a random suffix so
two clips started in the same second, or ids made after a restart, do not collide.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

CLIPS_DIR = "clips"
INDEX_NAME = "index.sqlite"
SEGMENT_SUFFIX = ".mp4.age"
PARTIAL_SUFFIX = ".partial"
DEVICE_KEY_NAME = "device.key"
DEVICE_PUB_NAME = "device.pub"

_CLIP_ID = re.compile(r"^(\d{8}T\d{6}Z)-([0-9a-f]{4})$")
_SEGMENT_NAME = re.compile(r"^(0|[1-9]\d{0,5})\.mp4\.age(\.partial)?$")


def new_clip_id(started_at: float) -> str:
    """A fresh clip id for a clip starting at `started_at` (Unix seconds)."""
    stamp = datetime.fromtimestamp(started_at, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.urandom(2).hex()}"


def is_clip_id(text: str) -> bool:
    """True when `text` has the clip id shape (and so is safe inside a path)."""
    return _CLIP_ID.match(text) is not None


def clip_id_time(clip_id: str) -> float:
    """The UTC start second encoded in a clip id, as Unix seconds."""
    match = _CLIP_ID.match(clip_id)
    if match is None:
        raise ValueError(f"not a clip id: {clip_id!r}")
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()


def clips_root(state_dir: Path) -> Path:
    """The folder that holds every clip folder."""
    return state_dir / CLIPS_DIR


def clip_dir(state_dir: Path, clip_id: str) -> Path:
    """The folder of one clip: `clips/YYYY/MM/DD/<clip-id>`."""
    if not is_clip_id(clip_id):
        raise ValueError(f"not a clip id: {clip_id!r}")
    return clips_root(state_dir) / clip_id[0:4] / clip_id[4:6] / clip_id[6:8] / clip_id


def segment_name(n: int, partial: bool = False) -> str:
    """File name of segment `n`, finished or still being written."""
    return f"{n}{SEGMENT_SUFFIX}{PARTIAL_SUFFIX if partial else ''}"


def parse_segment_name(name: str) -> tuple[int, bool] | None:
    """`(n, partial)` for a segment file name, None for any other name."""
    match = _SEGMENT_NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2) is not None


def fsync_dir(path: Path) -> None:
    """Make renames, creations and removals inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs_durable(path: Path, attempts: int = 5) -> None:
    """Create `path` and any missing parents, fsyncing each parent that gained an entry.

    Retention may prune an empty date folder between our creating it and creating the
    folder inside it; creation then starts again from what exists.
    """
    for attempt in range(attempts):
        missing: list[Path] = []
        current = path
        while not current.exists():
            missing.append(current)
            current = current.parent
        try:
            for folder in reversed(missing):
                try:
                    folder.mkdir(mode=0o750)
                except FileExistsError:
                    continue
                fsync_dir(folder.parent)
            return
        except FileNotFoundError:
            if attempt == attempts - 1:
                raise
