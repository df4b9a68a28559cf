"""The log inclusion proof of a share package, made from the mirrored log.

`doorbell share --mirror` writes the package before the device has its decision, so the
package has no `inclusion.json` yet. Once `doorbell mirror` has relayed the decision, the
device has appended it (`owner.decision`) and its log is back on the mirror, this finds
that entry by the package's manifest hash and proves it against the witness's cosigned
checkpoint (`ledger.cosigned`, from `doorbell watch --mirror`), else the device's own.
A package shared on the device (a `clip.shared` entry) can have its proof replaced the
same way (`replace`), so that it leads to the witness's cosigned checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.core.log.entries import CLIP_SHARED, OWNER_DECISION
from edge.core.log.inclusion import INCLUSION_NAME, InclusionError, prove_inclusion
from edge.core.log.ledger import Ledger
from edge.core.log.tree import CHECKPOINT_FILENAME, COSIGNED_FILENAME
from edge.core.store.layout import DEVICE_PUB_NAME
from edge.owner.manifest import MANIFEST_NAME, load_manifest, manifest_sha256


class ProofNotReady(Exception):
    """The share is not (yet) where a proof can be made; the message says what is missing."""


def attach_inclusion_proof(package: Path, folder: Path, *, replace: bool = False) -> Path:
    """Write `package/inclusion.json` from the mirrored log in `folder`; returns its path."""
    target = package / INCLUSION_NAME
    if target.exists() and not replace:
        raise ProofNotReady(f"{target} exists already; --force replaces it")
    try:
        manifest, _parsed = load_manifest((package / MANIFEST_NAME).read_bytes())
    except (OSError, ValueError) as exc:
        raise ProofNotReady(f"cannot read {package / MANIFEST_NAME}: {exc}") from None
    wanted = manifest_sha256(manifest)
    ledger = Ledger.in_state_dir(folder)
    line = _entry_line(ledger, wanted)
    if line is None:
        raise ProofNotReady(
            "the device's log on the mirror does not hold this share yet (is `doorbell "
            "mirror` relaying decisions and the device online?)"
        )
    note = _checkpoint_note(folder)
    device_key = (folder / DEVICE_PUB_NAME).read_text(encoding="ascii").strip()
    try:
        proof = prove_inclusion(ledger, line, device_key, note)
    except InclusionError as exc:
        raise ProofNotReady(f"no proof yet: {exc}") from None
    target.write_bytes(proof.to_json())
    return target


def _entry_line(ledger: Ledger, manifest_sha: str) -> bytes | None:
    for _number, raw in ledger.lines():
        if not raw.endswith(b"\n"):
            continue
        try:
            entry = json.loads(raw)
            shared = entry if entry["type"] == CLIP_SHARED else None
            if entry["type"] == OWNER_DECISION:
                shared = entry["body"]["decision"]
        except (ValueError, KeyError, TypeError):
            continue
        if (
            isinstance(shared, dict)
            and shared.get("type") == CLIP_SHARED
            and isinstance(shared.get("body"), dict)
            and shared["body"].get("manifest_sha256") == manifest_sha
        ):
            return raw[:-1]
    return None


def _checkpoint_note(folder: Path) -> str:
    for name in (COSIGNED_FILENAME, CHECKPOINT_FILENAME):
        try:
            return (folder / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
    raise ProofNotReady(
        f"no checkpoint of the device's log in {folder} (run `doorbell watch --mirror`)"
    )
