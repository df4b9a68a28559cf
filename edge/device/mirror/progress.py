"""What the mirror has handed to the broker, kept in the device's `index.sqlite`.

Three small tables beside the index (created here if missing, so the index schema and
its version stay the store's): `mirror_segments` (a segment the broker acknowledged,
every chunk of it, or one that could not be sent and why), `mirror_clips` (the clip
status last sent) and `mirror_ledger` (how many ledger lines and bytes were sent). The
work still to do is derived from the index by difference, so nothing has to be enqueued
by the writer thread and a power cut at any point leaves a consistent picture: at worst
a segment is sent again, which the receiver recognises as identical.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge.core.store.index import (
    ClipRecord,
    SegmentRecord,
    connect,
    get_clip,
    storage_error,
    transaction,
)
from edge.core.store.layout import INDEX_NAME

_TABLES = """
CREATE TABLE IF NOT EXISTS mirror_segments (
    clip_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    acked_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (clip_id, n)
) STRICT;
CREATE TABLE IF NOT EXISTS mirror_clips (
    clip_id TEXT PRIMARY KEY,
    status TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS mirror_ledger (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    lines INTEGER NOT NULL,
    bytes INTEGER NOT NULL
) STRICT;
"""

# Finished segments on disk the receiver can verify; partial ones are never mirrored.
_SENDABLE = "('stored', 'recovered')"
_SEGMENT_COLUMNS = (
    "s.clip_id, s.n, s.started_at, s.duration_s, s.bytes, s.sha256, s.signature, s.state"
)


def ensure_tables(conn: sqlite3.Connection) -> None:
    """Create the mirror's tables in an open index connection if they are missing."""
    with transaction(conn):
        for statement in _TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)


def unmirrored_clip_ids(conn: sqlite3.Connection) -> set[str]:
    """Finished or in-progress clips with a segment the broker has not acknowledged."""
    ensure_tables(conn)
    rows = conn.execute(
        f"SELECT DISTINCT s.clip_id FROM segments s JOIN clips c ON c.id = s.clip_id "
        f"LEFT JOIN mirror_segments m ON m.clip_id = s.clip_id AND m.n = s.n "
        f"WHERE s.state IN {_SENDABLE} AND c.status != 'deleted' AND m.clip_id IS NULL"
    ).fetchall()
    return {row[0] for row in rows}


def unmirrored_segments_of(conn: sqlite3.Connection, clip_id: str) -> int:
    """How many finished segments of one clip were never acknowledged."""
    ensure_tables(conn)
    return int(
        conn.execute(
            f"SELECT count(*) FROM segments s LEFT JOIN mirror_segments m "
            f"ON m.clip_id = s.clip_id AND m.n = s.n "
            f"WHERE s.clip_id = ? AND s.state IN {_SENDABLE} AND m.clip_id IS NULL",
            (clip_id,),
        ).fetchone()[0]
    )


class MirrorProgress:
    """The sender's view of its progress, on its own connection (one thread only)."""

    def __init__(self, state_dir: Path) -> None:
        # Closed by whoever stops the publisher thread, after that thread has ended.
        self._conn = connect(Path(state_dir) / INDEX_NAME, check_same_thread=False)
        ensure_tables(self._conn)

    def next_segments(self, limit: int) -> list[SegmentRecord]:
        """Finished segments not yet acknowledged, oldest clip first, then by number.

        Segments of deleted clips are included: the sender finds their file gone and
        records that, so they stop being asked for.
        """
        with self._reading("cannot read segments to mirror"):
            rows = self._conn.execute(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments s JOIN clips c ON c.id = s.clip_id "
                f"LEFT JOIN mirror_segments m ON m.clip_id = s.clip_id AND m.n = s.n "
                f"WHERE s.state IN {_SENDABLE} AND s.signature IS NOT NULL "
                f"AND m.clip_id IS NULL ORDER BY c.started_at, s.clip_id, s.n LIMIT ?",
                (limit,),
            ).fetchall()
        return [SegmentRecord(*row) for row in rows]

    def clips_to_announce(self) -> list[ClipRecord]:
        """Finished clips whose status the receiver has not been told."""
        with self._reading("cannot read clips to mirror"):
            ids = self._conn.execute(
                "SELECT c.id FROM clips c LEFT JOIN mirror_clips m ON m.clip_id = c.id "
                "WHERE c.status IN ('complete', 'truncated') "
                "AND (m.status IS NULL OR m.status != c.status) ORDER BY c.started_at, c.id"
            ).fetchall()
            records = [get_clip(self._conn, row[0]) for row in ids]
        return [record for record in records if record is not None]

    def clip(self, clip_id: str) -> ClipRecord | None:
        """One clip's row."""
        with self._reading(f"cannot read clip {clip_id}"):
            return get_clip(self._conn, clip_id)

    def ledger_sent(self) -> tuple[int, int]:
        """(lines, bytes) of the ledger the broker has acknowledged."""
        with self._reading("cannot read mirror progress"):
            row = self._conn.execute("SELECT lines, bytes FROM mirror_ledger").fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def segment_done(self, clip_id: str, n: int, outcome: str = "acked") -> None:
        """Record a segment as acknowledged (or as unsendable, with why)."""
        self._write(
            "INSERT OR REPLACE INTO mirror_segments (clip_id, n, acked_at, outcome) "
            "VALUES (?, ?, ?, ?)",
            (clip_id, n, time.time(), outcome),
        )

    def clip_done(self, clip_id: str, status: str) -> None:
        """Record the clip status the broker acknowledged."""
        self._write(
            "INSERT OR REPLACE INTO mirror_clips (clip_id, status) VALUES (?, ?)",
            (clip_id, status),
        )

    def ledger_done(self, lines: int, size: int) -> None:
        """Record that the first `lines` ledger lines (`size` bytes) were acknowledged."""
        self._write(
            "INSERT INTO mirror_ledger (id, lines, bytes) VALUES (1, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET lines = excluded.lines, bytes = excluded.bytes "
            "WHERE excluded.lines > mirror_ledger.lines",
            (lines, size),
        )

    def acked_count(self, clip_ids: list[str]) -> int:
        """How many segments of these clips the broker acknowledged."""
        if not clip_ids:
            return 0
        marks = ", ".join("?" * len(clip_ids))
        with self._reading("cannot read mirror progress"):
            row = self._conn.execute(
                f"SELECT count(*) FROM mirror_segments WHERE outcome = 'acked' "
                f"AND clip_id IN ({marks})",
                clip_ids,
            ).fetchone()
        return int(row[0])

    def backlog(self) -> int:
        """Finished segments of kept clips still waiting to be mirrored."""
        with self._reading("cannot read mirror progress"):
            return int(
                self._conn.execute(
                    f"SELECT count(*) FROM segments s JOIN clips c ON c.id = s.clip_id "
                    f"LEFT JOIN mirror_segments m ON m.clip_id = s.clip_id AND m.n = s.n "
                    f"WHERE s.state IN {_SENDABLE} AND c.status != 'deleted' "
                    f"AND m.clip_id IS NULL"
                ).fetchone()[0]
            )

    def close(self) -> None:
        """Close this thread's connection."""
        self._conn.close()

    @contextmanager
    def _reading(self, context: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise storage_error(exc, context) from None

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        try:
            with transaction(self._conn):
                self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot record mirror progress") from None
