"""Proof that one ledger entry is in the device's log: the entry, its inclusion proof, and
the signed (perhaps cosigned) checkpoint the proof leads to.

A share package carries one for its `clip.shared` entry (`inclusion.json`), so a
recipient holding the pinned owner, device (and witness) keys can check that the share
was recorded in the log the witness watches, not only signed.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from edge.core.log import merkle
from edge.core.log.checkpoint import Checkpoint, open_checkpoint
from edge.core.log.ledger import Ledger
from edge.core.log.note import NoteError
from edge.core.log.tree import read_checkpoint_note

INCLUSION_NAME = "inclusion.json"
FORMAT = "doorbell-inclusion/1"


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An entry line (without newline), its leaf index, and the proof to a checkpoint."""

    entry: bytes
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str

    def to_json(self) -> bytes:
        """The `inclusion.json` bytes."""
        data = {
            "format": FORMAT,
            "entry": self.entry.decode("utf-8"),
            "index": self.index,
            "proof": [base64.b64encode(h).decode() for h in self.proof],
            "checkpoint": self.checkpoint_note,
        }
        return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


class InclusionError(ValueError):
    """An inclusion proof that cannot be made, read or checked."""


def prove_inclusion(
    ledger: Ledger, entry_line: bytes, device_key: str, note: str | None = None
) -> InclusionProof:
    """Prove `entry_line` is in the tree of a signed checkpoint of the ledger: `note` (a
    witness's cosigned one, say), else the one stored next to the ledger."""
    note = note if note is not None else read_checkpoint_note(ledger)
    if note is None:
        raise InclusionError(f"no signed checkpoint next to {ledger.path}")
    try:
        checkpoint = open_checkpoint(note, device_key)
    except NoteError as exc:
        raise InclusionError(f"the stored checkpoint does not verify: {exc}") from None
    lines = [raw[:-1] for _n, raw in ledger.lines() if raw.endswith(b"\n")]
    leaves = [merkle.leaf_hash(line) for line in lines]
    if checkpoint.size > len(leaves) or merkle.root(leaves[: checkpoint.size]) != checkpoint.root:
        raise InclusionError("the ledger does not match its signed checkpoint")
    try:
        index = lines.index(entry_line, 0, checkpoint.size)
    except ValueError:
        raise InclusionError("the entry is not inside the signed checkpoint") from None
    proof = merkle.inclusion_proof(leaves[: checkpoint.size], index)
    return InclusionProof(entry_line, index, tuple(proof), note)


def load_inclusion(data: bytes) -> InclusionProof:
    """Read `inclusion.json`; InclusionError naming the defect."""
    try:
        raw: Any = json.loads(data)
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise InclusionError(f"not a {FORMAT} file")
        entry, index, proof, note = raw["entry"], raw["index"], raw["proof"], raw["checkpoint"]
        if not (isinstance(entry, str) and isinstance(note, str) and isinstance(proof, list)):
            raise InclusionError("entry, proof or checkpoint has the wrong type")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise InclusionError("index is not a non-negative integer")
        hashes = tuple(base64.b64decode(h, validate=True) for h in proof)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        if isinstance(exc, InclusionError):
            raise
        raise InclusionError(f"malformed: {exc}") from None
    return InclusionProof(entry.encode("utf-8"), index, hashes, note)


def check_inclusion(proof: InclusionProof, device_key: str) -> Checkpoint:
    """The checkpoint, once the note verifies with `device_key` and the entry is in it."""
    try:
        checkpoint = open_checkpoint(proof.checkpoint_note, device_key)
    except NoteError as exc:
        raise InclusionError(
            f"the checkpoint is not signed by the pinned device key: {exc}"
        ) from None
    leaf = merkle.leaf_hash(proof.entry)
    if not merkle.verify_inclusion(
        leaf, proof.index, checkpoint.size, proof.proof, checkpoint.root
    ):
        raise InclusionError("the entry is not in the signed checkpoint (proof does not verify)")
    return checkpoint
