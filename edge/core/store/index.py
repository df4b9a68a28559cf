"""The SQLite index of clips and segments, and the outbox table beside them.

One database file, `index.sqlite`, in WAL mode so the writer thread and the MQTT thread
(each with its own connection; sqlite3 objects never cross threads) read and write
without blocking each other for long. `synchronous=FULL`: in WAL mode NORMAL may lose the
last commits at a power cut, and a lost commit here is a lost "clip stored" event or a
segment the home server never hears of; FULL costs one fsync per commit, about one every
`recording.segment_seconds`, which an SD card handles easily.

The schema is versioned with `PRAGMA user_version`; `connect` migrates older files.
Times are Unix seconds (REAL, UTC); records turn them into RFC 3339 for people and JSON.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge.core.store.errors import StorageError, StorageFullError
from edge.core.timestamps import unix_rfc3339

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 10_000

ClipStatus = Literal["in_progress", "complete", "truncated", "deleted"]
SegmentState = Literal["stored", "recovered", "partial", "missing"]

# States whose file is on disk; `missing` rows are kept as a record of what was lost.
ON_DISK_STATES: tuple[SegmentState, ...] = ("stored", "recovered", "partial")

_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE clips (
        id TEXT PRIMARY KEY,
        started_at REAL NOT NULL,
        ended_at REAL,
        duration_s REAL,
        status TEXT NOT NULL
            CHECK (status IN ('in_progress', 'complete', 'truncated', 'deleted')),
        segments INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        faces_redacted INTEGER NOT NULL DEFAULT 0,
        manifest_sha256 TEXT,
        deleted_at REAL,
        delete_reason TEXT
    ) STRICT;
    CREATE INDEX clips_by_start ON clips (started_at, id);
    CREATE TABLE segments (
        clip_id TEXT NOT NULL REFERENCES clips (id),
        n INTEGER NOT NULL CHECK (n >= 0),
        started_at REAL,
        duration_s REAL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        signature TEXT,
        state TEXT NOT NULL CHECK (state IN ('stored', 'recovered', 'partial', 'missing')),
        PRIMARY KEY (clip_id, n)
    ) STRICT;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL,
        delivered_at REAL
    ) STRICT;
    CREATE INDEX outbox_pending ON outbox (id) WHERE delivered_at IS NULL;
    """,
)


@dataclass(frozen=True)
class ClipRecord:
    """One row of `clips`.

    `segments` and `bytes` count the segment files on disk (finished, recovered and
    partial); `manifest_sha256` is the SHA-256 of the lines `<n> <sha256>\\n` of the
    clip's finished segments in order, one digest for the whole clip's ciphertext.
    """

    id: str
    started_at: float
    ended_at: float | None
    duration_s: float | None
    status: ClipStatus
    segments: int
    bytes: int
    faces_redacted: int
    manifest_sha256: str | None
    deleted_at: float | None
    delete_reason: str | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with RFC 3339 times."""
        return {
            "id": self.id,
            "started_at": unix_rfc3339(self.started_at),
            "ended_at": unix_rfc3339(self.ended_at),
            "duration_s": self.duration_s,
            "status": self.status,
            "segments": self.segments,
            "bytes": self.bytes,
            "faces_redacted": self.faces_redacted,
            "manifest_sha256": self.manifest_sha256,
            "deleted_at": unix_rfc3339(self.deleted_at),
            "delete_reason": self.delete_reason,
        }


@dataclass(frozen=True)
class SegmentRecord:
    """One row of `segments`.

    `state`: `stored` (written and signed normally), `recovered` (a finished file found
    at startup without its row; hashed and signed then), `partial` (a `.partial` file
    left by a power cut, kept for salvage; not signed), `missing` (the row outlived its
    file). `signature` is hex of the device's Ed25519 signature over
    `device_key.segment_message(clip_id, n, sha256)`.
    """

    clip_id: str
    n: int
    started_at: float | None
    duration_s: float | None
    bytes: int
    sha256: str
    signature: str | None
    state: SegmentState


def connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the index for use by the calling thread."""
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=check_same_thread,
        )
    except sqlite3.Error as exc:
        raise storage_error(exc, f"cannot open index {path}") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        _configure(conn)
        _migrate(conn)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise storage_error(exc, f"cannot open index {path}") from None
        raise
    return conn


