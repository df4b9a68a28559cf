"""Home Assistant discovery: one device, the right entities, no camera, re-announced."""

from __future__ import annotations

import json
import time
from pathlib import Path

from mosquitto import Mosquitto, Subscriber, device_config

from edge.core.config.models import DeviceConfig
from edge.core.mqtt.connection import Backoff
from edge.core.mqtt.topics import Topics
from edge.device.events.discovery import discovery_messages
from edge.device.events.image_guard import find_image_data
from edge.device.events.publisher import Publisher

NAMES = Topics("doorbell/front")


def by_component() -> dict[str, list[dict[str, object]]]:
    found: dict[str, list[dict[str, object]]] = {}
    for topic, payload in discovery_messages(DeviceConfig(id="front"), NAMES):
        found.setdefault(topic.split("/")[1], []).append(payload)
    return found


def test_discovery_announces_one_device_and_no_camera() -> None:
    found = by_component()
    assert sorted(found) == ["binary_sensor", "event", "sensor", "switch"]
    assert "camera" not in found and "image" not in found
    payloads = [p for ps in found.values() for p in ps]
    assert len({json.dumps(p["device"], sort_keys=True) for p in payloads}) == 1
    assert len({p["unique_id"] for p in payloads}) == len(payloads) == 13
    assert all(p["qos"] == 1 for p in payloads)
    for payload in payloads:
        if payload["state_topic"] == "doorbell/front/ledger/alarm":
            # Set by the home server's witness: stays visible while the doorbell is offline.
            assert "availability_topic" not in payload
            assert payload["device_class"] == "problem"
        else:
            assert payload["availability_topic"] == "doorbell/front/availability"
        assert "entity_picture" not in payload


def test_discovery_entities_read_the_documented_topics() -> None:
    found = by_component()
    binary = {p["name"]: p for p in found["binary_sensor"]}
    motion, alarm = binary["Motion"], binary["Audit log rewritten"]
    assert motion["state_topic"] == "doorbell/front/motion"
    assert alarm["state_topic"] == "doorbell/front/ledger/alarm"
    for problem in ("Face redaction failing", "Recording stopped"):
        assert binary[problem]["device_class"] == "problem"
        assert binary[problem]["state_topic"] == "doorbell/front/health"
    assert motion["device_class"] == "motion"
    (press,) = found["event"]
    assert press["event_types"] == ["press"] and press["device_class"] == "doorbell"
    sensors = {p["name"]: p for p in found["sensor"]}
    assert sensors["Last clip"]["state_topic"] == "doorbell/front/clips/stored"
    assert sensors["Storage used"]["state_topic"] == "doorbell/front/health"
    assert "faces_obscured" in sensors["Last clip"]["json_attributes_template"]
    diagnostic = [p for p in found["sensor"] if p.get("entity_category") == "diagnostic"]
    assert {p["name"] for p in diagnostic} >= {"Frame rate", "Dropped frames", "Uptime"}
    (switch,) = found["switch"]
    assert switch["command_topic"] == "doorbell/front/privacy/set"
    # The only command topic announced is privacy mode.
    commands = [p for ps in found.values() for p in ps if "command_topic" in p]
    assert commands == [switch]


def test_discovery_with_the_longest_device_id_passes_the_image_guard() -> None:
    device = DeviceConfig(id="d" * 64)
    names = Topics(f"doorbell/{device.id}")
    allowed = [*names.all_full(), names.ha_status]
    for _topic, payload in discovery_messages(device, names):
        assert find_image_data(json.dumps(payload).encode(), allowed) is None


def test_discovery_is_announced_again_when_home_assistant_comes_online(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = device_config(mosquitto, tmp_path / "state")
    subscriber = Subscriber(mosquitto, ["homeassistant/+/front/+/config"])
    publisher = Publisher(config, backoff=Backoff(0.05, 0.3))
    publisher.start()
    try:
        assert subscriber.wait_for(lambda m: len(m) == 13)
        time.sleep(0.2)
        subscriber.clear()
        subscriber.publish("homeassistant/status", "online")  # Home Assistant restarted
        assert subscriber.wait_for(lambda m: len(m) == 13)
        assert {m.topic.split("/")[1] for m in subscriber.messages} == {
            "binary_sensor",
            "event",
            "sensor",
            "switch",
        }
        subscriber.clear()
        subscriber.publish("homeassistant/status", "offline")
        time.sleep(0.3)
        assert subscriber.messages == []
    finally:
        publisher.stop()
        subscriber.close()


def test_discovery_can_be_switched_off(mosquitto: Mosquitto, tmp_path: Path) -> None:
    config = device_config(mosquitto, tmp_path / "state", discovery=False)
    subscriber = Subscriber(mosquitto, ["homeassistant/#"])
    publisher = Publisher(config, backoff=Backoff(0.05, 0.3))
    publisher.start()
    try:
        assert publisher.wait_connected(5)
        subscriber.publish("homeassistant/status", "online")
        time.sleep(0.3)
        assert [m.topic for m in subscriber.messages] == ["homeassistant/status"]
    finally:
        publisher.stop()
        subscriber.close()


def test_retire_clears_every_retained_topic_and_entity(
    mosquitto: Mosquitto, tmp_path, capsys
) -> None:
    from edge.cli import main

    config = device_config(mosquitto, tmp_path / "state")
    publisher = Publisher(config, backoff=Backoff(0.05, 0.3))
    publisher.start()
    try:
        assert publisher.wait_connected(5)
        publisher.publish_motion(True)
        time.sleep(0.5)
    finally:
        publisher.stop()
    path = tmp_path / "doorbell.toml"
    path.write_text(
        f'[device]\nid = "front"\n[storage]\npath = "{tmp_path / "state"}"\n'
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
    )
    before = Subscriber(mosquitto, ["doorbell/front/#", "homeassistant/#"])
    assert before.wait_for(lambda m: len([x for x in m if x.retain]) >= 13)
    before.close()
    assert main(["retire", "-c", str(path)]) == 0
    assert "cleared" in capsys.readouterr().out
    after = Subscriber(mosquitto, ["doorbell/front/#", "homeassistant/#"])
    time.sleep(0.5)
    assert [m.topic for m in after.messages if m.retain] == []
    after.close()
