"""The home server's witness: keeps every doorbell's events and checks its ledger.

Each signed checkpoint a doorbell publishes goes to `LogWitness` (edge.home.log_witness),
which cosigns it only when it provably extends the last one cosigned; what it wants
published (cosignatures, alarms) waits in `take_outgoing()`. Besides, the health message
carries the ledger head (`seq`, `hash`): a head whose `seq` goes backwards (a truncated
or rolled-back ledger) or a known `seq` with a different hash (a rewritten ledger) is
reported loudly too. The witness needs no camera and no owner key: everything it reads
is metadata.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.core.mqtt import topics
from edge.core.mqtt.schemas import (
    ClipDeleted,
    ClipStored,
    DoorbellPress,
    EventEnded,
    EventStarted,
    Health,
    LedgerCheckpoint,
    PayloadError,
    RequestStatus,
    validate_payload,
)
from edge.core.timestamps import rfc3339, utc_now
from edge.home.log_witness import LogWitness, Outcome

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,
    UNIQUE (device, topic, key)
);
CREATE TABLE IF NOT EXISTS devices (
    device TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    availability TEXT,
    motion TEXT,
    privacy TEXT,
    last_health TEXT
);
CREATE TABLE IF NOT EXISTS ledger_heads (
    device TEXT NOT NULL,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (device, seq)
);
CREATE TABLE IF NOT EXISTS warnings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    time TEXT NOT NULL,
    text TEXT NOT NULL
);
"""

