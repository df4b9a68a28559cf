"""The ledger as a Merkle tree: its leaves, its signed checkpoint file, and proofs from it.

Leaf i of the tree is line i of the ledger file (without its newline), hashed per RFC
9162; a torn last line is not a leaf. A ledger written before the tree existed (the
hash-chained `ledger.jsonl`) needs no rewriting: its lines are the first leaves, and the
first checkpoint covers them. The latest signed checkpoint lives next to the ledger in
`ledger.checkpoint` (the signed note, replaced atomically); the device signs a new one
after every append, under the ledger's lock, so two appenders cannot interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.core.log import merkle
from edge.core.log.checkpoint import (
    ORIGIN_PREFIX,
    Checkpoint,
    open_checkpoint,
    sign_checkpoint,
)
from edge.core.log.ledger import Ledger
from edge.core.log.note import NoteError, raw_public_key
from edge.core.log.signing import Signer
from edge.core.store.layout import fsync_dir

log = logging.getLogger(__name__)

CHECKPOINT_FILENAME = "ledger.checkpoint"
# What the home server's witness last cosigned, in its mirror of the device's state dir.
COSIGNED_FILENAME = "ledger.cosigned"
# The witness's evidence folders there, one per alarm (both signed checkpoints, reason).
EVIDENCE_DIR = "ledger.evidence"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A new checkpoint, its note, and the consistency proof from the one it replaced."""

    note: str
    checkpoint: Checkpoint
    previous_size: int | None
    consistency: tuple[bytes, ...]


def origin_for_key(public_key: str) -> str:
    """The log's origin line: `doorbell-edge.local/<16 hex of SHA-256(device public key)>`.

    Derived from the key, so two doorbells with the same configured id never share one.
    """
    return ORIGIN_PREFIX + hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def leaf_hashes(lines: Iterable[tuple[int, bytes]]) -> list[bytes]:
    """The leaf hash of every complete line (a torn tail is not a leaf)."""
    return [merkle.leaf_hash(raw[:-1]) for _number, raw in lines if raw.endswith(b"\n")]


def checkpoint_path(ledger: Ledger) -> Path:
    """`ledger.checkpoint` next to the ledger file."""
    return ledger.path.with_name(CHECKPOINT_FILENAME)


def read_checkpoint_note(ledger: Ledger) -> str | None:
    """The stored signed checkpoint note, None when there is none yet."""
    try:
        return checkpoint_path(ledger).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def update_checkpoint(
    ledger: Ledger,
    signer: Signer,
    publish: Callable[[SignedCheckpoint], None] | None = None,
) -> SignedCheckpoint | None:
    """Sign a checkpoint of the ledger as it is now, unless the stored one already covers it
    (or the ledger is empty).

    Returns the new checkpoint with the consistency proof from the previous one (none when
    there was none or it shrank: a shrinking ledger is signed as it is, and the witness
    raises the alarm). `publish` is called with it before the lock is released, so
    checkpoints are queued in the order they were signed.
    """
    origin = origin_for_key(signer.signing_public)
    if not ledger.path.exists():
        return None
    with _locked(ledger.path):
        leaves = leaf_hashes(ledger.lines())
        if not leaves:
            return None
        top = merkle.root(leaves)
        previous = _previous(ledger, signer.signing_public)
        if previous is not None and previous.size == len(leaves) and previous.root == top:
            return None
        proof: tuple[bytes, ...] = ()
        previous_size = None
        if previous is not None and previous.size <= len(leaves):
            previous_size = previous.size
            proof = tuple(merkle.consistency_proof(leaves, previous.size))
        elif previous is not None:
            log.error(
                "ledger %s has %d entries but its last checkpoint had %d (truncated?)",
                ledger.path,
                len(leaves),
                previous.size,
            )
        checkpoint = Checkpoint(origin, len(leaves), top)
        note = sign_checkpoint(checkpoint, signer)
        _replace(checkpoint_path(ledger), note.encode("utf-8"))
        signed = SignedCheckpoint(note, checkpoint, previous_size, proof)
        if publish is not None:
            publish(signed)
    return signed


def _previous(ledger: Ledger, public_key: str) -> Checkpoint | None:
    note = read_checkpoint_note(ledger)
    if note is None:
        return None
    try:
        return open_checkpoint(note, public_key)
    except NoteError as exc:
        log.error("ignoring %s: %s", checkpoint_path(ledger), exc)
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The ledger's own exclusive lock (the one `Ledger.append` takes)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    fsync_dir(path.parent)
