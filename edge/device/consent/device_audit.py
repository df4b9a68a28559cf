"""What the daemon records in the ledger by itself, signed with the device key.

The daemon holds one `DeviceAudit`: it calls `clip_stored` after a clip is closed,
`clip_deleted` for each retention deletion, `privacy_changed` when privacy mode flips,
and `catch_up` once at start, which records the clips a crash left unrecorded (closed
by repair, or deleted between the index commit and the ledger append). `head()` is what
the health payload publishes.

After every append it signs a checkpoint of the log (`edge.core.log.tree`) and puts it,
with the consistency proof from the checkpoint before, into the outbox for the
`ledger/checkpoint` topic; `checkpoint_now` does the same for appends made by another
process (the owner's `share` and `requests` commands on the device).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.core.log import entries
from edge.core.log.entries import SegmentHash
from edge.core.log.ledger import Entry, Head, Ledger, LedgerError
from edge.core.log.signing import Signer
from edge.core.log.tree import SignedCheckpoint, update_checkpoint
from edge.core.mqtt.schemas import LedgerCheckpoint, outbox_event
from edge.core.store.errors import StorageError
from edge.core.store.index import (
    ON_DISK_STATES,
    ClipRecord,
    SegmentRecord,
    connect,
    storage_error,
    transaction,
)
from edge.core.store.layout import INDEX_NAME
from edge.core.store.outbox import enqueue_events
from edge.core.timestamps import unix_rfc3339, utc_now
from edge.device.store.clip_store import ClipStore
from edge.device.store.device_key import DeviceKey
from edge.device.store.retention import Deletion

log = logging.getLogger(__name__)


def clip_stored_body(clip: ClipRecord, segments: Sequence[SegmentRecord]) -> dict[str, Any]:
    """The `clip.stored` body for a closed clip: every segment file it has on disk."""
    return entries.clip_stored(
        clip.id,
        unix_rfc3339(clip.started_at) or "",
        unix_rfc3339(clip.ended_at),
        clip.status,
        [
            SegmentHash(s.n, s.sha256, s.bytes, s.state)
            for s in segments
            if s.state in ON_DISK_STATES
        ],
    )


class DeviceAudit:
    """Device-signed ledger entries for one state directory."""

    def __init__(self, ledger: Ledger, device_key: DeviceKey) -> None:
        self.ledger = ledger
        self.signer = device_key
        # Called after a checkpoint is queued (the daemon sets it to wake the publisher).
        self.on_checkpoint: Callable[[], None] | None = None

    @classmethod
    def for_store(cls, store: ClipStore) -> DeviceAudit:
        """The audit of the store's state directory, signing with the store's device key."""
        return cls(Ledger.in_state_dir(store.state_dir), store.device_key)

    def head(self) -> Head:
        """(seq, hash) of the last complete entry, for the health payload.

        First signs a checkpoint if another process appended since the last one (the
        owner's `requests deny` or `export` on the device), so those are published within
        one health interval.
        """
        try:
            self.checkpoint()
        except (OSError, LedgerError, StorageError) as exc:
            log.error("ledger: could not sign a checkpoint: %s", exc)
        return self.ledger.head()

    def clip_stored(self, clip: ClipRecord, segments: Sequence[SegmentRecord]) -> Entry:
        """Record a closed clip with the ciphertext hash of each segment."""
        body = clip_stored_body(clip, segments)
        return self._append(entries.CLIP_STORED, body)

    def clip_deleted(self, deletion: Deletion) -> Entry:
        """Record a clip deleted by retention, the quota, free space or the owner."""
        body = entries.clip_deleted(deletion.clip_id, deletion.reason)
        return self._append(entries.CLIP_DELETED, body)

    def privacy_changed(self, enabled: bool, source: str) -> Entry:
        """Record privacy mode switched on or off, and by what."""
        body = entries.privacy_changed(enabled, source)
        return self._append(entries.PRIVACY_CHANGED, body)

    def request_received(self, request_id: str, source: str, payload: dict[str, Any]) -> Entry:
        """Record a footage request as it arrived (after validation)."""
        body = entries.request_received(request_id, source, payload)
        return self._append(entries.REQUEST_RECEIVED, body)

    def append_owner_decision(self, body: dict[str, Any]) -> Entry:
        """Record an owner decision made off the device (checked by `DecisionIntake`)."""
        return self._append(entries.OWNER_DECISION, body)

    def _append(self, entry_type: str, body: dict[str, Any]) -> Entry:
        entry = self.ledger.append(self.signer, entry_type, body)
        self.checkpoint()
        return entry

    def checkpoint(self) -> SignedCheckpoint | None:
        """Sign and queue a checkpoint if the log grew since the last one."""
        signed = checkpoint_now(self.ledger.path.parent, self.signer)
        if signed is not None and self.on_checkpoint is not None:
            self.on_checkpoint()
        return signed

    def catch_up(self, store: ClipStore) -> list[Entry]:
        """Record every finished or deleted clip of the index the ledger does not have yet."""
        stored, deleted = recorded_clips(self.ledger.path)
        added = []
        for clip in store.clips(include_deleted=True):
            if clip.status in ("complete", "truncated") and clip.id not in stored:
                added.append(self.clip_stored(clip, store.segments(clip.id)))
            elif clip.status == "deleted" and clip.id not in deleted:
                reason = clip.delete_reason or "unknown"
                deletion = Deletion(clip.id, reason, clip.bytes, clip.started_at)
                added.append(self.clip_deleted(deletion))
        return added


def recorded_clips(path: Path) -> tuple[set[str], set[str]]:
    """Ids of clips with a `clip.stored` and with a `clip.deleted` entry (not verified)."""
    stored: set[str] = set()
    deleted: set[str] = set()
    for _number, line in Ledger(path).lines():
        # A damaged line is `audit verify`'s business; here it only must not stop recording.
        try:
            data = json.loads(line)
            entry_type, clip_id = data["type"], data["body"]["clip"]
        except (ValueError, TypeError, KeyError):
            continue
        if entry_type == entries.CLIP_STORED:
            stored.add(str(clip_id))
        elif entry_type == entries.CLIP_DELETED:
            deleted.add(str(clip_id))
    return stored, deleted


def checkpoint_now(state_dir: Path, signer: Signer) -> SignedCheckpoint | None:
    """Sign a checkpoint of the ledger in `state_dir` if it grew, and queue it for MQTT.

    The outbox row is written under the ledger's lock, so checkpoints are published in
    the order they were signed; a crash between the checkpoint file and the row loses
    one message, which a witness with the mirrored ledger can do without.
    """
    index = Path(state_dir) / INDEX_NAME

    def enqueue(signed: SignedCheckpoint) -> None:
        if not index.is_file():
            return
        payload = LedgerCheckpoint.from_note(
            signer.signing_public,
            signed.note,
            signed.previous_size,
            list(signed.consistency),
            utc_now(),
        )
        conn = connect(index)
        try:
            with transaction(conn):
                enqueue_events(conn, [outbox_event(payload)])
        except sqlite3.Error as exc:
            # A full disk: the entry and its signed checkpoint are written; the caller
            # (the daemon's ledger writer) logs the StorageError and carries on.
            raise storage_error(exc, "cannot queue the checkpoint for MQTT") from None
        finally:
            conn.close()

    return update_checkpoint(Ledger.in_state_dir(state_dir), signer, enqueue)
