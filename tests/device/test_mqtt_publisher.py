"""The MQTT link: outbox events arrive in order, once marked delivered, across outages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Received, Subscriber, device_config

from edge.core.config.models import Config
from edge.core.mqtt.connection import Backoff
from edge.core.store.outbox import Outbox
from edge.core.vault import X25519Identity
from edge.device.events.clip_events import clip_finished, clip_started, store_events
from edge.device.events.publisher import Publisher
from edge.device.store.clip_store import ClipStore

PREFIX = "doorbell/front"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state: Path) -> Iterator[ClipStore]:
    config = Config.model_validate({"storage": {"path": str(state)}})
    recipient = str(X25519Identity.generate().recipient)
    with ClipStore.open(config.storage, [recipient], events=store_events()) as opened:
        yield opened


def record_clip(store: ClipStore) -> str:
    """A real clip through the real store: start, one encrypted segment, finish."""
    clip_id = store.start_clip(events=clip_started([0], 0.1))
    writer = store.open_segment(clip_id)
    writer.write(b"\x00not-really-video" * 64)
    writer.close(duration_s=2.0)
    store.finish_clip(clip_id, faces_redacted=1, events=clip_finished([0], 0.3))
    return clip_id


def start_publisher(config: Config, **kwargs: object) -> Publisher:
    publisher = Publisher(
        config,
        lambda: Outbox(config.storage.path),
        backoff=Backoff(0.05, 0.3),
        poll_interval_s=0.05,
        **kwargs,  # type: ignore[arg-type]
    )
    publisher.start()
    return publisher


def first_seen_ids(messages: list[Received]) -> list[str]:
    """Clip ids in arrival order with QoS 1 repeats (same id) removed."""
    seen: list[str] = []
    for message in messages:
        clip_id = json.loads(message.payload)["id"]
        if clip_id not in seen:
            seen.append(clip_id)
    return seen


def pending_rows(state: Path) -> int:
    with Outbox(state) as outbox:
        return len(outbox.pending(10_000))


def test_outbox_rows_are_published_in_order_and_marked_delivered(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    clip_ids = [record_clip(store) for _ in range(5)]
    with Outbox(state) as outbox:
        expected = [(row.topic, json.loads(row.payload)["id"]) for row in outbox.pending(100)]
    assert len(expected) == 15
    subscriber = Subscriber(mosquitto, [f"{PREFIX}/events/#", f"{PREFIX}/clips/#"])
    publisher = start_publisher(device_config(mosquitto, state))
    try:
        assert subscriber.wait_for(lambda m: len(m) >= 15)
        got = [
            (m.topic.removeprefix(PREFIX + "/"), json.loads(m.payload)["id"])
            for m in subscriber.messages
        ]
        assert got == expected
        assert first_seen_ids(subscriber.on(f"{PREFIX}/clips/stored")) == clip_ids
        deadline = time.monotonic() + 10
        while publisher.status.delivered < 15 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert publisher.status.delivered == 15
        assert pending_rows(state) == 0
    finally:
        publisher.stop()
        subscriber.close()


def test_broker_restart_loses_no_clip_event(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    # The home server's watcher keeps a persistent session, so the broker queues for it.
    witness = Subscriber(mosquitto, [f"{PREFIX}/clips/stored"], client_id="witness")
    publisher = start_publisher(device_config(mosquitto, state))
    recording = threading.Event()
    recording.set()
    recorded: list[str] = []

    def keep_recording() -> None:
        while recording.is_set():
            recorded.append(record_clip(store))
            publisher.notify()
            time.sleep(0.02)

    recorder = threading.Thread(target=keep_recording)
    recorder.start()
    try:
        assert publisher.wait_connected(5)
        assert witness.wait_for(lambda m: len(m) >= 5)
        mosquitto.stop()  # mid-stream: the doorbell keeps recording into the outbox
        time.sleep(1.0)
        assert not publisher.status.connected
        during_outage = len(recorded)
        mosquitto.start()
        deadline = time.monotonic() + 10
        while len(recorded) < during_outage + 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        recording.clear()
        recorder.join()
        index_ids = [clip.id for clip in store.clips()]
        assert index_ids == recorded
        assert witness.wait_for(lambda m: set(first_seen_ids(m)) >= set(index_ids), timeout=15), (
            f"missing: {set(index_ids) - set(first_seen_ids(witness.messages))}"
        )
        assert first_seen_ids(witness.messages) == index_ids  # every one, in order
    finally:
        recording.clear()
        recorder.join()
        publisher.stop()
        witness.close()


def test_publisher_reports_a_broker_that_is_down_and_connects_once_it_is_up(
    tmp_path: Path, store: ClipStore, state: Path
) -> None:
    broker = Mosquitto(tmp_path / "late-broker")  # not started yet
    publisher = start_publisher(device_config(broker, state))
    try:
        deadline = time.monotonic() + 5
        while publisher.status.last_error is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "refused" in (publisher.status.last_error or "")
        broker.start()
        assert publisher.wait_connected(5)
        assert publisher.status.last_error is None
    finally:
        publisher.stop()
        broker.stop()


def test_state_is_retained_and_offline_is_published_on_stop(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    publisher = start_publisher(device_config(mosquitto, state, discovery=False))
    publisher.publish_motion(True)
    publisher.publish_privacy_mode(False)
    publisher.publish_doorbell_press()
    assert publisher.wait_connected(5)
    time.sleep(0.3)
    late = Subscriber(mosquitto, [f"{PREFIX}/#"])  # subscribes after everything was sent
    try:
        assert late.wait_for(
            lambda m: {x.topic for x in m} >= {f"{PREFIX}/motion", f"{PREFIX}/privacy"}
        )
        retained = {m.topic: m.payload for m in late.messages if m.retain}
        assert retained[f"{PREFIX}/availability"] == b"online"
        assert retained[f"{PREFIX}/motion"] == b"ON"
        assert retained[f"{PREFIX}/privacy"] == b"OFF"
        assert f"{PREFIX}/doorbell" not in retained  # a ring is an event, never replayed
        publisher.publish_motion(False)
        assert late.wait_for(
            lambda m: m[-1].topic == f"{PREFIX}/motion" and m[-1].payload == b"OFF"
        )
        publisher.stop()
        assert late.wait_for(lambda m: m[-1].payload == b"offline")
    finally:
        publisher.stop()
        late.close()


def test_doorbell_press_is_published_as_a_home_assistant_event(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    subscriber = Subscriber(mosquitto, [f"{PREFIX}/doorbell"])
    publisher = start_publisher(device_config(mosquitto, state, discovery=False))
    try:
        assert publisher.wait_connected(5)
        publisher.publish_doorbell_press()
        assert subscriber.wait_for(lambda m: len(m) == 1)
        press = json.loads(subscriber.messages[0].payload)
        assert press["event_type"] == "press"
        assert press["time"].endswith("Z")
    finally:
        publisher.stop()
        subscriber.close()


DEVICE_SCRIPT = """
import sys, time
from pathlib import Path
from edge.core.config.models import Config
from edge.device.events.publisher import Publisher
config = Config.model_validate_json(sys.argv[1])
publisher = Publisher(config)
publisher.start()
publisher.wait_connected(10)
print("up", flush=True)
time.sleep(60)
"""


def test_killed_doorbell_is_reported_offline_by_its_last_will(
    mosquitto: Mosquitto, state: Path
) -> None:
    config = device_config(mosquitto, state, discovery=False, keepalive=5)
    subscriber = Subscriber(mosquitto, [f"{PREFIX}/availability"])
    device = subprocess.Popen(
        [sys.executable, "-c", DEVICE_SCRIPT, config.model_dump_json()],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert device.stdout is not None
        assert device.stdout.readline().strip() == "up"
        assert subscriber.wait_for(lambda m: [x.payload for x in m] == [b"online"])
        os.kill(device.pid, signal.SIGKILL)  # no goodbye: only the broker can tell
        assert subscriber.wait_for(lambda m: m[-1].payload == b"offline", timeout=10)
    finally:
        if device.poll() is None:
            os.kill(device.pid, signal.SIGKILL)
        device.wait()
        subscriber.close()


def test_topic_prefix_defaults_to_doorbell_and_the_device_id(
    mosquitto: Mosquitto, state: Path
) -> None:
    assert Publisher(device_config(mosquitto, state)).topics.prefix == PREFIX
    custom = device_config(mosquitto, state, topic_prefix="home/porch")
    assert Publisher(custom).topics.full("motion") == "home/porch/motion"


def test_a_stale_retained_motion_on_is_replaced_at_connect(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    # What a doorbell that lost power mid-motion leaves on the broker.
    stale = Subscriber(mosquitto, [])
    stale.publish(f"{PREFIX}/motion", "ON", retain=True)
    stale.close()
    publisher = start_publisher(device_config(mosquitto, state, discovery=False))
    try:
        assert publisher.wait_connected(5)
        time.sleep(0.3)
        late = Subscriber(mosquitto, [f"{PREFIX}/motion"])
        assert late.wait_for(lambda m: any(x.retain for x in m))
        assert [x.payload for x in late.messages if x.retain] == [b"OFF"]
        late.close()
    finally:
        publisher.stop()


def test_motion_goes_off_before_the_doorbell_goes_offline(
    mosquitto: Mosquitto, store: ClipStore, state: Path
) -> None:
    publisher = start_publisher(device_config(mosquitto, state, discovery=False))
    watcher = Subscriber(mosquitto, [f"{PREFIX}/#"])
    try:
        assert publisher.wait_connected(5)
        publisher.publish_motion(True)
        assert watcher.wait_for(lambda m: (f"{PREFIX}/motion", b"ON") in _pairs(m))
        publisher.stop()  # the end of a replayed file, or SIGTERM
        assert watcher.wait_for(lambda m: m[-1].payload == b"offline")
        after_on = _pairs(watcher.messages)
        last_motion = [p for t, p in after_on if t == f"{PREFIX}/motion"][-1]
        assert last_motion == b"OFF"
    finally:
        publisher.stop()
        watcher.close()
    retained = Subscriber(mosquitto, [f"{PREFIX}/motion"])
    try:
        assert retained.wait_for(lambda m: bool(m))
        assert retained.messages[-1].payload == b"OFF"
    finally:
        retained.close()


def _pairs(messages: list[Received]) -> list[tuple[str, bytes]]:
    return [(m.topic, m.payload) for m in messages]
