"""The append-only audit ledger: one signed, hash-chained JSON entry per line.

Each line is the canonical JSON of {seq, time, actor, type, body, prev, key, sig}: `prev`
is the hash of the previous line, `sig` the actor's Ed25519 signature over the entry
without `sig`. The hash of the last line is the head; publishing it lets anyone holding a
copy notice a rewritten or truncated ledger.

An append is one `write` of the whole line, then fsync, under an exclusive `flock`, so the
daemon and the owner CLI can both append. A power cut can still leave a torn last line
(bytes without a newline). It was never acknowledged (the head moves only after fsync),
so the next append truncates it and logs that it did; `verify` reports it as an
incomplete tail, distinct from tampering.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.core.log.canonical import canonical_json, sha256_hex
from edge.core.log.entries import ACTOR_OF
from edge.core.log.signing import Signer, encode_signature
from edge.core.store.layout import fsync_dir
from edge.core.timestamps import rfc3339

log = logging.getLogger(__name__)

LEDGER_FILENAME = "ledger.jsonl"
HASH_PREFIX = "sha256:"
GENESIS = HASH_PREFIX + "0" * 64
_READ_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Head:
    """The last complete entry: its sequence number and line hash (seq 0 and GENESIS when empty)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger entry as written."""

    seq: int
    time: str
    actor: str
    type: str
    body: dict[str, Any]
    prev: str
    key: str
    sig: str

    def signed_part(self) -> dict[str, Any]:
        """Everything the signature covers: the entry without `sig`."""
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "type": self.type,
            "body": self.body,
            "prev": self.prev,
            "key": self.key,
        }

    def line(self) -> bytes:
        """The canonical line, without its newline."""
        return canonical_json({**self.signed_part(), "sig": self.sig})


def line_hash(line: bytes) -> str:
    """Hash of one ledger line (without its newline), as `prev` and the head write it."""
    return HASH_PREFIX + sha256_hex(line)


def entry_from_json(data: Any) -> Entry:
    """Build an `Entry` from a parsed line; raises ValueError naming what is missing or wrong."""
    if not isinstance(data, dict):
        raise ValueError("line is not a JSON object")
    fields = {"seq", "time", "actor", "type", "body", "prev", "key", "sig"}
    if set(data) != fields:
        missing, extra = fields - set(data), set(data) - fields
        raise ValueError(f"fields wrong (missing {sorted(missing)}, unexpected {sorted(extra)})")
    if not isinstance(data["seq"], int) or isinstance(data["seq"], bool):
        raise ValueError("seq is not an integer")
    for name in ("time", "actor", "type", "prev", "key", "sig"):
        if not isinstance(data[name], str):
            raise ValueError(f"{name} is not a string")
    if not isinstance(data["body"], dict):
        raise ValueError("body is not an object")
    return Entry(**data)


class LedgerError(Exception):
    """The ledger cannot be extended because its last complete line is not a ledger entry."""


class Ledger:
    """The ledger file at `path` (normally `<state dir>/ledger.jsonl`)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @classmethod
    def in_state_dir(cls, state_dir: Path | str) -> Ledger:
        """The ledger of the device whose state directory is `state_dir`."""
        return cls(Path(state_dir) / LEDGER_FILENAME)

    def append(
        self,
        signer: Signer,
        entry_type: str,
        body: dict[str, Any],
        *,
        now: datetime | None = None,
    ) -> Entry:
        """Sign and durably append one entry; returns it once it is on disk.

        The actor follows from `entry_type` (device or owner entries); a torn last line
        left by a power cut is truncated first.
        """
        actor = ACTOR_OF.get(entry_type)
        if actor is None:
            raise ValueError(f"unknown ledger entry type {entry_type!r}")
        time = rfc3339(now or datetime.now(UTC))
        with self._locked() as fd:
            self._drop_torn_tail(fd)
            head = _head_of(fd)
            unsigned = Entry(
                seq=head.seq + 1,
                time=time,
                actor=actor,
                type=entry_type,
                body=body,
                prev=head.hash,
                key=signer.signing_public,
                sig="",
            )
            signature = signer.sign(canonical_json(unsigned.signed_part()))
            entry = Entry(**{**unsigned.signed_part(), "sig": encode_signature(signature)})
            end = os.fstat(fd).st_size
            try:
                _write_all(fd, entry.line() + b"\n")
                os.fsync(fd)
            except OSError:
                # A full disk can take part of the line: take it back (truncating needs
                # no space), so a failed append leaves no half line behind.
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, end)
                raise
        return entry

    def head(self) -> Head:
        """The last complete entry's seq and hash; a torn tail is not part of the head."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return Head(0, GENESIS)
        try:
            return _head_of(fd)
        finally:
            os.close(fd)

    def entries(self) -> Iterator[Entry]:
        """Every complete entry in file order, parsed, not verified (see `edge.core.log.audit`)."""
        for _number, line in self.lines():
            if line.endswith(b"\n"):
                yield entry_from_json(json.loads(line))

    def lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number from 1, raw bytes) of each line; only a torn tail lacks its newline."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            yield from enumerate(handle, start=1)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if created:
                fsync_dir(self.path.parent)
            yield fd
        finally:
            os.close(fd)

    def _drop_torn_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        end = _end_of_complete_lines(fd, size)
        if end == size:
            return
        os.ftruncate(fd, end)
        os.fsync(fd)
        log.warning(
            "ledger %s: dropped a torn last line of %d bytes at offset %d "
            "(an append was cut off, e.g. by a power cut)",
            self.path,
            size - end,
            end,
        )


def _head_of(fd: int) -> Head:
    size = os.fstat(fd).st_size
    end = _end_of_complete_lines(fd, size)
    if end == 0:
        return Head(0, GENESIS)
    start = _end_of_complete_lines(fd, end - 1)
    line = os.pread(fd, end - 1 - start, start)
    try:
        entry = entry_from_json(json.loads(line))
    except ValueError as exc:
        raise LedgerError(
            f"last ledger line is not an entry ({exc}); run `doorbell audit verify`"
        ) from None
    return Head(entry.seq, line_hash(line))


def _end_of_complete_lines(fd: int, limit: int) -> int:
    """Offset just after the last newline before `limit` (0 if there is none)."""
    position = limit
    while position > 0:
        start = max(0, position - _READ_BLOCK)
        block = os.pread(fd, position - start, start)
        newline = block.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
