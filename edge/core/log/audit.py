"""Verifies the ledger: every line canonical, signed by a key it may be signed with, chained.

Stops at the first bad line and names it, because after one broken link nothing later
can be trusted. A torn last line (no newline) is reported as an incomplete tail, not as
tampering: it is what a power cut during an append leaves, and the next append drops it.
Truncation of whole lines at the end cannot be seen from the file alone; compare the
head with the one the device published.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.core.log.canonical import canonical_json
from edge.core.log.decision import decision_problem
from edge.core.log.entries import ACTOR_OF, CLIP_DELETED, CLIP_STORED, OWNER_DECISION
from edge.core.log.ledger import GENESIS, Head, entry_from_json, line_hash
from edge.core.log.signing import signature_is_valid
from edge.core.timestamps import parse_rfc3339


@dataclass(frozen=True, slots=True)
class Problem:
    """The first bad line: its number in the file, its seq if it could be read, and why."""

    line: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" (seq {self.seq})" if self.seq is not None else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What verifying the lines found. `problem` is None when every complete line is good."""

    entries: int
    head: Head
    problem: Problem | None
    torn_tail_bytes: int
    stored_clips: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    deleted_clips: frozenset[str] = frozenset()


def verify_lines(
    lines: Iterable[tuple[int, bytes]], device_key: str, owner_keys: Collection[str]
) -> ChainReport:
    """Check the ledger lines in order against the device key and the owner signing keys."""
    head = Head(0, GENESIS)
    stored: dict[str, dict[str, Any]] = {}
    deleted: set[str] = set()
    count = 0
    for number, raw in lines:
        if not raw.endswith(b"\n"):
            return ChainReport(count, head, None, len(raw), stored, frozenset(deleted))
        line = raw[:-1]
        seq, reason = _check_line(line, head, device_key, owner_keys)
        if reason is not None:
            problem = Problem(number, seq, reason)
            return ChainReport(count, head, problem, 0, stored, frozenset(deleted))
        data = json.loads(line)
        if data["type"] == CLIP_STORED:
            stored[str(data["body"].get("clip"))] = data["body"]
        elif data["type"] == CLIP_DELETED:
            deleted.add(str(data["body"].get("clip")))
        head = Head(data["seq"], line_hash(line))
        count += 1
    return ChainReport(count, head, None, 0, stored, frozenset(deleted))


def _check_line(
    line: bytes, head: Head, device_key: str, owner_keys: Collection[str]
) -> tuple[int | None, str | None]:
    """(seq if readable, reason the line is bad or None)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None, "not valid JSON (edited or corrupted)"
    seq = data.get("seq") if isinstance(data, dict) else None
    seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    try:
        if canonical_json(data) != line:
            return seq, "not in canonical JSON form (edited)"
        entry = entry_from_json(data)
    except (TypeError, ValueError) as exc:
        return seq, f"not a ledger entry: {exc}"
    actor = ACTOR_OF.get(entry.type)
    if actor is None:
        return seq, f"unknown entry type {entry.type!r}"
    if entry.actor != actor:
        return seq, f"a {entry.type} entry must come from the {actor}, not the {entry.actor}"
    try:
        parse_rfc3339(entry.time)
    except ValueError:
        return seq, f"time {entry.time!r} is not RFC 3339"
    if actor == "device" and entry.key != device_key:
        return seq, f"signed by {entry.key}, which is not this device's key"
    if actor == "owner" and entry.key not in owner_keys:
        return seq, f"signed by {entry.key}, which is not in owner.signing_keys"
    if not signature_is_valid(entry.key, canonical_json(entry.signed_part()), entry.sig):
        return seq, "signature does not verify (entry edited or forged)"
    if entry.seq != head.seq + 1:
        return seq, (
            f"seq {entry.seq} where {head.seq + 1} was expected "
            "(an entry was deleted, inserted or reordered)"
        )
    if entry.prev != head.hash:
        return seq, "prev is not the hash of the line before (an earlier line was changed)"
    if entry.type == OWNER_DECISION:
        problem = decision_problem(entry.body.get("decision"), owner_keys)
        if problem is not None:
            return seq, f"the owner decision inside is not valid: {problem}"
    return seq, None


@dataclass(frozen=True, slots=True)
class IndexedClip:
    """A clip as the index has it: id, status and (n, sha256) of each segment file on disk."""

    id: str
    status: str
    segments: frozenset[tuple[int, str]]


def check_index(report: ChainReport, clips: Iterable[IndexedClip]) -> list[str]:
    """Disagreements between the index and the ledger: clips stored or deleted unrecorded,
    and segment hashes that differ from what the device recorded."""
    findings = []
    seen = set()
    for clip in clips:
        seen.add(clip.id)
        body = report.stored_clips.get(clip.id)
        if clip.status == "in_progress":
            continue
        if clip.status == "deleted":
            if clip.id not in report.deleted_clips:
                findings.append(f"clip {clip.id} was deleted without a clip.deleted entry")
            continue
        if body is None:
            findings.append(f"clip {clip.id} is stored but not in the ledger")
            continue
        if clip.id in report.deleted_clips:
            findings.append(f"clip {clip.id} is stored but the ledger says it was deleted")
        difference = _first_difference(clip.segments, _segments_of(body))
        if difference:
            findings.append(f"clip {clip.id}: {difference}")
    for clip_id in report.stored_clips:
        if clip_id not in seen and clip_id not in report.deleted_clips:
            findings.append(f"clip {clip_id} is in the ledger but gone from the index")
    return findings


def _segments_of(body: Mapping[str, Any]) -> frozenset[tuple[int, str]]:
    segments = body.get("segments")
    if not isinstance(segments, list):
        return frozenset()
    return frozenset((s.get("n"), s.get("sha256")) for s in segments if isinstance(s, dict))


def _first_difference(
    indexed: frozenset[tuple[int, str]], recorded: frozenset[tuple[int, str]]
) -> str | None:
    in_index, in_ledger = dict(indexed), dict(recorded)
    for n in sorted(set(in_index) | set(in_ledger)):
        if n not in in_ledger:
            return f"segment {n} is in the index but not in the ledger"
        if n not in in_index:
            return f"segment {n} is in the ledger but not on disk per the index"
        if in_index[n] != in_ledger[n]:
            return (
                f"segment {n} has sha256 {in_index[n][:16]}… in the index but "
                f"{in_ledger[n][:16]}… in the ledger"
            )
    return None
