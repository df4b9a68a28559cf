"""Every MQTT topic the doorbell uses, named once, so publisher, commands, docs and the
home-server watcher cannot disagree about them.

Topics are a suffix under the device prefix (`doorbell/<device.id>` by default); the
outbox stores the suffix, so changing the prefix never strands undelivered rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.core.config.models import Config

# State: retained, published directly (the last value is all that matters).
AVAILABILITY = "availability"
MOTION = "motion"
PRIVACY = "privacy"
HEALTH = "health"

# Events: written to the outbox with the state they describe, published in order.
EVENT_STARTED = "events/started"
EVENT_ENDED = "events/ended"
CLIP_STORED = "clips/stored"
CLIP_DELETED = "clips/deleted"
REQUEST_STATUS = "requests/status"

# The signed checkpoint of the audit log after every append, with the consistency proof
# from the one before: through the outbox (so none is lost or reordered), retained.
LEDGER_CHECKPOINT = "ledger/checkpoint"

# Published by the home server's witness under each doorbell's prefix (never by the
# doorbell): the checkpoint it cosigned (a signed note, retained), and its alarm state
# (a Home Assistant problem entity, retained).
LEDGER_COSIGNED = "ledger/cosigned"
LEDGER_ALARM = "ledger/alarm"

# A doorbell press is published directly: a ring delivered minutes late would be wrong.
DOORBELL = "doorbell"

# Inbound: the only things the network may ask for (invariant 4): privacy on, a request
# for the owner to decide, and an owner-signed decision for the log (none pulls footage).
PRIVACY_SET = "privacy/set"
REQUEST_NEW = "requests/new"
# Owner-signed decisions made off the device, for its log (sent by the home server).
DECISION_NEW = "decisions/new"

# The mirror to the home server (`doorbell mirror`): binary messages, not in the outbox
# and not metadata, so kept apart from the sets above (the watcher ignores them).
MIRROR_SEGMENT = "mirror/segment"
MIRROR_CLIP = "mirror/clip"
MIRROR_LEDGER = "mirror/ledger"
MIRROR_TOPICS = frozenset({MIRROR_SEGMENT, MIRROR_CLIP, MIRROR_LEDGER})

# Under the discovery prefix: Home Assistant's birth/last-will topic.
HA_STATUS = "status"

ONLINE = "online"
OFFLINE = "offline"

OUTBOX_TOPICS = frozenset(
    {EVENT_STARTED, EVENT_ENDED, CLIP_STORED, CLIP_DELETED, REQUEST_STATUS, LEDGER_CHECKPOINT}
)
PUBLISHED_TOPICS = frozenset({AVAILABILITY, MOTION, PRIVACY, HEALTH, DOORBELL} | OUTBOX_TOPICS)
INBOUND_TOPICS = frozenset({PRIVACY_SET, REQUEST_NEW, DECISION_NEW})

# Retained so that Home Assistant and late subscribers see the current value at once;
# clips/stored is retained because it feeds the "last clip" sensor.
RETAINED_TOPICS = frozenset({AVAILABILITY, MOTION, PRIVACY, HEALTH, CLIP_STORED, LEDGER_CHECKPOINT})
WITNESS_TOPICS = frozenset({LEDGER_COSIGNED, LEDGER_ALARM})


def default_prefix(device_id: str) -> str:
    """Return the topic prefix used when `mqtt.topic_prefix` is empty."""
    return f"doorbell/{device_id}"


@dataclass(frozen=True, slots=True)
class Topics:
    """Full topic names for one device."""

    prefix: str
    discovery_prefix: str = "homeassistant"

    @classmethod
    def from_config(cls, config: Config) -> Topics:
        """Resolve the prefix from the config (empty means `doorbell/<device.id>`)."""
        prefix = config.mqtt.topic_prefix or default_prefix(config.device.id)
        return cls(prefix=prefix, discovery_prefix=config.mqtt.discovery_prefix)

    def full(self, suffix: str) -> str:
        """Return the full topic for a suffix under the device prefix."""
        return f"{self.prefix}/{suffix}"

    def suffix(self, topic: str) -> str | None:
        """Return the suffix of a full topic under this prefix, or None for other topics."""
        head = self.prefix + "/"
        return topic[len(head) :] if topic.startswith(head) else None

    def all_full(self) -> list[str]:
        """Every full topic of this device: published, inbound, or the witness's about it."""
        return [
            self.full(suffix)
            for suffix in sorted(PUBLISHED_TOPICS | INBOUND_TOPICS | WITNESS_TOPICS)
        ]

    @property
    def ha_status(self) -> str:
        """Home Assistant's status topic (`online` when it (re)starts)."""
        return f"{self.discovery_prefix}/{HA_STATUS}"


def split_device_topic(topic: str) -> tuple[str, str] | None:
    """Split a full topic into (device prefix, known published suffix), or None.

    Used by the home-server watcher, which does not know the prefixes in advance: the
    longest known suffix at the end of the topic decides where the prefix ends. The
    witnesses' own topics count too, so one witness hears another's cosignatures.
    """
    for suffix in sorted(PUBLISHED_TOPICS | WITNESS_TOPICS, key=len, reverse=True):
        if topic.endswith("/" + suffix):
            prefix = topic[: -len(suffix) - 1]
            if prefix:
                return prefix, suffix
    return None
