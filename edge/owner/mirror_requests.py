"""Footage requests as the home server's mirror knows them, and the owner's answers there.

The mirror has no requests table: a request is the device's `request.received` ledger
entry (the validated payload), copied to the mirror with every other ledger line. Its
status comes from the device's `request.approved` / `request.denied` entries and from
the owner's decisions kept on the mirror (`decisions/pending/`), which the device's
ledger does not hold yet: those are reported as decided *on the mirror*.

`approve` shares the clips of the request's window from the mirror, exactly as on the
device, recording the share and the approval as owner-signed decisions before the
manifest is written; `deny` records the refusal. A request is decided once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.mirror.decisions_dir import pending_decisions
from edge.core.store.requests import (
    FootageRequest,
    InvalidRequestError,
    RequestStateError,
    parse_request,
)
from edge.owner.decisions import clips_in_window
from edge.owner.mirror_dir import record_decision
from edge.owner.owner_key import OwnerKey
from edge.owner.share import SharePackage, write_share_package


@dataclass(frozen=True)
class MirrorRequest:
    """A request seen in the mirror's ledger copy, with the decision known so far."""

    id: str
    source: str
    received: str
    request: FootageRequest
    status: str
    decided: str | None
    reason: str | None
    manifest_sha256: str | None
    where: str | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready; `decision_recorded` is `device ledger`, `mirror (pending)` or null."""
        return {
            "id": self.id,
            "status": self.status,
            "source": self.source,
            "received_at": self.received,
            **self.request.payload(),
            "decided_at": self.decided,
            "decision_reason": self.reason,
            "manifest_sha256": self.manifest_sha256,
            "decision_recorded": self.where,
        }


def mirror_requests(folder: Path) -> list[MirrorRequest]:
    """Every request in the mirror's ledger copy, oldest first."""
    found: dict[str, MirrorRequest] = {}
    decisions: list[tuple[str, dict[str, Any], str, str]] = []
    for entry in Ledger.in_state_dir(folder).entries():
        if entry.type == entries.REQUEST_RECEIVED:
            request_id = str(entry.body.get("request"))
            try:
                request = parse_request(entry.body.get("payload"))
            except InvalidRequestError:
                continue
            found.setdefault(
                request_id,
                MirrorRequest(
                    request_id, str(entry.body.get("source")), entry.time, request,
                    "pending", None, None, None, None,
                ),
            )  # fmt: skip
        elif entry.type in (entries.REQUEST_APPROVED, entries.REQUEST_DENIED):
            decisions.append((entry.type, entry.body, entry.time, "device ledger"))
    for path in pending_decisions(folder):
        decision = json.loads(path.read_text(encoding="utf-8"))
        if decision.get("type") in (entries.REQUEST_APPROVED, entries.REQUEST_DENIED):
            decisions.append(
                (decision["type"], decision["body"], decision["time"], "mirror (pending)")
            )
    for kind, body, when, where in decisions:
        known = found.get(str(body.get("request")))
        if known is None or known.status != "pending":
            continue
        found[known.id] = MirrorRequest(
            known.id, known.source, known.received, known.request,
            "approved" if kind == entries.REQUEST_APPROVED else "denied",
            when, body.get("reason"), body.get("manifest_sha256"), where,
        )  # fmt: skip
    return list(found.values())


def _pending(folder: Path, request_id: str) -> MirrorRequest:
    known = {r.id: r for r in mirror_requests(folder)}
    if request_id not in known:
        raise RequestStateError(f"no request {request_id} in the mirror's ledger copy")
    request = known[request_id]
    if request.status != "pending":
        raise RequestStateError(
            f"request {request_id} is already {request.status} ({request.where})"
        )
    return request


def approve_on_mirror(
    folder: Path, request_id: str, owner: OwnerKey, out_dir: Path, *, expires: str | None = None
) -> tuple[MirrorRequest, SharePackage]:
    """Share the window's clips from the mirror and record the share and the approval."""
    pending = _pending(folder, request_id)
    request = pending.request

    def record(package: SharePackage) -> None:
        clips = [clip["id"] for clip in package.manifest["clips"]]
        purpose = package.manifest["purpose"]
        shared = entries.clip_shared(
            clips, request.recipient, package.manifest_sha256, purpose, expires, request_id
        )
        record_decision(folder, owner, entries.CLIP_SHARED, shared)
        approved = entries.request_decided(
            request_id, request.payload_sha256(), None, package.manifest_sha256
        )
        record_decision(folder, owner, entries.REQUEST_APPROVED, approved)

    package = write_share_package(
        folder,
        clips_in_window(folder, request.start, request.end),
        owner,
        request.recipient,
        out_dir,
        device_id=folder.name,
        purpose=(
            f"footage request {request_id} by {request.requester}, {request.organisation} "
            f"(case {request.case_ref}): {request.reason}"
        ),
        expires=expires,
        request_id=request_id,
        record=record,
    )
    return _pending_or_decided(folder, request_id), package


def deny_on_mirror(
    folder: Path, request_id: str, owner: OwnerKey, reason: str | None
) -> MirrorRequest:
    """Record the owner's refusal on the mirror; nothing is shared."""
    pending = _pending(folder, request_id)
    body = entries.request_decided(request_id, pending.request.payload_sha256(), reason, None)
    record_decision(folder, owner, entries.REQUEST_DENIED, body)
    return _pending_or_decided(folder, request_id)


def _pending_or_decided(folder: Path, request_id: str) -> MirrorRequest:
    return {r.id: r for r in mirror_requests(folder)}[request_id]
