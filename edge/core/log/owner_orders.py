"""The owner's standing orders about stored clips, read from the log: which clips to keep
from retention (`clip.kept`) and which to delete (`clip.delete`), whether the owner
signed the entry on the device or the decision on the mirror (`owner.decision`). A
delete order is done once the device has logged the clip's deletion."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from edge.core.log import entries
from edge.core.log.canonical import canonical_json
from edge.core.log.decision import decision_problem
from edge.core.log.ledger import Entry
from edge.core.log.signing import signature_is_valid


@dataclass(frozen=True, slots=True)
class OwnerOrders:
    """Clip ids to keep, and clip ids to delete that are not deleted yet."""

    keep: frozenset[str]
    delete: frozenset[str]


def owner_orders(log: Iterable[Entry], owner_keys: Collection[str]) -> OwnerOrders:
    """The orders in `log` (entries in order) that a key in `owner_keys` signed: an order
    whose owner signature does not verify is no order, whatever else the file says."""
    keep: set[str] = set()
    delete: set[str] = set()
    deleted: set[str] = set()
    for entry in log:
        kind, body = entry.type, entry.body
        if kind == entries.OWNER_DECISION:
            decision = body.get("decision") or {}
            if decision_problem(decision, owner_keys) is not None:
                continue
            kind, body = decision.get("type"), decision.get("body") or {}
        elif kind in (entries.CLIP_KEPT, entries.CLIP_DELETE) and not _signed_by_owner(
            entry, owner_keys
        ):
            continue
        clips = {str(c) for c in body.get("clips", [])} if isinstance(body, dict) else set()
        if kind == entries.CLIP_KEPT:
            keep |= clips
        elif kind == entries.CLIP_DELETE:
            delete |= clips
        elif kind == entries.CLIP_DELETED:
            deleted.add(str(body.get("clip")))
    return OwnerOrders(frozenset(keep - delete), frozenset(delete - deleted))


def _signed_by_owner(entry: Entry, owner_keys: Collection[str]) -> bool:
    return entry.key in owner_keys and signature_is_valid(
        entry.key, canonical_json(entry.signed_part()), entry.sig
    )
