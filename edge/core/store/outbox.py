"""The durable outbox: events are written with the state they describe, then published.

A state change that the home server should hear about (clip started, stored, deleted)
inserts its events with `enqueue_events` inside the same transaction, so an event exists
exactly when its state does, whatever a power cut interrupts. The MQTT thread opens its
own `Outbox` (its own connection) and publishes `pending()` rows in id order, marking each
delivered on PUBACK. Ids come from AUTOINCREMENT, so they never go back even after pruning.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.core.store.index import connect, storage_error, transaction
from edge.core.store.layout import INDEX_NAME

# (topic suffix, payload); the publisher prepends its topic prefix. The payload is a
# JSON-serialisable mapping, or JSON text already serialised by the caller's schema.
Event = tuple[str, Mapping[str, Any] | str]


@dataclass(frozen=True)
class OutboxRow:
    """One event waiting for (or past) delivery; `payload` is the JSON text to publish."""

    id: int
    topic: str
    payload: str
    created_at: float


def enqueue_events(
    conn: sqlite3.Connection, events: Iterable[Event], now: float | None = None
) -> list[int]:
    """Insert events into the outbox inside the caller's open transaction; returns their ids."""
    if not conn.in_transaction:
        raise RuntimeError("enqueue_events must run inside the transaction of its state change")
    created = time.time() if now is None else now
    ids = []
    for topic, payload in events:
        if isinstance(payload, str):
            if not isinstance(json.loads(payload), dict):
                raise ValueError(f"payload for {topic} is not a JSON object")
            text = payload
        else:
            text = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
        cursor = conn.execute(
            "INSERT INTO outbox (topic, payload, created_at) VALUES (?, ?, ?)",
            (topic, text, created),
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


class Outbox:
    """The publisher's view of the outbox, on its own connection (use from one thread)."""

    def __init__(self, state_dir: Path) -> None:
        self._conn = connect(Path(state_dir) / INDEX_NAME)

    def pending(self, limit: int = 100) -> list[OutboxRow]:
        """Undelivered events, oldest first."""
        try:
            rows = self._conn.execute(
                "SELECT id, topic, payload, created_at FROM outbox "
                "WHERE delivered_at IS NULL ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot read the outbox") from None
        return [OutboxRow(*row) for row in rows]

    def mark_delivered(self, event_id: int, at: float | None = None) -> None:
        """Record that the broker acknowledged this event."""
        try:
            with transaction(self._conn):
                self._conn.execute(
                    "UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                    (time.time() if at is None else at, event_id),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot mark outbox event delivered") from None

    def prune_delivered(self, keep: int) -> int:
        """Delete all but the newest `keep` delivered events; returns how many went."""
        return self._prune("delivered_at IS NOT NULL", keep)

    def prune_undelivered(self, keep: int) -> int:
        """Delete all but the newest `keep` undelivered events (for a device without a
        broker, whose events are never delivered); returns how many went."""
        return self._prune("delivered_at IS NULL", keep)

    def _prune(self, condition: str, keep: int) -> int:
        try:
            with transaction(self._conn):
                cursor = self._conn.execute(
                    f"DELETE FROM outbox WHERE {condition} AND id NOT IN ("
                    f"SELECT id FROM outbox WHERE {condition} ORDER BY id DESC LIMIT ?)",
                    (max(keep, 0),),
                )
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot prune the outbox") from None
        return cursor.rowcount

    def close(self) -> None:
        """Close this thread's connection."""
        self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
