"""Helpers (no tests) for the Merkle-log tests: a device state directory with a signed,
checkpointed ledger, a witness, and the rewrites an attacker holding the device's files
(and its key) can make.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.core.log import entries
from edge.core.log.canonical import canonical_json
from edge.core.log.ledger import GENESIS, Entry, Ledger, entry_from_json, line_hash
from edge.core.log.signing import encode_signature
from edge.core.log.tree import SignedCheckpoint, update_checkpoint
from edge.core.mqtt.schemas import LedgerCheckpoint
from edge.device.store.device_key import DeviceKey, load_or_create
from edge.home.log_witness import LogWitness, Outcome
from edge.home.witness_key import WitnessKey, load_or_create_witness_key
from edge.owner.owner_key import OwnerKey

DEVICE_PREFIX = "doorbell/front-door"


@dataclass
class LogDevice:
    """A state directory with a device key, an owner key and a ledger."""

    state: Path
    key: DeviceKey
    owner: OwnerKey

    @property
    def ledger(self) -> Ledger:
        return Ledger.in_state_dir(self.state)

    def device_entry(self, n: int = 0) -> SignedCheckpoint:
        """A device entry, then a checkpoint (as `DeviceAudit` does after every append)."""
        body = entries.privacy_changed(n % 2 == 0, f"button-{n}")
        self.ledger.append(self.key, entries.PRIVACY_CHANGED, body)
        return self.checkpoint()

    def owner_share(self, manifest_sha256: str = "a" * 64) -> SignedCheckpoint:
        """An owner `clip.shared` entry (what the attacker wants gone), then a checkpoint."""
        body = entries.clip_shared(
            ["20260101T120000Z-abcd"], "age1x", manifest_sha256, None, None, None
        )
        self.ledger.append(self.owner, entries.CLIP_SHARED, body)
        return self.checkpoint()

    def checkpoint(self) -> SignedCheckpoint:
        signed = update_checkpoint(self.ledger, self.key)
        assert signed is not None
        return signed


def make_log_device(tmp_path: Path, name: str = "state") -> LogDevice:
    state = tmp_path / name
    state.mkdir(parents=True)
    return LogDevice(state, load_or_create(state), OwnerKey.generate())


def payload(device: LogDevice, signed: SignedCheckpoint) -> LedgerCheckpoint:
    """The `ledger/checkpoint` message the device publishes for `signed`."""
    return LedgerCheckpoint.from_note(
        device.key.signing_public,
        signed.note,
        signed.previous_size,
        list(signed.consistency),
        datetime.now(UTC),
    )


@dataclass
class HomeWitness:
    """A `LogWitness` on its own SQLite file, with its key and evidence folder."""

    log: LogWitness
    key: WitnessKey
    evidence: Path

    def see(self, device: LogDevice, signed: SignedCheckpoint) -> Outcome:
        return self.log.on_checkpoint(DEVICE_PREFIX, payload(device, signed))


def make_witness(tmp_path: Path, name: str = "w1", mirror: Path | None = None) -> HomeWitness:
    folder = tmp_path / f"witness-{name}"
    folder.mkdir(parents=True)
    key = load_or_create_witness_key(folder / "witness.key")
    conn = sqlite3.connect(folder / "watch.sqlite", isolation_level=None)
    clock = iter(datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=i) for i in range(10**6))
    log = LogWitness(
        conn,
        key,
        f"home.example/{name}",
        folder / "evidence",
        mirror=mirror,
        clock=lambda: next(clock),
    )
    return HomeWitness(log, key, folder / "evidence")


def rewrite(ledger: Ledger, key: DeviceKey, keep: list[int]) -> None:
    """Rewrite the ledger as the device-key holder can: keep the entries at the indexes
    `keep` (in that order), renumber, re-chain and re-sign every device entry with `key`.

    Owner entries keep their signatures, so they survive only where nothing before them
    changed; the tests delete or reorder after them, as a real attacker must.
    """
    old = [entry_from_json(json.loads(line)) for _n, line in ledger.lines()]
    prev, out = GENESIS, []
    for seq, index in enumerate(keep, start=1):
        entry = old[index]
        fields = {**entry.signed_part(), "seq": seq, "prev": prev}
        if entry.actor == "device":
            unsigned = Entry(**fields, sig="")
            sig = encode_signature(key.sign(canonical_json(unsigned.signed_part())))
            line = Entry(**fields, sig=sig).line()
        else:
            line = Entry(**fields, sig=entry.sig).line()
        out.append(line)
        prev = line_hash(line)
    ledger.path.write_bytes(b"".join(line + b"\n" for line in out))


def mirror_of(device: LogDevice, mirror: Path, device_id: str = "front-door") -> Path:
    """Copy the device's ledger files into `mirror/<device id>/`, as the mirror does."""
    folder = mirror / device_id
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.jsonl", "ledger.checkpoint", "device.pub"):
        if (device.state / name).exists():
            shutil.copyfile(device.state / name, folder / name)
    return folder
