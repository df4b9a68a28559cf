"""Where a mirror keeps the owner decisions for one device: `<device>/decisions/pending/`
until the device's log holds them, then `<device>/decisions/delivered/`. Written by the
owner's tools, relayed to the device by `doorbell mirror`."""

from __future__ import annotations

import json
from pathlib import Path

from edge.core.log.entries import OWNER_DECISION
from edge.core.log.ledger import LEDGER_FILENAME

DECISIONS_DIR = "decisions"
PENDING_DIR = "pending"
DELIVERED_DIR = "delivered"


def pending_decisions(folder: Path) -> list[Path]:
    """Decisions made on the mirror that the device's log does not hold yet, oldest first."""
    pending = folder / DECISIONS_DIR / PENDING_DIR
    return sorted(pending.glob("*.json")) if pending.is_dir() else []


def recorded_decision_ids(folder: Path) -> set[str]:
    """Ids of the owner decisions the mirrored log of the device in `folder` holds."""
    ids: set[str] = set()
    try:
        handle = (folder / LEDGER_FILENAME).open("rb")
    except FileNotFoundError:
        return ids
    with handle:
        for line in handle:
            try:
                entry = json.loads(line)
                if entry.get("type") == OWNER_DECISION:
                    ids.add(str(entry["body"]["decision"]["id"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # the audit says what is wrong with a line; here it just is not one
    return ids
