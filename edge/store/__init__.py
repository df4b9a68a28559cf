"""The clip store: encrypted segments on disk, a SQLite index of them, retention, and the
outbox of events, all under the state directory (`storage.path`).

The daemon holds one `ClipStore`; the MQTT thread opens its own `Outbox` on the same
state directory; the owner's tools read with `read_clips`, `read_segments` and `segment_file`, which
never create, migrate or repair anything. Layout and guarantees are
described in `edge.store.layout`, `edge.store.segments`, `edge.store.repair` and
`edge.store.retention`.
"""

from edge.store.clip_store import ClipStore
from edge.store.device_key import DeviceKey, parse_public_key, segment_message, verify
from edge.store.errors import StorageError, StorageFullError
from edge.store.events import EventBuilder, EventsArg, StoreEvents, no_events
from edge.store.index import ClipRecord, SegmentRecord, rfc3339
from edge.store.outbox import Event, Outbox, OutboxRow, enqueue_events
from edge.store.reading import read_clips, read_segments, segment_file
from edge.store.retention import Deletion
from edge.store.segments import SegmentWriter

__all__ = [
    "ClipRecord",
    "ClipStore",
    "Deletion",
    "DeviceKey",
    "Event",
    "EventBuilder",
    "EventsArg",
    "Outbox",
    "OutboxRow",
    "SegmentRecord",
    "SegmentWriter",
    "StorageError",
    "StorageFullError",
    "StoreEvents",
    "enqueue_events",
    "no_events",
    "parse_public_key",
    "read_clips",
    "read_segments",
    "rfc3339",
    "segment_file",
    "segment_message",
    "verify",
]
