"""The device's metadata-only MQTT. The daemon holds one `Publisher` (a thread owning the
broker connection). Events go through the store's outbox (`clip_events` builds them inside
the store's transactions) and are published in order with QoS 1; state (motion, privacy
mode, health, availability) is published directly and retained. Inbound messages go through
`CommandRouter`: privacy mode and footage requests only. Topics and payloads are shared
with the home server in `edge.core.mqtt`."""
