"""Share packages: clips re-encrypted from the owner's key to a recipient's, with a manifest.

For each segment the owner's identity decrypts the stored ciphertext and the plaintext
goes, 64 KiB at a time through memory only, into a new age stream to the recipient. On
the way the stored ciphertext is hashed and must match the index and the device's
signature, so only what the doorbell recorded, unchanged, is ever shared. Each segment
is a self-contained MP4, so `age -d -i key.txt <clip>/<n>.mp4.age > n.mp4` plays.

Every share appends an owner-signed `clip.shared` entry that pins the manifest hash;
given the device's `checkpoint` step (the `share` command on the device), the log is
then checkpointed and `inclusion.json` proves the entry is inside the signed checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from edge.core.keytext import verify
from edge.core.log import entries
from edge.core.log.inclusion import INCLUSION_NAME, InclusionError, prove_inclusion
from edge.core.log.ledger import Ledger
from edge.core.store.errors import StorageError
from edge.core.store.index import (
    ClipRecord,
    SegmentRecord,
)
from edge.core.store.layout import clip_dir, fsync_dir, is_clip_id, segment_name
from edge.core.store.reading import read_clip
from edge.core.store.segment_signature import segment_message
from edge.core.timestamps import rfc3339
from edge.core.timestamps import unix_rfc3339 as store_time
from edge.core.vault import VaultError, X25519Recipient, open_reader, open_writer, parse_recipient
from edge.owner.manifest import (
    FORMAT,
    MANIFEST_NAME,
    SEGMENT_SIGNATURE_SCHEME,
    manifest_sha256,
    render_manifest,
    sign_manifest,
)
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import device_public_key

_CHUNK = 64 * 1024
_SHAREABLE_STATES = ("stored", "recovered")


class ShareError(Exception):
    """The package could not be made; the message says which clip or segment and why."""


@dataclass(frozen=True, slots=True)
class SharePackage:
    """A written package: its folder, signed manifest and the manifest's hash."""

    path: Path
    manifest: dict[str, Any]
    manifest_sha256: str


def share_clips(
    state_dir: Path,
    clip_ids: Sequence[str],
    owner: OwnerKey,
    recipient: str,
    out_dir: Path,
    *,
    device_id: str,
    purpose: str | None = None,
    expires: str | None = None,
    request_id: str | None = None,
    also_record: Callable[[SharePackage], None] | None = None,
    checkpoint: Callable[[], object] | None = None,
) -> SharePackage:
    """Write the package to `out_dir` and record the share in the device's ledger.

    The owner-signed `clip.shared` entry (then whatever `also_record` appends) goes into
    the ledger before `manifest.json` is written: a package that could not be logged is
    removed, never handed over. `checkpoint` signs a checkpoint with the device key; with
    it the package gets `inclusion.json` for the entry.
    """

    def record(package: SharePackage) -> bytes | None:
        body = entries.clip_shared(
            [clip["id"] for clip in package.manifest["clips"]],
            recipient,
            package.manifest_sha256,
            purpose,
            expires,
            request_id,
        )
        ledger = Ledger.in_state_dir(state_dir)
        entry = ledger.append(owner, entries.CLIP_SHARED, body)
        if also_record is not None:
            also_record(package)
        if checkpoint is None:
            return None
        checkpoint()
        try:
            proof = prove_inclusion(ledger, entry.line(), package.manifest["device"]["signing_key"])
        except InclusionError as exc:
            raise ShareError(f"the share was logged but cannot be proven: {exc}") from None
        return proof.to_json()

    return write_share_package(
        state_dir,
        clip_ids,
        owner,
        recipient,
        out_dir,
        device_id=device_id,
        purpose=purpose,
        expires=expires,
        request_id=request_id,
        record=record,
    )


