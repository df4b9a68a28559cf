"""`status.json` in the state directory: what the running daemon last said about itself,
for `doorbell status` on the device (no IPC, no network). Written by the daemon every
`STATUS_INTERVAL_S` (replaced whole, not fsynced: it describes the present only); a file
older than twice that says the daemon is not running."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

STATUS_NAME = "status.json"
STATUS_INTERVAL_S = 15.0


@dataclass(frozen=True, slots=True)
class DaemonStatus:
    """One snapshot of the running daemon."""

    time: float
    pid: int
    source: str
    recorder: str
    fps: float
    frames_dropped: int
    fail_closed_frames: int
    privacy_mode: bool
    recording_stopped: str | None


def write_status(state_dir: Path, status: DaemonStatus) -> None:
    """Replace `status.json` with `status` (atomic rename)."""
    path = Path(state_dir) / STATUS_NAME
    staging = path.with_name(path.name + ".partial")
    staging.write_text(json.dumps(asdict(status)) + "\n", encoding="utf-8")
    os.replace(staging, path)


def read_status(state_dir: Path) -> DaemonStatus | None:
    """The last snapshot, or None when there is none or it cannot be read."""
    try:
        data: Any = json.loads((Path(state_dir) / STATUS_NAME).read_text(encoding="utf-8"))
        return DaemonStatus(**data)
    except (OSError, ValueError, TypeError):
        return None
