"""Privacy mode survives every restart: the watchdog's, systemd's `Restart=`, a power cut.

The mode is written to `privacy.json` in the state directory (written beside, fsynced,
renamed, directory fsynced) before the change takes effect, and read back at start. A file
that cannot be read counts as privacy **on**: the network may only ever make the device
more private, and an unreadable file must not resume recording nobody asked for.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from edge.core.store.layout import PARTIAL_SUFFIX, fsync_dir
from edge.core.timestamps import rfc3339, utc_now

log = logging.getLogger(__name__)

PRIVACY_NAME = "privacy.json"


def load_privacy_mode(state_dir: Path) -> bool:
    """The privacy mode last saved in `state_dir` (off when none was ever saved)."""
    path = Path(state_dir) / PRIVACY_NAME
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.error("cannot read %s (%s): privacy mode stays on", path, exc)
        return True
    if not isinstance(saved, dict) or not isinstance(saved.get("on"), bool):
        log.error("%s does not say whether privacy mode is on: privacy mode stays on", path)
        return True
    return saved["on"]


def save_privacy_mode(state_dir: Path, on: bool, source: str) -> None:
    """Durably record the mode; OSError when the disk refuses (the caller decides)."""
    path = Path(state_dir) / PRIVACY_NAME
    staging = path.with_name(path.name + PARTIAL_SUFFIX)
    text = json.dumps({"on": on, "source": source, "since": rfc3339(utc_now())}) + "\n"
    with open(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(staging, path)
    fsync_dir(path.parent)
