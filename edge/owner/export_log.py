"""The ledger entry for an owner export (decrypting clips to playable files).

The export itself lives in `edge.owner.export`; whatever runs it on the device records it
here, signed with the same owner key that decrypted the clips, so an export is as
visible in the audit as a share.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge.core.log import entries
from edge.core.log.ledger import Entry, Ledger
from edge.core.log.signing import Signer


def record_export(
    state_dir: Path, owner: Signer, clip_ids: Sequence[str], purpose: str | None = None
) -> Entry:
    """Append an owner-signed `clip.exported` entry to the device's ledger."""
    body = entries.clip_exported(clip_ids, purpose)
    return Ledger.in_state_dir(state_dir).append(owner, entries.CLIP_EXPORTED, body)
