"""Home Assistant MQTT discovery: one device with motion, doorbell press, last clip,
storage used, a privacy-mode switch, and the witness's audit-log alarm.

There is deliberately no `camera` (or `image`) entity: images do not go over MQTT, by
design. The entities read the same topics the watcher reads; none of them can command
anything but privacy mode.
"""

from __future__ import annotations

from typing import Any

from edge import __version__
from edge.core.config.models import DeviceConfig
from edge.core.mqtt import topics
from edge.core.mqtt.command_time import HA_PRIVACY_TEMPLATE
from edge.core.mqtt.topics import Topics

ORIGIN = {"name": "doorbell-edge", "sw_version": __version__}

# Component types we announce; a test pins that "camera" and "image" never appear.
COMPONENTS = ("binary_sensor", "event", "sensor", "switch")


def discovery_messages(device: DeviceConfig, names: Topics) -> list[tuple[str, dict[str, Any]]]:
    """Return (config topic, payload) for every entity; publish each retained."""
    node = device.id
    shared: dict[str, Any] = {
        "availability_topic": names.full(topics.AVAILABILITY),
        "payload_available": topics.ONLINE,
        "payload_not_available": topics.OFFLINE,
        "device": {
            "identifiers": [f"doorbell-edge.{device.id}"],
            "name": device.name,
            "manufacturer": "doorbell-edge",
            "model": "doorbell-edge",
            "sw_version": __version__,
        },
        "origin": ORIGIN,
    }
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "binary_sensor",
            "motion",
            {
                "name": "Motion",
                "device_class": "motion",
                "state_topic": names.full(topics.MOTION),
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        ),
        (
            "event",
            "doorbell",
            {
                "name": "Doorbell",
                "device_class": "doorbell",
                "state_topic": names.full(topics.DOORBELL),
                "event_types": ["press"],
            },
        ),
        (
            "sensor",
            "last_clip",
            {
                "name": "Last clip",
                "device_class": "timestamp",
                "state_topic": names.full(topics.CLIP_STORED),
                "value_template": "{{ value_json.start }}",
            },
        ),
        (
            "sensor",
            "storage_used",
            {
                "name": "Storage used",
                "device_class": "data_size",
                "state_class": "measurement",
                "unit_of_measurement": "B",
                "entity_category": "diagnostic",
                "state_topic": names.full(topics.HEALTH),
                "value_template": "{{ value_json.storage.used_bytes }}",
            },
        ),
        (
            "switch",
            "privacy",
            {
                "name": "Privacy mode",
                "icon": "mdi:eye-off",
                "state_topic": names.full(topics.PRIVACY),
                "command_topic": names.full(topics.PRIVACY_SET),
                # Every command says when it was sent (edge.core.mqtt.command_time).
                "command_template": HA_PRIVACY_TEMPLATE,
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
            },
        ),
        (
            # Set by the home server's witness (`doorbell watch`), not by the doorbell, so
            # it has no availability: a stolen doorbell going offline must not hide it.
            "binary_sensor",
            "audit_log",
            {
                "name": "Audit log rewritten",
                "device_class": "problem",
                "state_topic": names.full(topics.LEDGER_ALARM),
                "value_template": "{{ value_json.state }}",
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        ),
    ]
    messages = []
    for component, object_id, specific in entities:
        assert component in COMPONENTS
        payload = {
            **specific,
            "unique_id": f"doorbell-edge.{device.id}.{object_id}",
            **shared,
        }
        if specific.get("state_topic") == names.full(topics.LEDGER_ALARM):
            for key in ("availability_topic", "payload_available", "payload_not_available"):
                del payload[key]
        messages.append(
            (f"{names.discovery_prefix}/{component}/{node}/{object_id}/config", payload)
        )
    return messages
