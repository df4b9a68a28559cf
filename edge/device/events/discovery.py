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


def discovery_messages(
    device: DeviceConfig, names: Topics, hw_version: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Return (config topic, payload) for every entity; publish each retained.
    `hw_version` is the board (the Pi model), where it is known."""
    node = device.id
    about: dict[str, Any] = {
        "identifiers": [f"doorbell-edge.{device.id}"],
        "name": device.name,
        "manufacturer": "doorbell-edge",
        "model": "doorbell-edge",
        "sw_version": __version__,
    }
    if hw_version:
        about["hw_version"] = hw_version
    if device.area:
        about["suggested_area"] = device.area
    shared: dict[str, Any] = {
        "availability_topic": names.full(topics.AVAILABILITY),
        "payload_available": topics.ONLINE,
        "payload_not_available": topics.OFFLINE,
        "device": about,
        "origin": ORIGIN,
        # Home Assistant subscribes with QoS 0 unless told: a ring or a problem must not
        # be lost on the way.
        "qos": 1,
    }
    health = names.full(topics.HEALTH)
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
                "json_attributes_topic": names.full(topics.CLIP_STORED),
                "json_attributes_template": (
                    '{"duration_s": {{ value_json.duration_s }}, '
                    '"faces_obscured": {{ value_json.faces_redacted }}, '
                    '"status": "{{ value_json.status }}", '
                    '"segments": {{ value_json.segments }}}'
                ),
            },
        ),
        (
            "binary_sensor",
            "redaction_fail_closed",
            {
                "name": "Face redaction failing",
                "device_class": "problem",
                "entity_category": "diagnostic",
                "state_topic": health,
                "value_template": ("{{ 'ON' if value_json.redaction_fail_closed > 0 else 'OFF' }}"),
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        ),
        (
            "binary_sensor",
            "recording_stopped",
            {
                "name": "Recording stopped",
                "device_class": "problem",
                "state_topic": health,
                "value_template": "{{ 'ON' if value_json.recording_stopped else 'OFF' }}",
                "json_attributes_topic": health,
                "json_attributes_template": (
                    '{"reason": {{ (value_json.recording_stopped or "") | tojson }}}'
                ),
                "payload_on": "ON",
                "payload_off": "OFF",
            },
        ),
        *_diagnostic_sensors(health),
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


def _diagnostic_sensors(health: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The health figures as diagnostic sensors (hidden from dashboards by default)."""
    figures = [
        ("fps", "Frame rate", "{{ value_json.fps }}", {"unit_of_measurement": "fps"}),
        (
            "dropped_frames",
            "Dropped frames",
            "{{ value_json.dropped_frames }}",
            {"state_class": "total_increasing"},
        ),
        (
            "fail_closed_frames",
            "Frames obscured whole (redaction failed)",
            "{{ value_json.redaction_fail_closed }}",
            {"state_class": "total_increasing"},
        ),
        (
            "uptime",
            "Uptime",
            "{{ value_json.uptime_s | round(0) }}",
            {"device_class": "duration", "unit_of_measurement": "s"},
        ),
        (
            "cpu_temperature",
            "CPU temperature",
            "{{ value_json.cpu_temp_c }}",
            {"device_class": "temperature", "unit_of_measurement": "°C"},
        ),
    ]
    return [
        (
            "sensor",
            object_id,
            {
                "name": name,
                "entity_category": "diagnostic",
                "state_class": "measurement",
                "state_topic": health,
                "value_template": template,
                **extra,
            },
        )
        for object_id, name, template, extra in figures
    ]
