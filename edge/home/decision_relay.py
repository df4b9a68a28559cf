"""`doorbell mirror` relays the owner's decisions to their doorbell, until its log has them.

The owner's tools leave each signed decision in `<mirror>/<device>/decisions/pending/`.
On every round the relay sends each pending one to `<root>/<device>/decisions/new` (QoS
1), and moves it to `decisions/delivered/` once the mirrored log (which the device keeps
sending) holds it. The device appends a decision at most once, so sending it again after
a reconnect, a restart or an offline doorbell is harmless, and nothing is lost meanwhile.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

from edge.core.mirror.decisions_dir import (
    DECISIONS_DIR,
    DELIVERED_DIR,
    pending_decisions,
    recorded_decision_ids,
)
from edge.core.mqtt.topics import DECISION_NEW
from edge.core.store.layout import fsync_dir, make_dirs_durable

log = logging.getLogger(__name__)

RELAY_INTERVAL_S = 30.0
_MAX_DECISION_BYTES = 16 * 1024  # what the device accepts on one command topic


class DecisionRelay:
    """The pending decisions under a mirror root, as MQTT messages for their devices."""

    def __init__(self, root: Path, topic_root: str) -> None:
        self.root = root
        self.topic_root = topic_root

    def due(self) -> Iterator[tuple[str, bytes]]:
        """(topic, payload) of every decision still pending; delivered ones are moved."""
        if not self.root.is_dir():
            return
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            pending = pending_decisions(folder)
            if not pending:
                continue
            recorded = recorded_decision_ids(folder)
            for path in pending:
                decision_id = path.stem.rsplit("-", 1)[-1]
                if decision_id in recorded:
                    self._delivered(folder, path)
                    continue
                payload = path.read_bytes()
                if len(payload) > _MAX_DECISION_BYTES:
                    log.error("mirror: decision %s is too large to send; left pending", path)
                    continue
                yield f"{self.topic_root}/{folder.name}/{DECISION_NEW}", payload

    def _delivered(self, folder: Path, path: Path) -> None:
        done = folder / DECISIONS_DIR / DELIVERED_DIR
        make_dirs_durable(done)
        os.replace(path, done / path.name)
        fsync_dir(done)
        fsync_dir(path.parent)
        log.info("mirror: decision %s is in %s's log", path.stem, folder.name)
