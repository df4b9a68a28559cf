"""The mirror sender on a real broker: only age ciphertext that matches its recorded hash
goes on the mirror topics, in messages under 256 KiB, each segment acknowledged once;
a bad file is logged and skipped without blocking the ones after it."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Subscriber, device_config

from edge.core.config.models import Config
from edge.core.mirror import wire
from edge.core.mqtt.connection import Backoff
from edge.core.store.index import connect
from edge.core.store.layout import INDEX_NAME
from edge.core.store.outbox import Outbox
from edge.core.vault import X25519Identity
from edge.device.events.clip_events import store_events
from edge.device.events.publisher import Publisher
from edge.device.mirror.progress import MirrorProgress
from edge.device.mirror.sender import MirrorSender
from edge.device.store.clip_store import ClipStore


def _config(broker: Mosquitto, state: Path) -> Config:
    data = device_config(broker, state).model_dump(mode="json")
    data["mirror"] = {"enabled": True, "chunk_bytes": 64 * 1024, "window": 4}
    return Config.model_validate(data)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClipStore]:
    storage = Config.model_validate({"storage": {"path": str(tmp_path / "state")}}).storage
    recipient = str(X25519Identity.generate().recipient)
    with ClipStore.open(storage, [recipient], events=store_events()) as opened:
        yield opened


def _clip(store: ClipStore, size: int) -> str:
    clip_id = store.start_clip()
    writer = store.open_segment(clip_id)
    writer.write(os.urandom(size))
    writer.close(duration_s=2.0)
    store.finish_clip(clip_id)
    return clip_id


def test_only_checked_age_ciphertext_is_mirrored(
    mosquitto: Mosquitto, store: ClipStore, caplog
) -> None:
    good = _clip(store, 300_000)
    tampered = _clip(store, 1000)
    plaintext = _clip(store, 1000)
    # A file changed after it was recorded, and one whose "ciphertext" is plaintext
    # (recorded with the matching hash, so only the age check can catch it).
    path = store.segment_path(store.segments(tampered)[0])
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    fake = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100
    store.segment_path(store.segments(plaintext)[0]).write_bytes(fake)
    conn = connect(store.state_dir / INDEX_NAME)
    conn.execute(
        "UPDATE segments SET sha256 = ? WHERE clip_id = ?",
        (hashlib.sha256(fake).hexdigest(), plaintext),
    )
    conn.close()
    later = _clip(store, 2000)

    config = _config(mosquitto, store.state_dir)
    subscriber = Subscriber(mosquitto, ["doorbell/+/mirror/#"])
    sender = MirrorSender(config, store.state_dir, store.device_key.public_text)
    publisher = Publisher(
        config,
        lambda: Outbox(store.state_dir),
        backoff=Backoff(0.05, 0.3),
        poll_interval_s=0.05,
        mirror=sender,
    )
    publisher.start()
    try:
        deadline = time.monotonic() + 20
        while sender.stats.segments_acked < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert subscriber.wait_for(
            lambda got: sum(m.topic.endswith("/mirror/clip") for m in got) >= 4
        )
    finally:
        publisher.stop()
        subscriber.close()
        sender.close()
    chunks = [wire.decode(m.payload) for m in subscriber.on("doorbell/front/mirror/segment")]
    assert all(len(m.payload) <= 256 * 1024 for m in subscriber.messages)
    assert {c.clip_id for c in chunks} == {good, later}
    joined = b"".join(
        c.data for c in sorted(chunks, key=lambda c: (c.clip_id, c.chunk)) if c.clip_id == good
    )
    assert joined.startswith(b"age-encryption.org/v1\n")
    assert hashlib.sha256(joined).hexdigest() == store.segments(good)[0].sha256
    assert len([c for c in chunks if c.clip_id == good]) == 5  # 300 kB in 64 KiB chunks
    progress = MirrorProgress(store.state_dir)
    outcomes = dict(
        progress._conn.execute("SELECT clip_id, outcome FROM mirror_segments").fetchall()
    )
    progress.close()
    assert outcomes == {
        good: "acked",
        tampered: "hash-mismatch",
        plaintext: "not-age",
        later: "acked",
    }
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("does not match its recorded hash" in m for m in messages)
    assert any("is not age ciphertext" in m for m in messages)
    ledger = subscriber.on("doorbell/front/mirror/ledger")
    assert not ledger or all(isinstance(wire.decode(m.payload), wire.LedgerLines) for m in ledger)
