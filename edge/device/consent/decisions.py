"""The device's side of owner decisions made off the device (`edge.core.log.decision`).

A decision arrives over MQTT (`<prefix>/decisions/new`, sent by the home server's mirror
until it sees the decision in the mirrored log). The device appends it to its log inside
an `owner.decision` entry it signs, if, and only if, the owner's signature verifies
against a key in `owner.signing_keys` and the decision is for this device; a decision
already in the log is not appended again, so the mirror may send it as often as it likes.
Nothing here acts on a decision: footage still leaves only from where the owner key is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from typing import Any

from edge.core.log.decision import decision_problem, owner_decision_body
from edge.core.log.entries import OWNER_DECISION
from edge.device.consent.device_audit import DeviceAudit

log = logging.getLogger(__name__)


class DecisionIntake:
    """Appends owner decisions to one device's log; `on_decision` is the MQTT handler."""

    def __init__(self, audit: DeviceAudit, device_id: str, owner_keys: Collection[str]) -> None:
        self.audit = audit
        self.device_id = device_id
        self.owner_keys = tuple(owner_keys)
        self._lock = threading.Lock()

    def on_decision(self, decision: dict[str, Any]) -> bool:
        """Append `decision` once; True if appended now, False if the log had it.
        Raises ValueError (with the reason) for a decision that is not valid."""
        problem = decision_problem(decision, self.owner_keys, self.device_id)
        if problem is not None:
            raise ValueError(problem)
        with self._lock:
            if decision["id"] in self._recorded_ids():
                return False
            self.audit.append_owner_decision(owner_decision_body(decision))
        log.info("owner decision %s (%s) recorded", decision["id"], decision["type"])
        return True

    def _recorded_ids(self) -> set[str]:
        return {
            str(entry.body.get("decision", {}).get("id"))
            for entry in self.audit.ledger.entries()
            if entry.type == OWNER_DECISION
        }