def connect_existing(path: Path) -> sqlite3.Connection:
    """Open an index that must already exist, without creating or migrating anything."""
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw",
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
        )
        _configure(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.Error as exc:
        raise storage_error(exc, f"cannot open index {path}") from None
    if version != SCHEMA_VERSION:
        conn.close()
        raise StorageError(
            f"index {path} has schema version {version}, this program reads {SCHEMA_VERSION}"
        )
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _migrate(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"index has schema version {version}, newer than this program's {SCHEMA_VERSION}"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target - 1].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={target}")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` … `COMMIT`, rolled back on any exception.

    IMMEDIATE takes the write lock up front, so two threads never both read and then
    fail to upgrade to writing (which SQLite would report as busy without waiting).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (e.g. after SQLITE_FULL on COMMIT).
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def storage_error(exc: sqlite3.Error, context: str) -> StorageError:
    """A StorageError (StorageFullError for SQLITE_FULL) describing a SQLite failure."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return StorageFullError(f"{context}: {exc}")
    return StorageError(f"{context}: {exc}")


_CLIP_COLUMNS = (
    "id, started_at, ended_at, duration_s, status, segments, bytes, faces_redacted, "
    "manifest_sha256, deleted_at, delete_reason"
)
_SEGMENT_COLUMNS = "clip_id, n, started_at, duration_s, bytes, sha256, signature, state"


def insert_clip(conn: sqlite3.Connection, clip_id: str, started_at: float) -> None:
    """Add a clip in progress."""
    conn.execute(
        "INSERT INTO clips (id, started_at, status) VALUES (?, ?, 'in_progress')",
        (clip_id, started_at),
    )


def get_clip(conn: sqlite3.Connection, clip_id: str) -> ClipRecord | None:
    """The clip with this id, or None."""
    row = conn.execute(f"SELECT {_CLIP_COLUMNS} FROM clips WHERE id = ?", (clip_id,)).fetchone()
    return ClipRecord(*row) if row else None


def list_clips(
    conn: sqlite3.Connection, statuses: tuple[ClipStatus, ...] | None = None
) -> list[ClipRecord]:
    """Clips oldest first, optionally only those with one of `statuses`."""
    sql = f"SELECT {_CLIP_COLUMNS} FROM clips"
    params: tuple[str, ...] = ()
    if statuses is not None:
        sql += f" WHERE status IN ({', '.join('?' * len(statuses))})"
        params = statuses
    rows = conn.execute(sql + " ORDER BY started_at, id", params).fetchall()
    return [ClipRecord(*row) for row in rows]


def list_segments(conn: sqlite3.Connection, clip_id: str) -> list[SegmentRecord]:
    """The segments of a clip in order."""
    rows = conn.execute(
        f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE clip_id = ? ORDER BY n", (clip_id,)
    ).fetchall()
    return [SegmentRecord(*row) for row in rows]


def put_segment(conn: sqlite3.Connection, segment: SegmentRecord) -> None:
    """Insert or replace a segment row, then refresh its clip's totals."""
    conn.execute(
        f"INSERT OR REPLACE INTO segments ({_SEGMENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            segment.clip_id,
            segment.n,
            segment.started_at,
            segment.duration_s,
            segment.bytes,
            segment.sha256,
            segment.signature,
            segment.state,
        ),
    )
    refresh_totals(conn, segment.clip_id)


def set_segment_state(conn: sqlite3.Connection, clip_id: str, n: int, state: SegmentState) -> None:
    """Change one segment's state, then refresh its clip's totals."""
    conn.execute("UPDATE segments SET state = ? WHERE clip_id = ? AND n = ?", (state, clip_id, n))
    refresh_totals(conn, clip_id)


def refresh_totals(conn: sqlite3.Connection, clip_id: str) -> None:
    """Recompute a clip's segment count, bytes and manifest digest from its segment rows.

    Totals are derived, never incremented, so a repair or a retried write cannot drift them.
    """
    on_disk = ", ".join(f"'{state}'" for state in ON_DISK_STATES)
    count, size = conn.execute(
        f"SELECT count(*), coalesce(sum(bytes), 0) FROM segments "
        f"WHERE clip_id = ? AND state IN ({on_disk})",
        (clip_id,),
    ).fetchone()
    finished = conn.execute(
        "SELECT n, sha256 FROM segments "
        "WHERE clip_id = ? AND state IN ('stored', 'recovered') ORDER BY n",
        (clip_id,),
    ).fetchall()
    manifest = "".join(f"{n} {digest}\n" for n, digest in finished)
    conn.execute(
        "UPDATE clips SET segments = ?, bytes = ?, manifest_sha256 = ? WHERE id = ?",
        (
            count,
            size,
            hashlib.sha256(manifest.encode("ascii")).hexdigest() if finished else None,
            clip_id,
        ),
    )


def close_clip(
    conn: sqlite3.Connection,
    clip_id: str,
    status: Literal["complete", "truncated"],
    duration_s: float | None,
    faces_redacted: int | None = None,
) -> None:
    """Mark a clip finished; a None duration means the sum of its segments' durations."""
    if duration_s is None:
        duration_s = conn.execute(
            "SELECT coalesce(sum(duration_s), 0.0) FROM segments WHERE clip_id = ?", (clip_id,)
        ).fetchone()[0]
    conn.execute(
        "UPDATE clips SET status = ?, duration_s = ?, ended_at = started_at + ?, "
        "faces_redacted = coalesce(?, faces_redacted) WHERE id = ?",
        (status, duration_s, duration_s, faces_redacted, clip_id),
    )


def mark_clip_deleted(conn: sqlite3.Connection, clip_id: str, reason: str, at: float) -> bool:
    """Record that a finished clip's files are being deleted, and why.

    Returns False (and changes nothing) when the clip is not finished, e.g. when another
    thread deleted it first.
    """
    cursor = conn.execute(
        "UPDATE clips SET status = 'deleted', deleted_at = ?, delete_reason = ? "
        "WHERE id = ? AND status IN ('complete', 'truncated')",
        (at, reason, clip_id),
    )
    return cursor.rowcount == 1


def set_clip_status(conn: sqlite3.Connection, clip_id: str, status: ClipStatus) -> None:
    """Change a clip's status only."""
    conn.execute("UPDATE clips SET status = ? WHERE id = ?", (status, clip_id))
