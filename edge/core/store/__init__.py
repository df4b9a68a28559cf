"""The store's on-disk layout and read API, shared by the device (which writes it) and the
owner's tools (which read it): folder layout (`layout`), the SQLite index (`index`), the
outbox table (`outbox`), read-only access (`reading`, which never creates, migrates or
repairs anything) and what a segment signature covers (`segment_signature`)."""