def write_share_package(
    state_dir: Path,
    clip_ids: Sequence[str],
    owner: OwnerKey,
    recipient: str,
    out_dir: Path,
    *,
    device_id: str,
    purpose: str | None = None,
    expires: str | None = None,
    request_id: str | None = None,
    record: Callable[[SharePackage], bytes | None] | None = None,
    now: datetime | None = None,
) -> SharePackage:
    """Re-encrypt the clips to `recipient` into `out_dir` (new or empty) with a signed manifest.

    `record` is called with the signed package before `manifest.json` is written; what it
    returns is written as `inclusion.json`; if it raises, everything written is removed.
    """
    try:
        target = parse_recipient(recipient)
    except ValueError as exc:
        raise ShareError(f"recipient {recipient[:24]!r}: {exc}") from None
    device_key = device_public_key(Path(state_dir))
    clips = _read_clips(Path(state_dir), clip_ids)
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir)
    written: list[Path] = []
    try:
        manifest_clips = []
        for clip, segments in clips:
            folder = out_dir / clip.id
            folder.mkdir()
            written.append(folder)
            shared = []
            for segment in segments:
                _check_device_signature(device_key, segment)
                source = clip_dir(Path(state_dir), clip.id) / segment_name(segment.n)
                destination = folder / segment_name(segment.n)
                written.append(destination)
                shared.append(_reencrypt(source, destination, segment, owner, target))
            fsync_dir(folder)
            manifest_clips.append(
                {
                    "id": clip.id,
                    "start": store_time(clip.started_at),
                    "end": store_time(clip.ended_at),
                    "status": clip.status,
                    "segments": shared,
                }
            )
        unsigned = {
            "format": FORMAT,
            "created": rfc3339(now or datetime.now(UTC)),
            "purpose": purpose,
            "expires": expires,
            "recipient": recipient,
            "request": request_id,
            "device": {
                "id": device_id,
                "signing_key": device_key,
                "segment_signature": SEGMENT_SIGNATURE_SCHEME,
            },
            "clips": manifest_clips,
        }
        manifest = sign_manifest(unsigned, owner)
        package = SharePackage(out_dir, manifest, manifest_sha256(manifest))
        proof = record(package) if record is not None else None
        if proof is not None:
            written.append(out_dir / INCLUSION_NAME)
            _write_new_file(out_dir / INCLUSION_NAME, proof)
        manifest_path = out_dir / MANIFEST_NAME
        written.append(manifest_path)
        _write_new_file(manifest_path, render_manifest(manifest))
    except BaseException:
        _remove(written)
        raise
    fsync_dir(out_dir)
    return package


def _read_clips(
    state_dir: Path, clip_ids: Sequence[str]
) -> list[tuple[ClipRecord, list[SegmentRecord]]]:
    if len(set(clip_ids)) != len(clip_ids):
        raise ShareError("a clip id is given twice")
    found = []
    for clip_id in clip_ids:
        if not is_clip_id(clip_id):
            raise ShareError(f"{clip_id!r} is not a clip id")
        try:
            row = read_clip(state_dir, clip_id)
        except StorageError as exc:
            raise ShareError(str(exc)) from None
        if row is None:
            raise ShareError(f"clip {clip_id} is not in the index")
        clip, all_segments = row
        if clip.status not in ("complete", "truncated"):
            raise ShareError(f"clip {clip_id} is {clip.status}, not a finished clip")
        segments = [s for s in all_segments if s.state in _SHAREABLE_STATES]
        if not segments:
            raise ShareError(f"clip {clip_id} has no finished segment to share")
        found.append((clip, segments))
    return found


def _check_device_signature(device_key: str, segment: SegmentRecord) -> None:
    message = segment_message(segment.clip_id, segment.n, segment.sha256)
    try:
        signature = bytes.fromhex(segment.signature or "")
    except ValueError:
        signature = b""
    if not verify(device_key, message, signature):
        raise ShareError(
            f"clip {segment.clip_id} segment {segment.n}: the device signature does not verify"
        )


class _HashingReader:
    """The stored file as the age reader sees it, hashed on the way."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data


class _HashingWriter:
    """The package file as the age writer sees it, hashed on the way."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self._file.write(data)

    def flush(self) -> None:
        self._file.flush()


def _reencrypt(
    source: Path,
    destination: Path,
    segment: SegmentRecord,
    owner: OwnerKey,
    recipient: X25519Recipient,
) -> dict[str, Any]:
    where = f"clip {segment.clip_id} segment {segment.n}"
    plaintext = hashlib.sha256()
    try:
        with source.open("rb") as stored, destination.open("xb") as out:
            reading = _HashingReader(stored)
            writing = _HashingWriter(out)
            reader = open_reader([owner.identity], reading)
            writer = open_writer([recipient], writing)
            while chunk := reader.read(_CHUNK):
                plaintext.update(chunk)
                writer.write(chunk)
            writer.close()
            # Whatever follows the age stream is hashed too, so appended bytes are caught.
            while reading.read(_CHUNK):
                pass
            out.flush()
            os.fsync(out.fileno())
    except VaultError as exc:
        raise ShareError(f"{where}: cannot decrypt with this owner key: {exc}") from None
    except OSError as exc:
        raise ShareError(f"{where}: {exc}") from None
    if reading.digest.hexdigest() != segment.sha256 or reading.size != segment.bytes:
        raise ShareError(f"{where}: {source} does not match its hash in the index (changed)")
    return {
        "n": segment.n,
        "file": f"{segment.clip_id}/{destination.name}",
        "size": writing.size,
        "sha256": writing.digest.hexdigest(),
        "plaintext_sha256": plaintext.hexdigest(),
        "original_sha256": segment.sha256,
        "original_size": segment.bytes,
        "device_signature": segment.signature,
        "state": segment.state,
    }


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ShareError(f"{out_dir} exists and is not a folder")
        if any(out_dir.iterdir()):
            raise ShareError(f"{out_dir} is not empty; give a new or empty folder")
    else:
        out_dir.mkdir(parents=True, mode=0o700)


def _write_new_file(path: Path, data: bytes) -> None:
    with path.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _remove(paths: list[Path]) -> None:
    for path in reversed(paths):
        with contextlib.suppress(OSError):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink()
