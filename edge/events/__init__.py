"""Metadata-only MQTT: what the doorbell tells the home server, and the little it accepts.

The daemon holds one `Publisher` (a thread owning the broker connection). Events go
through the store's outbox (`clip_events` builds them inside the store's transactions)
and are published in order with QoS 1; state (motion, privacy mode, health, availability)
is published directly and retained. Inbound messages go through `CommandRouter`:
privacy mode and footage requests only. Topics and payloads are in `docs/MQTT.md`.
"""

from edge.events.commands import CommandRouter, FootageRequestHandler, PrivacyControl, Verdict
from edge.events.connection import Backoff, BrokerSettings, MqttSetupError, broker_settings
from edge.events.health import PipelineCounters, build_health, read_cpu_temperature
from edge.events.image_guard import ImageDataError, check_no_image_data, find_image_data
from edge.events.publisher import LinkStatus, Outbox, OutboxRow, Publisher
from edge.events.schemas import (
    ClipDeleted,
    ClipStored,
    DoorbellPress,
    EventEnded,
    EventStarted,
    Health,
    LedgerHead,
    PayloadError,
    RequestStatus,
    StorageUsage,
    outbox_event,
    validate_payload,
)
from edge.events.topics import Topics

__all__ = [
    "Backoff",
    "BrokerSettings",
    "ClipDeleted",
    "ClipStored",
    "CommandRouter",
    "DoorbellPress",
    "EventEnded",
    "EventStarted",
    "FootageRequestHandler",
    "Health",
    "ImageDataError",
    "LedgerHead",
    "LinkStatus",
    "MqttSetupError",
    "Outbox",
    "OutboxRow",
    "PayloadError",
    "PipelineCounters",
    "PrivacyControl",
    "Publisher",
    "RequestStatus",
    "StorageUsage",
    "Topics",
    "Verdict",
    "broker_settings",
    "build_health",
    "check_no_image_data",
    "find_image_data",
    "outbox_event",
    "read_cpu_temperature",
    "validate_payload",
]
