"""The owner's tools on the home server's mirror: which device folder to read, and the
owner's decisions made there.

A mirror directory holds one folder per device id in the device's own layout, so the
index, segment files and ledger copy read exactly like the device's state directory.
The ledger copy is the device's and is never written here: an owner decision made on
the mirror (an export) is signed with the owner key on the owner's machine and kept in
`<device>/decisions/pending/`, so the mirror holds a signed record of every decision it
served. See docs/SHARING.md for how far that record reaches today.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from edge.core.log.canonical import canonical_json
from edge.core.log.signing import Signer, encode_signature
from edge.core.store.layout import DEVICE_PUB_NAME, INDEX_NAME, fsync_dir, make_dirs_durable
from edge.core.timestamps import rfc3339, utc_now

DECISIONS_DIR = "decisions"
PENDING_DIR = "pending"


class MirrorDirError(Exception):
    """The mirror directory cannot be used; the text says why and what to give."""


def device_folder(mirror: Path, device: str | None) -> Path:
    """The folder of one device in a mirror directory.

    `device` picks it by id; without it a mirror holding exactly one device is used, and
    `mirror` may also be a device folder itself.
    """
    mirror = Path(mirror)
    if (mirror / INDEX_NAME).exists() and (mirror / DEVICE_PUB_NAME).exists():
        return mirror
    if not mirror.is_dir():
        raise MirrorDirError(f"no mirror directory {mirror}")
    devices = sorted(
        p.name
        for p in mirror.iterdir()
        if (p / INDEX_NAME).exists() and (p / DEVICE_PUB_NAME).exists()
    )
    if device is not None:
        if device not in devices:
            known = ", ".join(devices) or "none"
            raise MirrorDirError(f"no device {device!r} in {mirror} (devices: {known})")
        return mirror / device
    if not devices:
        raise MirrorDirError(
            f"{mirror} holds no mirrored device yet (is `doorbell mirror` running?)"
        )
    if len(devices) > 1:
        raise MirrorDirError(
            f"{mirror} holds several devices ({', '.join(devices)}): give --device"
        )
    return mirror / devices[0]


def record_decision(folder: Path, owner: Signer, entry_type: str, body: dict[str, Any]) -> Path:
    """Sign an owner decision and keep it in the device folder's pending decisions.

    The file is canonical JSON of {id, device, type, time, body, key, sig}, `sig` being
    the owner's Ed25519 signature over the rest; written 0600, never replacing a file.
    """
    unsigned = {
        "id": secrets.token_hex(8),
        "device": folder.name,
        "type": entry_type,
        "time": rfc3339(utc_now()),
        "body": body,
        "key": owner.signing_public,
    }
    signed = {**unsigned, "sig": encode_signature(owner.sign(canonical_json(unsigned)))}
    pending = folder / DECISIONS_DIR / PENDING_DIR
    make_dirs_durable(pending)
    path = pending / f"{unsigned['time'].replace(':', '')}-{unsigned['id']}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, canonical_json(signed) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(pending)
    return path


def pending_decisions(folder: Path) -> list[Path]:
    """Decisions made on the mirror that the device's ledger does not hold yet."""
    pending = folder / DECISIONS_DIR / PENDING_DIR
    return sorted(pending.glob("*.json")) if pending.is_dir() else []
