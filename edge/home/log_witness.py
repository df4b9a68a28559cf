"""The witness of each doorbell's audit log: checks every new checkpoint extends the last
one it cosigned, then cosigns it; refuses and raises the alarm when it does not.

A doorbell publishes each checkpoint (`ledger/checkpoint`) with the consistency proof
from the checkpoint before it. The witness pins the device's log key the first time it
sees it, verifies the device's signature, and checks the proof from the last checkpoint
it cosigned (when the message's proof starts elsewhere, because it missed one, it uses
the mirrored ledger if it has one, else it waits). On success it adds its cosignature
(C2SP tlog-cosignature) and publishes the cosigned note, retained, on `ledger/cosigned`.

It also reads the cosigned notes other witnesses publish: a device-signed checkpoint of
the same size with another root is a fork, shown to two witnesses. A fork, a rollback (a
smaller tree than one cosigned), a failed proof or a new device key is refused: both
signed checkpoints are kept as evidence files, and the alarm goes out on `ledger/alarm`
(JSON, retained; the Home Assistant problem entity) and as a warning.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.core.log import merkle
from edge.core.log.checkpoint import Checkpoint, cosign, cosignature_time, open_checkpoint
from edge.core.log.ledger import LEDGER_FILENAME, Ledger
from edge.core.log.note import NoteError
from edge.core.log.signing import Signer
from edge.core.log.tree import COSIGNED_FILENAME, EVIDENCE_DIR, leaf_hashes, origin_for_key
from edge.core.mqtt import topics
from edge.core.mqtt.schemas import LedgerCheckpoint
from edge.core.timestamps import rfc3339

SCHEMA = """
CREATE TABLE IF NOT EXISTS log_keys (
    device TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cosigned (
    device TEXT NOT NULL,
    size INTEGER NOT NULL,
    root TEXT NOT NULL,
    note TEXT NOT NULL,
    time TEXT NOT NULL,
    signed_at TEXT NOT NULL,
    PRIMARY KEY (device, size)
);
CREATE TABLE IF NOT EXISTS log_alarms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    time TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    evidence TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one message led to: a line for the operator (None: nothing worth saying),
    whether it is a warning, and messages to publish as (suffix, payload)."""

    text: str | None
    warning: bool
    publish: tuple[tuple[str, str], ...] = ()


_QUIET = Outcome(None, False)


class LogWitness:
    """Witnesses the logs of every doorbell on the broker; use from one thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        key: Signer,
        name: str,
        evidence_dir: Path,
        *,
        mirror: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        conn.executescript(SCHEMA)
        self._conn = conn
        self._key = key
        self.name = name
        self._evidence = evidence_dir
        self._mirror = mirror
        self._clock = clock

    def on_checkpoint(self, device: str, payload: LedgerCheckpoint) -> Outcome:
        """Check a device's new checkpoint; cosign it or refuse it."""
        key = payload.key
        try:
            note = payload.note()
            checkpoint = open_checkpoint(note, key)
        except NoteError as exc:
            return Outcome(f"refused a checkpoint that does not verify: {exc}", True)
        if checkpoint.origin != origin_for_key(key):
            return Outcome(f"refused a checkpoint with a foreign origin {checkpoint.origin}", True)
        pinned = self._pinned_key(device)
        if pinned is None:
            self._conn.execute(
                "INSERT INTO log_keys (device, key, origin) VALUES (?, ?, ?)",
                (device, key, checkpoint.origin),
            )
        elif pinned != key:
            return self._alarm(
                device, "key-changed", f"the log is now signed by {key}, not {pinned}", note
            )
        last = self.last_cosigned(device)
        signed_at = rfc3339(payload.time)
        if last is None:
            return self._cosign(device, note, checkpoint, signed_at, "first checkpoint seen")
        last_size, last_root, _last_note = last
        if checkpoint.size < last_size:
            if self._seen(device, checkpoint.size, checkpoint.root, signed_at):
                return _QUIET  # a repeat of one already cosigned (at-least-once delivery)
            # The device signs a checkpoint only when its ledger differs from the last
            # one it signed: signing a smaller tree again means its log went back.
            return self._alarm(
                device,
                "rollback",
                f"LOG ROLLED BACK: checkpoint of {checkpoint.size} entries after "
                f"{last_size} were cosigned",
                note,
            )
        if checkpoint.size == last_size:
            if checkpoint.root == last_root:
                return _QUIET  # the same tree head (a repeat, or signed again after a restart)
            return self._alarm(
                device,
                "fork",
                f"LOG FORKED: two checkpoints of {last_size} entries with different roots",
                note,
            )
        proof = self._proof(device, payload, last_size, checkpoint)
        if proof is None:
            return Outcome(
                f"cannot check the checkpoint of {checkpoint.size} entries yet: no "
                f"consistency proof from {last_size} (missed a checkpoint?); not cosigned",
                True,
            )
        if not merkle.verify_consistency(
            last_size, checkpoint.size, last_root, checkpoint.root, proof
        ):
            return self._alarm(
                device,
                "inconsistent",
                f"LOG REWRITTEN: the checkpoint of {checkpoint.size} entries does not extend "
                f"the {last_size} entries cosigned before",
                note,
            )
        return self._cosign(device, note, checkpoint, signed_at, f"extends {last_size}")

    def on_cosigned(self, device: str, note: str) -> Outcome:
        """Compare a cosigned checkpoint (ours or another witness's) with what we cosigned."""
        pinned = self._pinned_key(device)
        if pinned is None:
            return _QUIET
        try:
            checkpoint = open_checkpoint(note, pinned)
            ours = cosignature_time(note, self._key.signing_public)
        except NoteError:
            return _QUIET  # not the device's checkpoint: nothing it could be blamed for
        if ours is not None:
            return _QUIET
        seen = self._root_at(device, checkpoint.size)
        if seen is not None and seen != checkpoint.root:
            return self._alarm(
                device,
                "fork",
                f"LOG FORKED: another witness cosigned {checkpoint.size} entries with a "
                "different root than this witness did",
                note,
            )
        return _QUIET

    # -- internals -----------------------------------------------------------------------

    def _pinned_key(self, device: str) -> str | None:
        row = self._conn.execute("SELECT key FROM log_keys WHERE device = ?", (device,)).fetchone()
        return None if row is None else str(row[0])

    def last_cosigned(self, device: str) -> tuple[int, bytes, str] | None:
        """(size, root, cosigned note) of the newest checkpoint cosigned for `device`."""
        row = self._conn.execute(
            "SELECT size, root, note FROM cosigned WHERE device = ? ORDER BY size DESC LIMIT 1",
            (device,),
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), base64.b64decode(row[1]), str(row[2])

    def _seen(self, device: str, size: int, root: bytes, signed_at: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM cosigned WHERE device = ? AND size = ? AND root = ? AND signed_at = ?",
            (device, size, base64.b64encode(root).decode(), signed_at),
        ).fetchone()
        return row is not None

    def _root_at(self, device: str, size: int) -> bytes | None:
        row = self._conn.execute(
            "SELECT root FROM cosigned WHERE device = ? AND size = ?", (device, size)
        ).fetchone()
        return None if row is None else base64.b64decode(row[0])

    def _proof(
        self, device: str, payload: LedgerCheckpoint, last_size: int, checkpoint: Checkpoint
    ) -> list[bytes] | None:
        if payload.previous_size == last_size:
            return payload.proof()
        folder = self._mirror_folder(device)
        if folder is None:
            return None
        leaves = leaf_hashes(Ledger(folder / LEDGER_FILENAME).lines())
        if len(leaves) < checkpoint.size:
            return None
        leaves = leaves[: checkpoint.size]
        if merkle.root(leaves) != checkpoint.root:
            return None  # the mirror is not this tree: it cannot prove anything about it
        return merkle.consistency_proof(leaves, last_size)

    def _mirror_folder(self, device: str) -> Path | None:
        if self._mirror is None:
            return None
        return self._mirror / _device_id(device)

    def _cosign(
        self, device: str, note: str, checkpoint: Checkpoint, signed_at: str, why: str
    ) -> Outcome:
        now = self._clock()
        cosigned = cosign(note, self.name, self._key, int(now.timestamp()))
        self._conn.execute(
            "INSERT OR REPLACE INTO cosigned (device, size, root, note, time, signed_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                device,
                checkpoint.size,
                base64.b64encode(checkpoint.root).decode(),
                cosigned,
                rfc3339(now),
                signed_at,
            ),
        )
        folder = self._mirror_folder(device)
        if folder is not None and folder.is_dir():
            _write(folder / COSIGNED_FILENAME, cosigned)
        return Outcome(
            f"cosigned the audit log at {checkpoint.size} entries ({why})",
            False,
            ((topics.LEDGER_COSIGNED, cosigned),),
        )

    def _alarm(self, device: str, kind: str, text: str, offending: str) -> Outcome:
        now = self._clock()
        stamp = now.strftime("%Y%m%dT%H%M%S.%fZ")
        folders = [self._evidence / _safe(device) / f"{stamp}-{kind}"]
        mirrored = self._mirror_folder(device)
        if mirrored is not None and mirrored.is_dir():
            folders.append(mirrored / EVIDENCE_DIR / f"{stamp}-{kind}")
        last = self.last_cosigned(device)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            _write(folder / "offending.note", offending)
            if last is not None:
                _write(folder / f"cosigned-{last[0]}.note", last[2])
            _write(folder / "reason.txt", text + "\n")
        self._conn.execute(
            "INSERT INTO log_alarms (device, time, kind, text, evidence) VALUES (?, ?, ?, ?, ?)",
            (device, rfc3339(now), kind, text, str(folders[0])),
        )
        alarm = json.dumps(
            {"schema": 1, "state": "ON", "kind": kind, "reason": text, "time": rfc3339(now)}
        )
        return Outcome(
            f"{text}; refused, evidence in {folders[0]}", True, ((topics.LEDGER_ALARM, alarm),)
        )


def _device_id(device: str) -> str:
    """The device id of a topic prefix `doorbell/<id>` (the mirror's folder name)."""
    return device.rsplit("/", 1)[-1]


def _safe(device: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", device)


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
