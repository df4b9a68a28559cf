"""The device's writing half of the clip store: encrypted segments written atomically
(`segments`), the store the daemon holds (`clip_store`), repair after a power cut
(`repair`), retention (`retention`), the device signing key (`device_key`) and the events
a store change queues (`events`). The layout and read API are in `edge.core.store`."""
