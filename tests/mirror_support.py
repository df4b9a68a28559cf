"""Helpers for mirror tests: `doorbell mirror`'s receiver in a thread on a real broker,
and a device config with the mirror on."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mosquitto import HOST, Mosquitto

from edge.core.keytext import public_key_text
from edge.core.mirror import wire
from edge.core.mqtt.connection import BrokerSettings
from edge.core.store.reading import read_clips, read_segments
from edge.core.store.segment_signature import segment_message
from edge.core.vault import X25519Identity, encrypt_bytes
from edge.home.mirror_receiver import MirrorReceiver
from edge.home.mirror_service import serve


def mirror_section(broker: Mosquitto, **mirror: object) -> str:
    """`[mqtt]` towards `broker` and `[mirror] enabled = true` (plus any mirror keys)."""
    extra = "".join(f"{key} = {value}\n" for key, value in mirror.items())
    return (
        f'[mqtt]\nenabled = true\nhost = "{HOST}"\nport = {broker.port}\n'
        f"[mirror]\nenabled = true\n{extra}"
    )


class ReceiverThread:
    """`serve` in a thread with a fixed client id (a persistent session, as in production)."""

    def __init__(
        self,
        broker: Mosquitto,
        root: Path,
        *,
        trust_new_devices: bool = True,
        client_id: str = "mirror-test",
    ) -> None:
        self.receiver = MirrorReceiver(root, trust_new_devices=trust_new_devices)
        self._settings = BrokerSettings(
            host=HOST, port=broker.port, client_id=client_id, keepalive=10
        )
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"receiver did not connect: {self.error}")

    def _run(self) -> None:
        try:
            serve(self._settings, "doorbell", self.receiver, self._stop, self._ready)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
        finally:
            self.receiver.close()  # its SQLite connections belong to this thread

    def wait_for_segments(self, count: int, timeout: float = 30.0) -> bool:
        """Wait until the receiver has stored `count` segments (the broker may still hold
        some for its session while it reconnects after an outage)."""
        deadline = time.monotonic() + timeout
        while self.receiver.stored_segments < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.receiver.stored_segments >= count

    def wait_for_device(self, state: Path, home: Path, timeout: float = 30.0) -> bool:
        """Wait until every segment of the device at `state` is stored and the ledger copy
        in `home` equals the device's (QoS 1 delivery to us trails the device's PUBACKs)."""
        expected = sum(len(read_segments(state, c.id)) for c in read_clips(state))
        if not self.wait_for_segments(expected, timeout):
            return False
        ledger, copy = state / "ledger.jsonl", home / "ledger.jsonl"
        deadline = time.monotonic() + timeout
        while not (copy.exists() and copy.read_bytes() == ledger.read_bytes()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Stop and join; the receiver's indexes are closed."""
        self._stop.set()
        self._thread.join(10)


CLIP = "20261204T101500Z-ab12"


class Device:
    """A doorbell's key, able to make the messages its sender would."""

    def __init__(self, device_id: str = "front") -> None:
        self.id = device_id
        self.private = Ed25519PrivateKey.generate()
        self.key = public_key_text(self.private.public_key())

    def segment(self, clip: str = CLIP, n: int = 0, size: int = 70_000) -> tuple[bytes, str]:
        recipient = X25519Identity.generate().recipient
        data = encrypt_bytes([recipient], os.urandom(size))
        return data, self.private.sign(
            segment_message(clip, n, hashlib.sha256(data).hexdigest())
        ).hex()

    def chunks(
        self, data: bytes, sig: str, clip: str = CLIP, n: int = 0, chunk_bytes: int = 32_768
    ) -> list[wire.SegmentChunk]:
        count = -(-len(data) // chunk_bytes)
        return [
            wire.SegmentChunk(
                device=self.id,
                key=self.key,
                clip_id=clip,
                n=n,
                sha256=hashlib.sha256(data).hexdigest(),
                signature=sig,
                started_at=1_780_000_000.0,
                duration_s=2.0,
                state="stored",
                size=len(data),
                chunk=i,
                chunks=count,
                offset=i * chunk_bytes,
                data=data[i * chunk_bytes : (i + 1) * chunk_bytes],
            )
            for i in range(count)
        ]
