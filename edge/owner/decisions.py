"""The owner's answers to footage requests: approve (share the window's clips) or deny.

Both are owner-signed ledger entries that name the exact request payload by its hash;
an approval also writes the share package and pins its manifest. Only a pending request
can be decided, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.store.errors import StorageError
from edge.core.store.reading import read_clips
from edge.core.store.requests import RequestStateError, StoredRequest, open_book
from edge.owner.owner_key import OwnerKey
from edge.owner.share import ShareError, SharePackage, share_clips


def clips_in_window(state_dir: Path, start: datetime, end: datetime) -> list[str]:
    """Ids of finished clips that overlap [start, end], oldest first."""
    try:
        clips = [c for c in read_clips(state_dir) if c.status in ("complete", "truncated")]
    except StorageError as exc:
        raise ShareError(str(exc)) from None
    low, high = start.timestamp(), end.timestamp()
    return [
        clip.id
        for clip in clips
        if clip.started_at <= high and (clip.ended_at or clip.started_at) >= low
    ]


def approve_request(
    state_dir: Path,
    request_id: str,
    owner: OwnerKey,
    out_dir: Path,
    *,
    device_id: str,
    expires: str | None = None,
    clock: Callable[[], float] = time.time,
    checkpoint: Callable[[], object] | None = None,
) -> tuple[StoredRequest, SharePackage]:
    """Share the clips of the request's window with its recipient and record the approval.

    `checkpoint` (the device signing a checkpoint) gives the package its inclusion proof.
    """
    with open_book(state_dir) as book:
        stored = _pending(book.get(request_id), request_id)
        request = stored.request

        def record_approval(package: SharePackage) -> None:
            body = entries.request_decided(
                request_id, request.payload_sha256(), None, package.manifest_sha256
            )
            Ledger.in_state_dir(state_dir).append(owner, entries.REQUEST_APPROVED, body)

        package = share_clips(
            state_dir,
            clips_in_window(state_dir, request.start, request.end),
            owner,
            request.recipient,
            out_dir,
            device_id=device_id,
            purpose=(
                f"footage request {request_id} by {request.requester}, {request.organisation} "
                f"(case {request.case_ref}): {request.reason}"
            ),
            expires=expires,
            request_id=request_id,
            also_record=record_approval,
            checkpoint=checkpoint,
        )
        decided = book.decide(request_id, "approved", clock(), None, package.manifest_sha256)
    return decided, package


def deny_request(
    state_dir: Path,
    request_id: str,
    owner: OwnerKey,
    reason: str | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> StoredRequest:
    """Record the owner's refusal (with an optional reason); nothing is shared."""
    with open_book(state_dir) as book:
        stored = _pending(book.get(request_id), request_id)
        body = entries.request_decided(request_id, stored.request.payload_sha256(), reason, None)
        Ledger.in_state_dir(state_dir).append(owner, entries.REQUEST_DENIED, body)
        return book.decide(request_id, "denied", clock(), reason, None)


def _pending(stored: StoredRequest | None, request_id: str) -> StoredRequest:
    if stored is None:
        raise RequestStateError(f"no request {request_id}")
    if stored.status != "pending":
        raise RequestStateError(f"request {request_id} is already {stored.status}")
    return stored
