"""Checks a ledger file against its signed checkpoint and the witness's cosigned one.

The entry-by-entry checks (`edge.core.log.audit`) show each line is signed by a key it
may be signed with; they cannot show nothing was removed or rewritten by the holder of
the device key, who can re-sign everything. The checkpoints can: the device signed the
tree head after every append and a witness cosigned the ones it saw extend each other,
so the ledger must still hash to them. An owner entry counts as recorded once it is
inside a witnessed checkpoint; the report counts those that are not yet.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from edge.core.log import merkle
from edge.core.log.checkpoint import Checkpoint, cosignature_time, open_checkpoint
from edge.core.log.entries import ACTOR_OF
from edge.core.log.ledger import Ledger
from edge.core.log.note import NoteError


@dataclass(frozen=True, slots=True)
class TreeReport:
    """What the checkpoints say about the ledger; `problems` empty when it matches them."""

    entries: int
    checkpoint: Checkpoint | None
    witnessed: Checkpoint | None
    problems: tuple[str, ...]
    notes: tuple[str, ...]


def audit_tree(
    ledger: Ledger,
    device_key: str,
    checkpoint_note: str | None,
    cosigned_note: str | None = None,
    witness_keys: Collection[str] = (),
) -> TreeReport:
    """Check the ledger against its checkpoint (and the cosigned one, when there is one).

    With `witness_keys`, a checkpoint cosigned by each of them is required.
    """
    lines = [raw[:-1] for _n, raw in ledger.lines() if raw.endswith(b"\n")]
    leaves = [merkle.leaf_hash(line) for line in lines]
    problems: list[str] = []
    notes: list[str] = []
    checkpoint = _against(leaves, checkpoint_note, device_key, "signed checkpoint", problems)
    if checkpoint_note is None:
        notes.append("no signed checkpoint yet (a ledger from before checkpoints?)")
    witnessed = _against(leaves, cosigned_note, device_key, "witnessed checkpoint", problems)
    if cosigned_note is not None and witnessed is not None:
        for key in witness_keys:
            try:
                if cosignature_time(cosigned_note, key) is None:
                    problems.append(f"the witnessed checkpoint has no cosignature by {key}")
            except NoteError as exc:
                problems.append(f"the witnessed checkpoint: {exc}")
    elif witness_keys:
        problems.append("no witnessed checkpoint, but a witness cosignature is required")
    if checkpoint is not None and witnessed is not None and checkpoint.size < witnessed.size:
        problems.append(
            f"the device's checkpoint ({checkpoint.size} entries) is older than the one the "
            f"witness cosigned ({witnessed.size}): rolled back or replayed"
        )
    covered = witnessed.size if witnessed is not None else 0
    pending = sum(1 for line in lines[covered:] if _actor(line) == "owner")
    if pending:
        notes.append(f"{pending} owner entries are not yet inside a witnessed checkpoint")
    return TreeReport(len(leaves), checkpoint, witnessed, tuple(problems), tuple(notes))


def _against(
    leaves: list[bytes], note: str | None, device_key: str, what: str, problems: list[str]
) -> Checkpoint | None:
    if note is None:
        return None
    try:
        checkpoint = open_checkpoint(note, device_key)
    except NoteError as exc:
        problems.append(f"the {what} is not the device's: {exc}")
        return None
    if checkpoint.size > len(leaves):
        problems.append(
            f"the ledger has {len(leaves)} entries but the {what} covers {checkpoint.size}: "
            "entries were removed (truncated or rolled back)"
        )
    elif merkle.root(leaves[: checkpoint.size]) != checkpoint.root:
        problems.append(
            f"the first {checkpoint.size} entries do not hash to the root of the {what}: "
            "the ledger was rewritten (entries changed, deleted, inserted or reordered)"
        )
    return checkpoint


def _actor(line: bytes) -> str | None:
    try:
        return ACTOR_OF.get(json.loads(line).get("type"))
    except (ValueError, AttributeError):
        return None


def read_text(path: Path) -> str | None:
    """A note file's text, None when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
