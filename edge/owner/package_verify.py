"""Checking a share package as its recipient: signatures, hashes, log inclusion, and that
the videos play.

It needs the owner's and the device's keys pinned (from the owner, not from the
manifest, which anyone re-signing a package would fill with their own keys). It checks
the owner's signature over the manifest, the device's signature over each original
ciphertext hash, each file's hash, and `inclusion.json`: the owner-signed `clip.shared`
entry pinning this manifest, inside a checkpoint signed by the device key (and, with
witness keys, cosigned by each witness). With the recipient's age identity it also
decrypts every segment into memory, checks the plaintext hash the owner signed, and
decodes the MP4 with PyAV. Nothing is written.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from edge.core.keytext import verify
from edge.core.log.canonical import canonical_json
from edge.core.log.checkpoint import cosignature_time
from edge.core.log.decision import decision_problem
from edge.core.log.entries import CLIP_SHARED, OWNER_DECISION
from edge.core.log.inclusion import (
    INCLUSION_NAME,
    InclusionError,
    check_inclusion,
    load_inclusion,
)
from edge.core.log.ledger import Entry, entry_from_json
from edge.core.log.note import NoteError
from edge.core.log.signing import signature_is_valid
from edge.core.store.segment_signature import segment_message
from edge.core.vault import Identity, VaultError, open_reader
from edge.owner.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestSegment,
    load_manifest,
    manifest_sha256,
    manifest_signature_is_valid,
)

_HASH_BLOCK = 1 << 20


@dataclass(frozen=True, slots=True)
class PackageReport:
    """What verifying a package found; `ok` when `problems` is empty."""

    manifest: Manifest | None
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    frames: int

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_package(
    folder: Path,
    identities: Sequence[Identity] = (),
    *,
    owner_key: str | None,
    device_key: str | None,
    witness_keys: Sequence[str] = (),
    today: date | None = None,
) -> PackageReport:
    """Verify the package in `folder`; with `identities`, decrypt and decode its videos too.

    `owner_key` and `device_key` are the keys the recipient pinned (`ed25519:…`, from the
    owner directly); without both nothing is trusted. With `witness_keys` the checkpoint
    must be cosigned by each.
    """
    folder = Path(folder)
    try:
        raw, manifest = load_manifest((folder / MANIFEST_NAME).read_bytes())
    except OSError as exc:
        return PackageReport(None, (f"cannot read {MANIFEST_NAME}: {exc}",), (), 0)
    except ValueError as exc:
        first = " ".join(str(exc).split())[:300]
        return PackageReport(None, (f"{MANIFEST_NAME} is not a valid manifest: {first}",), (), 0)
    problems: list[str] = []
    notes: list[str] = []
    if owner_key is None or device_key is None:
        problems.append(
            "the keys are not pinned: the owner and device keys in the manifest are only "
            "asserted by the manifest itself; give the keys you got from the owner"
        )
        return PackageReport(manifest, tuple(problems), tuple(notes), 0)
    if owner_key != manifest.owner_signing_key:
        problems.append(f"signed by {manifest.owner_signing_key}, not the pinned {owner_key}")
    if device_key != manifest.device.signing_key:
        problems.append(
            f"names the device key {manifest.device.signing_key}, not the pinned {device_key}"
        )
    if not manifest_signature_is_valid(raw):
        problems.append("the owner signature over the manifest does not verify (manifest edited)")
        return PackageReport(manifest, tuple(problems), tuple(notes), 0)
    if problems:
        return PackageReport(manifest, tuple(problems), tuple(notes), 0)
    problems.extend(_check_logged(folder, raw, owner_key, device_key, witness_keys, notes))
    frames = 0
    listed = {Path(MANIFEST_NAME), Path(INCLUSION_NAME)}
    for clip in manifest.clips:
        for segment in clip.segments:
            where = f"clip {clip.id} segment {segment.n}"
            expected = f"{clip.id}/{segment.n}.mp4.age"
            if segment.file != expected:
                problems.append(f"{where}: file {segment.file!r} should be {expected!r}")
                continue
            listed.add(Path(expected))
            message = segment_message(clip.id, segment.n, segment.original_sha256)
            if not verify(
                manifest.device.signing_key, message, bytes.fromhex(segment.device_signature)
            ):
                problems.append(f"{where}: the device signature does not verify")
            problem = _check_file(folder / expected, segment)
            if problem is not None:
                problems.append(f"{where}: {problem}")
                continue
            if identities:
                count, problem = _decrypt_and_decode(folder / expected, segment, identities)
                frames += count
                if problem is not None:
                    problems.append(f"{where}: {problem}")
    for path in sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file()):
        if path not in listed:
            notes.append(f"{path} is not listed in the manifest")
    notes.extend(_expiry_note(manifest.expires, today or datetime.now(UTC).date()))
    return PackageReport(manifest, tuple(problems), tuple(notes), frames)


def _check_logged(
    folder: Path,
    manifest: dict[str, Any],
    owner_key: str,
    device_key: str,
    witness_keys: Sequence[str],
    notes: list[str],
) -> list[str]:
    """Problems with the proof that the share is in the device's log (none: it is)."""
    try:
        proof = load_inclusion((folder / INCLUSION_NAME).read_bytes())
    except FileNotFoundError:
        return [f"no {INCLUSION_NAME}: nothing shows the share was recorded in the log"]
    except (OSError, InclusionError) as exc:
        return [f"{INCLUSION_NAME}: {exc}"]
    try:
        checkpoint = check_inclusion(proof, device_key)
        entry = entry_from_json(json.loads(proof.entry))
    except (InclusionError, ValueError) as exc:
        return [f"{INCLUSION_NAME}: {exc}"]
    problems = []
    if canonical_json(json.loads(proof.entry)) != proof.entry:
        problems.append(f"{INCLUSION_NAME}: the entry is not canonical JSON")
    problem = _shared_entry_problem(entry, owner_key, device_key, manifest_sha256(manifest))
    if problem is not None:
        problems.append(f"{INCLUSION_NAME}: {problem}")
    for key in witness_keys:
        try:
            when = cosignature_time(proof.checkpoint_note, key)
        except NoteError as exc:
            problems.append(f"{INCLUSION_NAME}: {exc}")
            continue
        if when is None:
            problems.append(f"{INCLUSION_NAME}: the checkpoint is not cosigned by witness {key}")
    if not problems:
        notes.append(
            f"recorded as entry {proof.index + 1} of the device's log "
            f"(checkpoint of {checkpoint.size} entries)"
        )
    return problems


