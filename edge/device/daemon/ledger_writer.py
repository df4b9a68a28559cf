"""The daemon's own ledger entries, which a full or failing disk must not stop.

An append can fail (no space left, a read-only remount). The daemon must keep recording
and the ledger must still end up with every clip, so a failed append is logged and the
next one first catches the ledger up from the index (`DeviceAudit.catch_up` records each
finished or deleted clip the ledger lacks), as a restart would. One lock orders the two
threads that append (the writer thread: clips closed, and clips deleted to make room on
a full disk; the processing thread: retention and privacy changes), and an entry a
catch-up has made is not made again. A catch-up also signs a checkpoint when the log
grew without one (at start, or after a failed one).
"""

from __future__ import annotations

import logging
import threading

from edge.core.log import entries
from edge.core.log.ledger import LedgerError
from edge.core.store.errors import StorageError
from edge.core.store.index import ClipRecord
from edge.device.consent.device_audit import DeviceAudit
from edge.device.store.clip_store import ClipStore
from edge.device.store.retention import Deletion

log = logging.getLogger(__name__)

_FAILURES = (OSError, LedgerError, StorageError)


class DaemonLedger:
    """Appends the daemon's device entries, catching up after a failed append."""

    def __init__(self, audit: DeviceAudit, store: ClipStore) -> None:
        self._audit = audit
        self._store = store
        self._lock = threading.Lock()
        self._made_by_catch_up: set[tuple[str, str]] = set()
        self.behind = False

    def catch_up(self) -> None:
        """Record what the index has and the ledger lacks (at start, and when behind)."""
        with self._lock:
            self._catch_up()

    def clip_stored(self, record: ClipRecord) -> None:
        """Record a closed clip (complete, or cut short by a storage fault)."""
        with self._lock:
            if self._caught_up((entries.CLIP_STORED, record.id)):
                return
            try:
                self._audit.clip_stored(record, self._store.segments(record.id))
            except _FAILURES as exc:
                self._fell_behind(f"clip {record.id} stored", exc)

    def clip_deleted(self, deletion: Deletion) -> None:
        """Record a clip deleted by retention or to make room."""
        with self._lock:
            if self._caught_up((entries.CLIP_DELETED, deletion.clip_id)):
                return
            try:
                self._audit.clip_deleted(deletion)
            except _FAILURES as exc:
                self._fell_behind(f"clip {deletion.clip_id} deleted", exc)

    def privacy_changed(self, on: bool, source: str) -> None:
        """Record a privacy mode change; one that cannot be written is only logged (the
        index does not keep it, so no catch-up can restore it)."""
        with self._lock:
            try:
                self._audit.privacy_changed(on, source)
            except _FAILURES as exc:
                log.error("ledger: privacy mode %s not recorded: %s", "on" if on else "off", exc)

    def _caught_up(self, entry: tuple[str, str]) -> bool:
        """Catch up first if behind; True when that already recorded `entry`."""
        if self.behind:
            self._catch_up()
        return entry in self._made_by_catch_up

    def _catch_up(self) -> None:
        try:
            made = self._audit.catch_up(self._store)
            # Also covers what another process appended (the owner's share) and a ledger
            # from before checkpoints, whose lines become the first leaves.
            self._audit.checkpoint()
        except _FAILURES as exc:
            self._fell_behind("the clips the ledger lacks", exc)
            return
        for entry in made:
            log.info("ledger: recorded %s seq %d", entry.type, entry.seq)
            self._made_by_catch_up.add((entry.type, str(entry.body.get("clip"))))
        if self.behind:
            log.warning("ledger: caught up with %d entries after failed appends", len(made))
        self.behind = False

    def _fell_behind(self, what: str, exc: Exception) -> None:
        self.behind = True
        log.error(
            "ledger: could not record %s (%s); recorded once the ledger can be written", what, exc
        )
