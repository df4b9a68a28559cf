"""Questions other threads ask about the mirror, each on a short-lived connection:
how many segments are acknowledged, how many of a clip never were, and waiting (bounded)
for the backlog to drain at the end of a replay."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from edge.core.log.ledger import LEDGER_FILENAME
from edge.core.store.errors import StorageError
from edge.core.store.index import connect
from edge.core.store.layout import INDEX_NAME
from edge.device.mirror.progress import MirrorProgress, unmirrored_segments_of

log = logging.getLogger(__name__)


def mirrored_segments(state_dir: Path, clip_ids: list[str]) -> int:
    """How many segments of these clips the broker acknowledged for the mirror."""
    progress = MirrorProgress(state_dir)
    try:
        return progress.acked_count(clip_ids)
    finally:
        progress.close()


def count_unmirrored(state_dir: Path, clip_id: str) -> int:
    """Finished segments of a clip that were never acknowledged."""
    conn = connect(Path(state_dir) / INDEX_NAME)
    try:
        return unmirrored_segments_of(conn, clip_id)
    finally:
        conn.close()


def wait_for_mirror(state_dir: Path, timeout_s: float) -> bool:
    """Wait until every finished segment and the whole ledger are acknowledged, or
    `timeout_s` passed; True when nothing is left."""
    progress = MirrorProgress(state_dir)
    ledger = Path(state_dir) / LEDGER_FILENAME
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                backlog = progress.backlog()
                _lines, sent = progress.ledger_sent()
            except StorageError as exc:
                log.warning("mirror: cannot read progress: %s", exc)
                return False
            size = ledger.stat().st_size if ledger.exists() else 0
            if backlog == 0 and sent >= size:
                return True
            if time.monotonic() >= deadline:
                log.warning(
                    "mirror: %d segment(s) and %d ledger byte(s) not yet acknowledged; "
                    "they are sent when the broker is back",
                    backlog,
                    max(0, size - sent),
                )
                return False
            time.sleep(0.1)
    finally:
        progress.close()
