"""The broker ACL block that gives one doorbell exactly its own topics and nothing else.

mosquitto's `pattern` lines apply to every user of the broker, so the home server's other
accounts (Home Assistant, the watcher, the requests contact point) would get a doorbell's
rights under their own names: a fake doorbell's health, fake discovery entities. So each
doorbell gets its own `user` block instead, made here from the same topic names the
publisher uses (`doorbell config acl` prints it for a config).
"""

from __future__ import annotations

from edge.core.mqtt import topics
from edge.core.mqtt.topics import Topics


def device_acl(names: Topics, username: str, device_id: str) -> str:
    """The `user` block for one doorbell: what it publishes, its discovery configs, and the
    only commands it reads."""
    lines = [f"user {username}"]
    # Its metadata, and the mirror's ciphertext for the home server (read by the mirror user).
    published = topics.PUBLISHED_TOPICS | topics.MIRROR_TOPICS
    lines += [f"topic write {names.full(s)}" for s in sorted(published)]
    lines.append(f"topic write {names.discovery_prefix}/+/{device_id}/+/config")
    lines += [f"topic read {names.full(s)}" for s in sorted(topics.INBOUND_TOPICS)]
    lines.append(f"topic read {names.ha_status}")
    return "\n".join(lines) + "\n"
