"""Helpers for mirror tests: `doorbell mirror`'s receiver in a thread on a real broker,
and a device config with the mirror on."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from mosquitto import HOST, Mosquitto

from edge.core.mqtt.connection import BrokerSettings
from edge.core.store.reading import read_clips, read_segments
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
