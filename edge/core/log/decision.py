"""An owner decision made off the device, and how it enters the device's log.

The owner decides where the owner key lives (on the home server's mirror, a laptop):
export, share, approve or deny. A log entry is signed over the device's current head
(`seq`, `prev`), which the owner cannot know ahead of the device, so the owner signs the
decision itself: canonical JSON of `{id, device, type, time, body, key}` and `sig`, the
owner's Ed25519 signature over the rest. It reaches the device over MQTT, and the device
appends it, as it is, inside an `owner.decision` entry that the device signs. Anyone with
the pinned keys checks both signatures: the device's over the entry, the owner's over
the decision inside (`edge.core.log.audit`). A decision id is appended at most once.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from typing import Any

from edge.core.log import entries
from edge.core.log.canonical import canonical_json
from edge.core.log.signing import Signer, encode_signature, signature_is_valid
from edge.core.timestamps import parse_rfc3339, rfc3339, utc_now

# What an owner may decide off the device: the owner entry types.
DECIDED_TYPES = frozenset(t for t, actor in entries.ACTOR_OF.items() if actor == "owner")
_FIELDS = frozenset({"id", "device", "type", "time", "body", "key", "sig"})


def sign_decision(
    owner: Signer, device: str, entry_type: str, body: dict[str, Any]
) -> dict[str, Any]:
    """A new owner-signed decision for `device`."""
    if entry_type not in DECIDED_TYPES:
        raise ValueError(f"{entry_type!r} is not an owner decision")
    unsigned = {
        "id": secrets.token_hex(8),
        "device": device,
        "type": entry_type,
        "time": rfc3339(utc_now()),
        "body": body,
        "key": owner.signing_public,
    }
    return {**unsigned, "sig": encode_signature(owner.sign(canonical_json(unsigned)))}


def decision_problem(
    decision: Any, owner_keys: Collection[str], device: str | None = None
) -> str | None:
    """Why `decision` is not a valid owner decision (for `device`, if given), or None."""
    if not isinstance(decision, Mapping) or set(decision) != _FIELDS:
        return f"a decision has exactly the fields {sorted(_FIELDS)}"
    if not isinstance(decision["id"], str) or not (0 < len(decision["id"]) <= 64):
        return "the decision id must be a short string"
    if decision["type"] not in DECIDED_TYPES:
        return f"{decision['type']!r} is not an owner decision"
    if device is not None and decision["device"] != device:
        return f"the decision is for device {decision['device']!r}, not {device!r}"
    if not isinstance(decision["body"], Mapping):
        return "the decision body must be an object"
    try:
        parse_rfc3339(decision["time"])
    except (TypeError, ValueError):
        return "the decision time is not RFC 3339"
    if decision["key"] not in owner_keys:
        return f"signed by {decision['key']}, which is not a pinned owner key"
    unsigned = {k: v for k, v in decision.items() if k != "sig"}
    if not isinstance(decision["sig"], str) or not signature_is_valid(
        decision["key"], canonical_json(unsigned), decision["sig"]
    ):
        return "the owner's signature over the decision does not verify"
    return None


def owner_decision_body(decision: Mapping[str, Any]) -> dict[str, Any]:
    """Body of the device's `owner.decision` entry: the owner-signed decision, unchanged."""
    return {"decision": dict(decision)}
