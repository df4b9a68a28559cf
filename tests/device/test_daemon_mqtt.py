"""The daemon over a real broker: a replay with faces publishes only documented metadata,
every stored clip is announced, and privacy mode can be switched on from the network."""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from pathlib import Path

from commands_support import privacy
from daemon_support import make_device, write_scene_video
from fake_gpio import FakeButton
from mosquitto import Mosquitto, Subscriber

from edge.core.mqtt.schemas import validate_payload
from edge.core.store.reading import read_clips
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import scene_frames
from edge.device.events.image_guard import find_image_data

PREFIX = "doorbell/test"


def mqtt_section(broker: Mosquitto) -> str:
    return f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\n'


def test_replay_with_faces_publishes_only_documented_metadata(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    device = make_device(tmp_path, mqtt_section(mosquitto))
    video = write_scene_video(tmp_path / "porch.mp4")
    subscriber = Subscriber(mosquitto, ["#"])
    try:
        summary = Daemon(device.config, source=f"file:{video}", replay=True).run()
        assert summary.faces_redacted > 0
        stored_ids = [c.id for c in read_clips(device.state)]
        assert stored_ids
        assert subscriber.wait_for(
            lambda m: len(subscriber.on(f"{PREFIX}/clips/stored")) >= len(stored_ids)
        )
    finally:
        subscriber.close()
    announced = [json.loads(m.payload)["id"] for m in subscriber.on(f"{PREFIX}/clips/stored")]
    assert announced == stored_ids
    assert subscriber.on(f"{PREFIX}/motion")
    for message in subscriber.messages:
        assert find_image_data(message.payload) is None, message.topic
        assert len(message.payload) < 16 * 1024
        if message.topic.startswith("homeassistant/"):
            assert message.topic.split("/")[1] not in ("camera", "image")
            continue
        suffix = message.topic.removeprefix(PREFIX + "/")
        if suffix not in ("availability", "motion", "privacy"):
            validate_payload(suffix, message.payload)


def test_privacy_mode_from_the_network_stops_recording(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    device = make_device(tmp_path, mqtt_section(mosquitto))
    connected = threading.Event()

    def frames():
        # Hold the scene until the command has arrived, then play it in full.
        for frame in scene_frames(14.0):
            if frame.index == 0:
                connected.wait(20)
            yield frame

    daemon = Daemon(device.config, frames=frames())
    runner = threading.Thread(target=lambda: setattr(runner, "summary", daemon.run()))
    runner.start()
    commander = Subscriber(mosquitto, [f"{PREFIX}/privacy"])
    try:
        assert commander.wait_for(lambda m: bool(commander.on(f"{PREFIX}/privacy")))
        commander.publish(f"{PREFIX}/privacy/set", privacy(True))
        assert commander.wait_for(
            lambda m: [x.payload for x in commander.on(f"{PREFIX}/privacy")][-1] == b"ON"
        )
        connected.set()
        runner.join(120)
    finally:
        connected.set()
        commander.close()
    summary = runner.summary  # type: ignore[attr-defined]
    assert summary.clips == []
    assert summary.stats.frames_paused == 210
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and "privacy.changed" not in (device.state / "ledger.jsonl").read_text()
    ):
        time.sleep(0.1)
    assert '"privacy.changed"' in (device.state / "ledger.jsonl").read_text()


def test_a_press_of_the_gpio_button_rings_over_mqtt(
    mosquitto: Mosquitto, tmp_path: Path, monkeypatch
) -> None:
    module = types.ModuleType("gpiozero")
    module.Button = FakeButton  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gpiozero", module)
    FakeButton.made = []
    device = make_device(
        tmp_path, mqtt_section(mosquitto).replace("[mqtt]", "[camera]\nbutton_gpio = 17\n[mqtt]")
    )
    subscriber = Subscriber(mosquitto, [f"{PREFIX}/doorbell"])
    pressed = threading.Event()

    def frames():
        for frame in scene_frames(3.0):
            if frame.index == 5:
                FakeButton.made[-1].press()
                subscriber.wait_for(lambda m: bool(m), timeout=10)
                pressed.set()
            yield frame

    try:
        Daemon(device.config, frames=frames()).run()
    finally:
        subscriber.close()
    assert pressed.is_set()
    (ring,) = subscriber.on(f"{PREFIX}/doorbell")
    validate_payload("doorbell", ring.payload)
    assert FakeButton.made[-1].closed
