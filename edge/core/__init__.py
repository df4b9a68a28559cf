"""The shared core every side stands on: the age vault, the log and its formats, the config
models, key and time text forms, strict JSON, MQTT topics and payloads, and the store's
on-disk layout and read API. It imports no side (device, home, owner)."""
