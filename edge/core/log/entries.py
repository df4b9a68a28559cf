"""The kinds of ledger entry, who may sign each, and the bodies they carry.

The device records what it did by itself (stored or deleted a clip, received a request,
changed privacy mode); the owner records every decision that lets footage leave
(export, share, approve or deny a request). Bodies are plain JSON without floats so they
hash the same everywhere; times inside bodies are RFC 3339 UTC strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Actor = Literal["device", "owner"]

CLIP_STORED = "clip.stored"
CLIP_DELETED = "clip.deleted"
REQUEST_RECEIVED = "request.received"
PRIVACY_CHANGED = "privacy.changed"
CLIP_EXPORTED = "clip.exported"
CLIP_SHARED = "clip.shared"
REQUEST_APPROVED = "request.approved"
REQUEST_DENIED = "request.denied"
# The owner's orders about stored clips: keep them from retention, or delete them now.
CLIP_KEPT = "clip.kept"
CLIP_DELETE = "clip.delete"
# An owner decision made off the device, appended by the device (edge.core.log.decision).
OWNER_DECISION = "owner.decision"

ACTOR_OF: Mapping[str, Actor] = {
    CLIP_STORED: "device",
    CLIP_DELETED: "device",
    REQUEST_RECEIVED: "device",
    PRIVACY_CHANGED: "device",
    CLIP_EXPORTED: "owner",
    CLIP_SHARED: "owner",
    REQUEST_APPROVED: "owner",
    REQUEST_DENIED: "owner",
    CLIP_KEPT: "owner",
    CLIP_DELETE: "owner",
    OWNER_DECISION: "device",
}


@dataclass(frozen=True, slots=True)
class SegmentHash:
    """One segment file as the ledger records it: number, ciphertext hash, size, index state."""

    n: int
    sha256: str
    size: int
    state: str


def clip_stored(
    clip_id: str, start: str, end: str | None, status: str, segments: Iterable[SegmentHash]
) -> dict[str, Any]:
    """Body of `clip.stored`: the clip, its time span and the hash of every ciphertext segment."""
    return {
        "clip": clip_id,
        "start": start,
        "end": end,
        "status": status,
        "segments": [
            {"n": s.n, "sha256": s.sha256, "size": s.size, "state": s.state} for s in segments
        ],
    }


def clip_deleted(clip_id: str, reason: str) -> dict[str, Any]:
    """Body of `clip.deleted`; `reason` is e.g. `retention`, `quota`, `disk-free`."""
    return {"clip": clip_id, "reason": reason}


def request_received(request_id: str, source: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Body of `request.received`: where it came from and the validated request itself."""
    return {"request": request_id, "source": source, "payload": dict(payload)}


def privacy_changed(enabled: bool, source: str) -> dict[str, Any]:
    """Body of `privacy.changed`; `source` says who switched it (`mqtt`, `button`, `config`)."""
    return {"enabled": enabled, "source": source}


def clip_order(clip_ids: Sequence[str], reason: str | None) -> dict[str, Any]:
    """Body of `clip.kept` and `clip.delete`: the clips, and why (for the owner's record)."""
    return {"clips": list(clip_ids), "reason": reason}


def clip_exported(clip_ids: Sequence[str], purpose: str | None) -> dict[str, Any]:
    """Body of `clip.exported`: the owner decrypted these clips to playable files."""
    return {"clips": list(clip_ids), "purpose": purpose}


def clip_shared(
    clip_ids: Sequence[str],
    recipient: str,
    manifest_sha256: str,
    purpose: str | None,
    expires: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    """Body of `clip.shared`: what went to whom, pinned by the hash of the signed manifest."""
    return {
        "clips": list(clip_ids),
        "recipient": recipient,
        "manifest_sha256": manifest_sha256,
        "purpose": purpose,
        "expires": expires,
        "request": request_id,
    }


def request_decided(
    request_id: str, payload_sha256: str, reason: str | None, manifest_sha256: str | None
) -> dict[str, Any]:
    """Body of `request.approved` / `request.denied`, pinned to the exact request payload."""
    return {
        "request": request_id,
        "payload_sha256": payload_sha256,
        "reason": reason,
        "manifest_sha256": manifest_sha256,
    }