# A device whose health stops for this many intervals is reported as silent.
SILENT_AFTER_INTERVALS = 3.0
_STATE_COLUMNS = {
    topics.AVAILABILITY: "availability",
    topics.MOTION: "motion",
    topics.PRIVACY: "privacy",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """One line for the operator: an event, or a warning that needs attention."""

    kind: Literal["event", "warning"]
    device: str
    text: str


class Witness:
    """Records what one subscriber hears; use from one thread."""

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.monotonic,
        *,
        log_witness: Callable[[sqlite3.Connection], LogWitness] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None)
        self._conn.executescript(_SCHEMA)
        self._clock = clock
        # Checkpoints are only witnessed with a witness key (`doorbell watch` has one).
        self.log = log_witness(self._conn) if log_witness is not None else None
        self._outgoing: list[tuple[str, str, str]] = []
        # device -> (monotonic time of its last health, its interval); in memory only,
        # so a restarted watcher gives every device a fresh grace period.
        self._health_seen: dict[str, tuple[float, float]] = {}
        self._silent: set[str] = set()

    def close(self) -> None:
        """Close the database."""
        self._conn.close()

    def take_outgoing(self) -> list[tuple[str, str, str]]:
        """(device prefix, suffix, payload) to publish retained, QoS 1; emptied by the call."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def observe(self, device: str, suffix: str, payload: bytes) -> list[Notice]:
        """Take one message from `device` (its topic prefix) on a published `suffix`."""
        now = rfc3339(utc_now())
        if suffix in topics.WITNESS_TOPICS:
            return self._witnessed(device, suffix, payload)
        try:
            value = validate_payload(suffix, payload)
        except (PayloadError, UnicodeError) as exc:
            return [self._warn(device, f"invalid payload on {suffix}: {exc}")]
        self._conn.execute(
            "INSERT INTO devices (device, first_seen, last_seen) VALUES (?, ?, ?) "
            "ON CONFLICT (device) DO UPDATE SET last_seen = excluded.last_seen",
            (device, now, now),
        )
        if isinstance(value, str):
            return self._state(device, suffix, value, now)
        if isinstance(value, Health):
            return self._health(device, value, payload.decode(), now)
        if isinstance(value, LedgerCheckpoint):
            if self.log is None:
                return []
            return self._outcome(device, self.log.on_checkpoint(device, value))
        key = _event_key(value)
        inserted = self._conn.execute(
            "INSERT OR IGNORE INTO events (device, topic, key, received_at, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            (device, suffix, key, now, payload.decode()),
        ).rowcount
        if not inserted:
            return []  # a QoS 1 duplicate or a retained repeat
        return [Notice("event", device, _describe(value))]

    def check_silence(self) -> list[Notice]:
        """Warn once about each device whose health messages stopped coming."""
        notices = []
        now = self._clock()
        for device, (seen, interval) in self._health_seen.items():
            if device in self._silent:
                continue
            if now - seen > SILENT_AFTER_INTERVALS * interval:
                self._silent.add(device)
                notices.append(
                    self._warn(device, f"no health message for {now - seen:.0f} s; is it down?")
                )
        return notices

    def _witnessed(self, device: str, suffix: str, payload: bytes) -> list[Notice]:
        if suffix != topics.LEDGER_COSIGNED or self.log is None:
            return []  # alarms are ours to send, not to take
        try:
            note = payload.decode("utf-8")
        except UnicodeError:
            return [self._warn(device, "invalid payload on ledger/cosigned: not UTF-8")]
        return self._outcome(device, self.log.on_cosigned(device, note))

    def _outcome(self, device: str, outcome: Outcome) -> list[Notice]:
        for suffix, payload in outcome.publish:
            self._outgoing.append((device, suffix, payload))
        if outcome.text is None:
            return []
        if outcome.warning:
            return [self._warn(device, outcome.text)]
        return [Notice("event", device, outcome.text)]

    def _state(self, device: str, suffix: str, value: str, now: str) -> list[Notice]:
        column = _STATE_COLUMNS[suffix]
        previous = self._conn.execute(
            f"SELECT {column} FROM devices WHERE device = ?", (device,)
        ).fetchone()[0]
        if previous == value:
            return []
        self._conn.execute(f"UPDATE devices SET {column} = ? WHERE device = ?", (value, device))
        self._conn.execute(
            "INSERT OR IGNORE INTO events (device, topic, key, received_at, payload) "
            "VALUES (?, ?, ?, ?, ?)",
            (device, suffix, f"{now}:{value}", now, value),
        )
        if suffix == topics.AVAILABILITY and value == topics.OFFLINE:
            self._health_seen.pop(device, None)
            return [self._warn(device, "went OFFLINE (shut down, crashed or lost its network)")]
        return [Notice("event", device, f"{column} {value}")]

    def _health(self, device: str, health: Health, text: str, now: str) -> list[Notice]:
        self._conn.execute("UPDATE devices SET last_health = ? WHERE device = ?", (text, device))
        self._health_seen[device] = (self._clock(), health.interval_s)
        notices = []
        if device in self._silent:
            self._silent.discard(device)
            notices.append(Notice("event", device, "health messages resumed"))
        head = health.ledger_head
        known = self._conn.execute(
            "SELECT MAX(seq) FROM ledger_heads WHERE device = ?", (device,)
        ).fetchone()[0]
        if head is None:
            if known is not None:
                notices.append(
                    self._warn(device, f"LEDGER HEAD MISSING from health (last seen seq {known})")
                )
            return notices
        same_seq = self._conn.execute(
            "SELECT hash FROM ledger_heads WHERE device = ? AND seq = ?", (device, head.seq)
        ).fetchone()
        if same_seq is not None and same_seq[0] != head.hash:
            notices.append(
                self._warn(
                    device,
                    f"LEDGER REWRITTEN: entry {head.seq} had hash {same_seq[0]}, now {head.hash}",
                )
            )
        if known is not None and head.seq < known:
            notices.append(
                self._warn(
                    device,
                    f"LEDGER WENT BACKWARDS: head is entry {head.seq}, "
                    f"but entry {known} was seen before (truncated or rolled back)",
                )
            )
        if known is None or head.seq > known:
            self._conn.execute(
                "INSERT INTO ledger_heads (device, seq, hash, seen_at) VALUES (?, ?, ?, ?)",
                (device, head.seq, head.hash, now),
            )
        return notices

    def _warn(self, device: str, text: str) -> Notice:
        self._conn.execute(
            "INSERT INTO warnings (device, time, text) VALUES (?, ?, ?)",
            (device, rfc3339(utc_now()), text),
        )
        return Notice("warning", device, text)


def _event_key(value: object) -> str:
    """What makes an event unique per device and topic (duplicates are QoS 1 repeats)."""
    if isinstance(value, RequestStatus):
        return f"{value.id}:{value.status}"
    if isinstance(value, DoorbellPress):
        return rfc3339(value.time)
    assert isinstance(value, ClipStored | ClipDeleted | EventStarted | EventEnded)
    return value.id


def _describe(value: object) -> str:
    if isinstance(value, ClipStored):
        return (
            f"clip stored {value.id} ({value.status}, {value.duration_s:.1f} s, "
            f"{value.segments} segments, {value.bytes} bytes, "
            f"{value.faces_redacted} faces redacted)"
        )
    if isinstance(value, ClipDeleted):
        return f"clip deleted {value.id} ({value.reason})"
    if isinstance(value, EventStarted):
        return f"motion started {value.id} (zones {value.zones or 'all'})"
    if isinstance(value, EventEnded):
        return f"motion ended {value.id} (peak score {value.peak_score:.2f})"
    if isinstance(value, RequestStatus):
        return f"footage request {value.id} {value.status}"
    if isinstance(value, DoorbellPress):
        return "doorbell pressed"
    return type(value).__name__
