"""`doorbell watch`: the home server keeps every doorbell's events and notices a ledger that
was rewritten or rolled back, a doorbell that went offline, and a wrong password."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BROKER_PASSWORD, BROKER_USER
from mosquitto import HOST, Mosquitto, Subscriber, TlsFiles, device_config
from watch_support import Watch

from edge.core.mqtt.connection import Backoff
from edge.core.mqtt.schemas import Health, LedgerHead, StorageUsage
from edge.core.store.outbox import Outbox
from edge.core.timestamps import utc_now
from edge.core.vault import X25519Identity
from edge.device.events.clip_events import clip_finished, clip_started, store_events
from edge.device.events.health import PipelineCounters, build_health
from edge.device.events.publisher import Publisher
from edge.device.store.clip_store import ClipStore
from edge.home.witness import Witness

BACK = "doorbell/back"


def head(seq: int, fill: str) -> LedgerHead:
    return LedgerHead(seq=seq, hash="sha256:" + fill * 64)


def health(ledger: LedgerHead | None, interval_s: float = 60.0) -> bytes:
    return (
        Health(
            time=utc_now(),
            interval_s=interval_s,
            uptime_s=10.0,
            fps=15.0,
            dropped_frames=0,
            redaction_fail_closed=0,
            storage=StorageUsage(used_bytes=1, free_bytes=2),
            ledger_head=ledger,
            privacy_mode=False,
        )
        .to_json()
        .encode()
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    opened = Witness(tmp_path / "watch.sqlite")
    yield opened
    opened.close()


def warnings_of(notices: list) -> list[str]:  # type: ignore[type-arg]
    return [n.text for n in notices if n.kind == "warning"]


def test_ledger_head_that_extends_is_quiet(witness: Witness) -> None:
    for seq, fill in ((1, "a"), (1, "a"), (2, "b"), (5, "c")):
        assert warnings_of(witness.observe(BACK, "health", health(head(seq, fill)))) == []


def test_ledger_head_going_backwards_is_reported(witness: Witness) -> None:
    witness.observe(BACK, "health", health(head(5, "a")))
    (warning,) = warnings_of(witness.observe(BACK, "health", health(head(3, "b"))))
    assert "LEDGER WENT BACKWARDS" in warning and "entry 3" in warning and "entry 5" in warning


def test_ledger_entry_with_a_new_hash_is_reported_as_rewritten(witness: Witness) -> None:
    witness.observe(BACK, "health", health(head(5, "a")))
    (warning,) = warnings_of(witness.observe(BACK, "health", health(head(5, "b"))))
    assert "LEDGER REWRITTEN" in warning


def test_ledger_head_disappearing_is_reported(witness: Witness) -> None:
    witness.observe(BACK, "health", health(head(2, "a")))
    (warning,) = warnings_of(witness.observe(BACK, "health", health(None)))
    assert "LEDGER HEAD MISSING" in warning


def test_each_device_has_its_own_ledger(witness: Witness) -> None:
    witness.observe(BACK, "health", health(head(9, "a")))
    assert warnings_of(witness.observe("doorbell/front", "health", health(head(1, "b")))) == []


def test_repeated_events_are_kept_once(witness: Witness, tmp_path: Path) -> None:
    press = json.dumps({"schema": 1, "event_type": "press", "time": "2026-11-27T12:00:00.000Z"})
    first = witness.observe(BACK, "doorbell", press.encode())
    again = witness.observe(BACK, "doorbell", press.encode())
    assert [n.text for n in first] == ["doorbell pressed"] and again == []
    assert witness.observe(BACK, "motion", b"ON") and not witness.observe(BACK, "motion", b"ON")
    db = sqlite3.connect(tmp_path / "watch.sqlite")
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2


def test_offline_and_silence_are_warned_about(tmp_path: Path) -> None:
    clock = Clock()
    witness = Witness(tmp_path / "w.sqlite", clock=clock)
    witness.observe(BACK, "availability", b"online")
    witness.observe(BACK, "health", health(None, interval_s=10.0))
    clock.now = 29.0
    assert witness.check_silence() == []
    clock.now = 31.0
    (silent,) = warnings_of(witness.check_silence())
    assert "no health message" in silent
    assert witness.check_silence() == []  # once
    (offline,) = warnings_of(witness.observe(BACK, "availability", b"offline"))
    assert "OFFLINE" in offline
    witness.close()


def test_malformed_payload_is_a_warning_not_a_crash(witness: Witness) -> None:
    (warning,) = warnings_of(witness.observe(BACK, "clips/stored", b'{"schema": 1, "id": 5}'))
    assert "invalid payload" in warning
    assert warnings_of(witness.observe(BACK, "health", b"\xff\xfe"))


# -- the real command against a real broker ----------------------------------------------


def fake_device_health(broker: Mosquitto, heads: list[LedgerHead]) -> None:
    device = Subscriber(broker, [])
    try:
        device.publish(f"{BACK}/availability", "online", retain=True)
        for ledger in heads:
            device.publish(f"{BACK}/health", health(ledger), retain=True)
        device.publish(f"{BACK}/availability", "offline", retain=True)  # as its last will would
    finally:
        device.close()


def test_watch_records_every_doorbell_and_warns_loudly(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    config = device_config(mosquitto, state, discovery=False)
    recipient = str(X25519Identity.generate().recipient)
    store = ClipStore.open(config.storage, [recipient], events=store_events())
    db = tmp_path / "watch.sqlite"
    watch = Watch("--host", HOST, "--port", str(mosquitto.port), "--db", str(db))
    started = time.monotonic()
    publisher = Publisher(
        config,
        lambda: Outbox(state),
        health=lambda: build_health(
            counters=PipelineCounters(fps=15.0, dropped_frames=0, redaction_fail_closed=0),
            storage_path=state,
            storage_used_bytes=0,
            privacy_mode=False,
            ledger_head=head(3, "c"),
            started_monotonic=started,
            interval_s=60.0,
        ),
        backoff=Backoff(0.05, 0.3),
    )
    try:
        watch.expect("watching doorbell/#")
        publisher.start()
        clip_id = store.start_clip(events=clip_started([0], 0.2))
        writer = store.open_segment(clip_id)
        writer.write(b"ciphertext-to-be" * 10)
        writer.close(duration_s=2.0)
        store.finish_clip(clip_id, faces_redacted=2, events=clip_finished([0], 0.4))
        publisher.notify()
        assert "2 faces redacted" in watch.expect(f"doorbell/front: clip stored {clip_id}")
        watch.expect("doorbell/front: motion started")

        fake_device_health(mosquitto, [head(5, "a"), head(4, "b"), head(5, "d")])
        assert "out:" not in watch.expect("LEDGER WENT BACKWARDS")
        watch.expect("LEDGER REWRITTEN: entry 5")
        watch.expect(f"WARNING {BACK}: went OFFLINE")
        assert watch.stop() == 0
    finally:
        publisher.stop()
        store.close()
        watch.stop()
    rows = sqlite3.connect(db).execute("SELECT device, topic, key FROM events").fetchall()
    assert ("doorbell/front", "clips/stored", clip_id) in rows
    assert ("doorbell/front", "events/ended", clip_id) in rows
    warnings = sqlite3.connect(db).execute("SELECT device, text FROM warnings").fetchall()
    assert {device for device, _text in warnings} == {BACK}


def test_watch_over_tls_with_a_password(
    mosquitto_tls: Mosquitto, tls_files: TlsFiles, tmp_path: Path
) -> None:
    password = tmp_path / "password"
    password.write_text(BROKER_PASSWORD + "\n")
    common = ["--host", "localhost", "--port", str(mosquitto_tls.port)]
    common += ["--tls-ca", str(tls_files.ca_cert), "--username", BROKER_USER]
    watch = Watch(*common, "--password-file", str(password), "--db", str(tmp_path / "w.db"))
    try:
        watch.expect("watching doorbell/#")
    finally:
        assert watch.stop() == 0
    password.write_text("not the password\n")
    wrong = Watch(*common, "--password-file", str(password), "--db", str(tmp_path / "w.db"))
    assert "wrong user name or password" in wrong.expect("err: doorbell: error:")
    assert wrong.proc.wait(timeout=30) == 1


def test_watch_reports_an_unreachable_broker_and_exits_non_zero(tmp_path: Path) -> None:
    # No camera, no owner key, no doorbell.toml: just a broker address (here a dead one).
    watch = Watch("--host", HOST, "--port", "1", "--db", str(tmp_path / "w.db"))
    assert "refused" in watch.expect("err: doorbell: error:")
    assert watch.proc.wait(timeout=30) == 1
