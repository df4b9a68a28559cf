"""Audits a device's state directory: the ledger chain and its checkpoints, then the
index and files against it.

This is what `doorbell audit verify` runs, on the device or on a mirrored copy: the
chain is checked against the device's key (pinned, or `device.pub`) and the owner
signing keys (pinned in a trust file or given; the device's own key is never accepted
as an owner key), the ledger against its signed checkpoint (`ledger.checkpoint`) and the
witness's cosigned one (`ledger.cosigned`, in a mirror), then every clip in the index
must be recorded in the ledger with the same segment hashes, and (optionally) every
segment file must still hash to what the device recorded.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from edge.core.hashing import sha256_file
from edge.core.keytext import parse_public_key, public_key_text
from edge.core.log.audit import ChainReport, IndexedClip, check_index, verify_lines
from edge.core.log.ledger import Ledger
from edge.core.log.tree import CHECKPOINT_FILENAME, COSIGNED_FILENAME
from edge.core.log.tree_audit import TreeReport, audit_tree, read_text
from edge.core.store.errors import StorageError
from edge.core.store.index import ON_DISK_STATES
from edge.core.store.layout import DEVICE_PUB_NAME, INDEX_NAME, clip_dir, segment_name
from edge.core.store.reading import read_index


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The chain report and every disagreement of the index and files with the ledger."""

    chain: ChainReport
    index_findings: tuple[str, ...]
    file_findings: tuple[str, ...]
    tree: TreeReport | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (an incomplete tail is not ok: it is worth a look)."""
        return (
            self.chain.problem is None
            and not self.chain.torn_tail_bytes
            and not self.index_findings
            and not self.file_findings
            and (self.tree is None or not self.tree.problems)
        )


def device_public_key(state_dir: Path) -> str:
    """The device's `ed25519:` public key from `device.pub`; StorageError if there is none."""
    path = Path(state_dir) / DEVICE_PUB_NAME
    try:
        return public_key_text(parse_public_key(path.read_text(encoding="ascii")))
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot read the device public key {path}: {exc}") from None


class OwnerKeyIsDeviceKey(StorageError):
    """The device's own key was offered as an owner key: it would let the device forge
    owner decisions."""


def audit_state_dir(
    state_dir: Path,
    owner_keys: Collection[str],
    *,
    check_files: bool = False,
    device_key: str | None = None,
    witness_keys: Collection[str] = (),
) -> AuditResult:
    """Verify the ledger in `state_dir` and compare the index (and files) with it.

    `device_key` pins the device key (else `device.pub` is used); with `witness_keys` a
    `ledger.cosigned` cosigned by each of them is required.
    """
    state_dir = Path(state_dir)
    ledger = Ledger.in_state_dir(state_dir)
    device = device_key or device_public_key(state_dir)
    if device in owner_keys:
        raise OwnerKeyIsDeviceKey(
            f"the device key {device} is listed as an owner key: whoever holds the device "
            "could sign owner decisions; remove it from owner.signing_keys / the trust file"
        )
    chain = verify_lines(ledger.lines(), device, owner_keys)
    tree = audit_tree(
        ledger,
        device,
        read_text(state_dir / CHECKPOINT_FILENAME),
        read_text(state_dir / COSIGNED_FILENAME),
        witness_keys,
    )
    if chain.problem is not None:
        return AuditResult(chain, (), (), tree)
    clips = _indexed_clips(state_dir)
    index_findings = tuple(check_index(chain, clips))
    file_findings = tuple(_check_files(state_dir, chain)) if check_files else ()
    return AuditResult(chain, index_findings, file_findings, tree)


def _indexed_clips(state_dir: Path) -> list[IndexedClip]:
    if not (state_dir / INDEX_NAME).is_file():
        return []
    return [
        IndexedClip(
            clip.id,
            clip.status,
            frozenset((s.n, s.sha256) for s in segments if s.state in ON_DISK_STATES),
        )
        for clip, segments in read_index(state_dir)
    ]


def _check_files(state_dir: Path, chain: ChainReport) -> list[str]:
    findings = []
    for clip_id, body in chain.stored_clips.items():
        if clip_id in chain.deleted_clips:
            continue
        for segment in body.get("segments", []):
            name = segment_name(segment["n"], partial=segment.get("state") == "partial")
            path = clip_dir(state_dir, clip_id) / name
            try:
                digest, _size = sha256_file(path)
            except OSError as exc:
                findings.append(f"clip {clip_id} segment {segment['n']}: cannot read {path}: {exc}")
                continue
            if digest != segment["sha256"]:
                findings.append(
                    f"clip {clip_id} segment {segment['n']}: {path} does not hash to the "
                    "ciphertext hash the device recorded (file changed)"
                )
    return findings
