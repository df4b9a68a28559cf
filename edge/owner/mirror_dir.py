"""The owner's tools on the home server's mirror: which device folder to read, and the
owner's decisions made there.

A mirror directory holds one folder per device id in the device's own layout, so the
index, segment files and ledger copy read exactly like the device's state directory.
The ledger copy is the device's and is never written here: an owner decision made on
the mirror (an export) is signed with the owner key on the owner's machine and kept in
`<device>/decisions/pending/`; `doorbell mirror` sends it to the device, which appends it
to its log, and moves it to `decisions/delivered/` once the mirrored log holds it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edge.core.log.canonical import canonical_json
from edge.core.log.decision import sign_decision
from edge.core.log.signing import Signer
from edge.core.mirror.decisions_dir import DECISIONS_DIR, PENDING_DIR
from edge.core.store.layout import DEVICE_PUB_NAME, INDEX_NAME, fsync_dir, make_dirs_durable


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
    signed = sign_decision(owner, folder.name, entry_type, body)
    pending = folder / DECISIONS_DIR / PENDING_DIR
    make_dirs_durable(pending)
    path = pending / f"{signed['time'].replace(':', '')}-{signed['id']}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, canonical_json(signed) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(pending)
    return path