def _shared_entry_problem(
    entry: Entry, owner_key: str, device_key: str, manifest_sha: str
) -> str | None:
    """Why `entry` does not record this share by the pinned owner, or None. A share made on
    the device is an owner-signed `clip.shared` entry; one made on the mirror is the
    owner's signed decision inside a device-signed `owner.decision` entry."""
    if entry.type == OWNER_DECISION:
        if entry.actor != "device" or entry.key != device_key:
            return "an owner.decision entry not signed by the pinned device"
        if not signature_is_valid(device_key, canonical_json(entry.signed_part()), entry.sig):
            return "the device signature over the entry does not verify"
        decision = entry.body.get("decision")
        problem = decision_problem(decision, [owner_key])
        if problem is not None:
            return f"the owner decision inside: {problem}"
        if decision["type"] != CLIP_SHARED:
            return "the logged decision is not a share"
        body = decision["body"]
    elif entry.type != CLIP_SHARED or entry.actor != "owner" or entry.key != owner_key:
        return "not a clip.shared entry signed by the pinned owner"
    elif not signature_is_valid(owner_key, canonical_json(entry.signed_part()), entry.sig):
        return "the owner signature over the entry does not verify"
    else:
        body = entry.body
    if body.get("manifest_sha256") != manifest_sha:
        return "the logged entry pins another manifest"
    return None


def _check_file(path: Path, segment: ManifestSegment) -> str | None:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as file:
            while block := file.read(_HASH_BLOCK):
                digest.update(block)
                size += len(block)
    except OSError as exc:
        return f"cannot read {path.name}: {exc.strerror or exc}"
    if size != segment.size or digest.hexdigest() != segment.sha256:
        return f"{path.name} does not match its hash in the manifest (file changed)"
    return None


def _decrypt_and_decode(
    path: Path, segment: ManifestSegment, identities: Sequence[Identity]
) -> tuple[int, str | None]:
    try:
        with path.open("rb") as file:
            plaintext = open_reader(identities, file).read()
    except VaultError as exc:
        return 0, f"cannot decrypt with this key: {exc}"
    if hashlib.sha256(plaintext).hexdigest() != segment.plaintext_sha256:
        return 0, "the decrypted video does not match the hash the owner signed"
    import av  # PyAV loads only when a package is verified

    try:
        with av.open(io.BytesIO(plaintext), mode="r", format="mp4") as container:
            if not container.streams.video:
                return 0, "the MP4 has no video stream"
            count = sum(1 for _ in container.decode(video=0))
    except av.FFmpegError as exc:
        return 0, f"the MP4 does not decode: {exc}"
    if count == 0:
        return 0, "the MP4 holds no frame"
    return count, None


def _expiry_note(expires: str | None, today: date) -> list[str]:
    if expires is None:
        return []
    try:
        until = date.fromisoformat(expires[:10])
    except ValueError:
        return [f"expiry {expires!r} is not a date"]
    if until < today:
        return [f"the owner shared this until {expires}: it has expired, delete it"]
    return [f"the owner shared this until {expires}"]


def describe(manifest: Manifest) -> list[str]:
    """Lines a person reads before trusting the package: who, what, why, until when."""
    lines = [
        f"owner signing key:  {manifest.owner_signing_key}",
        f"device:             {manifest.device.id} ({manifest.device.signing_key})",
        f"created:            {manifest.created}",
        f"purpose:            {manifest.purpose or '-'}",
        f"expires:            {manifest.expires or '-'}",
    ]
    if manifest.request:
        lines.append(f"request:            {manifest.request}")
    for clip in manifest.clips:
        lines.append(
            f"clip {clip.id}: {clip.start} .. {clip.end or '?'} "
            f"({clip.status}, {len(clip.segments)} segment(s))"
        )
    return lines
