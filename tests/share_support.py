"""Helpers (no tests) for the consent tests: a device state directory with real clips.

Clips are made the way the daemon makes them: PyAV encodes frames into fragmented MP4
segments that the store's encrypting segment writer lands on disk, and the device
records each closed clip in the ledger.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.cli import main
from edge.core.config.models import StorageConfig
from edge.device.consent.device_audit import DeviceAudit
from edge.device.encoder import EncoderSettings, H264SegmentEncoder
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.owner_key import OwnerKey

WIDTH, HEIGHT, FPS = 96, 64, 10


@dataclass
class Device:
    """A state directory with its store, ledger audit, config file and the owner's key."""

    state: Path
    store: ClipStore
    audit: DeviceAudit
    config: Path
    owner: OwnerKey
    owner_key_file: Path


def make_device(tmp_path: Path, device_id: str = "front-door") -> Device:
    owner = OwnerKey.generate()
    key_file = tmp_path / "owner.key"
    owner.save(key_file, None)
    state = tmp_path / "state"
    store = ClipStore.open(StorageConfig(path=state), [owner.recipient], events=StoreEvents())
    config = tmp_path / "doorbell.toml"
    config.write_text(
        f'[device]\nid = "{device_id}"\n'
        f'[storage]\npath = "{state}"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\n'
        f'signing_keys = ["{owner.signing_public}"]\n'
    )
    return Device(state, store, DeviceAudit.for_store(store), config, owner, key_file)


def frame(i: int) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 90, np.uint8)
    image[10:30, (4 * i) % (WIDTH - 20) : (4 * i) % (WIDTH - 20) + 20] = (30, 200, 240)
    return image


def record_clip(device: Device, started_at: float, segments: int = 2, frames: int = 5) -> str:
    """Encode, encrypt and store one clip, then record it in the ledger; returns its id."""
    store = device.store
    clip_id = store.start_clip(started_at)
    encoder = H264SegmentEncoder(EncoderSettings(codec="libx264", fps=FPS, preset="ultrafast"))
    encoder.start_clip(0.0)
    for n in range(segments):
        t0 = n * frames / FPS
        encoder.start_segment(store.open_segment(clip_id, started_at + t0))
        for i in range(frames):
            encoder.encode(frame(n * frames + i), t0 + i / FPS)
    encoder.end_clip()
    closed = store.finish_clip(clip_id, duration_s=segments * frames / FPS)
    device.audit.clip_stored(closed, store.segments(clip_id))
    return clip_id


def recipient_key(tmp_path: Path, name: str = "recipient.txt") -> tuple[Path, str]:
    """A key made by the real `age-keygen`, as the recipient would make it."""
    path = tmp_path / name
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    public = next(
        line.split(": ", 1)[1]
        for line in path.read_text().splitlines()
        if line.startswith("# public key: ")
    )
    return path, public


def pins(device: Device) -> dict[str, str]:
    """The owner and device keys a recipient got from the owner directly."""
    return {
        "owner_key": device.owner.signing_public,
        "device_key": (device.state / "device.pub").read_text().strip(),
    }


def pin_args(device: Device) -> list[str]:
    keys = pins(device)
    return ["--owner-key", keys["owner_key"], "--device-key", keys["device_key"]]


def share(device: Device, clips: list[str], to: str, out: Path, *extra: str) -> int:
    return main(
        [
            "share",
            *clips,
            "--to",
            to,
            "--out",
            str(out),
            "--identity",
            str(device.owner_key_file),
            "--config",
            str(device.config),
            *extra,
        ]
    )
