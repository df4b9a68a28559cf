"""How events are attached to the store's state changes, and the store's own event hooks.

A caller passes events to a state change either as a fixed list of `(topic suffix,
payload)` or as a builder called inside the transaction with the updated clip row and
its segments (for payloads that need final totals and hashes). The store emits events by
itself only for what it alone decides, clips it deletes and clips it closes while
repairing; `StoreEvents` holds the builders for those, supplied by the MQTT layer, which
owns topics and payload schemas. The store has no payload schema of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from edge.core.store.index import ClipRecord, SegmentRecord
from edge.core.store.outbox import Event

EventBuilder = Callable[[ClipRecord, list[SegmentRecord]], Iterable[Event]]
EventsArg = Iterable[Event] | EventBuilder


def no_events(clip: ClipRecord, segments: list[SegmentRecord]) -> list[Event]:
    """The builder for a store without a publisher (tools, tests)."""
    return []


@dataclass(frozen=True)
class StoreEvents:
    """Builders for the events the store emits on its own.

    `clip_deleted` gets the clip row already marked `deleted` (with `delete_reason`:
    `retention`, `quota`, `free_space`, or the reason an owner gave);
    `clip_closed_by_repair` gets a clip that was in progress at a power cut, now
    `truncated`, with the segments that survived (possibly none).
    """

    clip_deleted: EventBuilder = no_events
    clip_closed_by_repair: EventBuilder = no_events


def resolve(
    events: EventsArg, clip: ClipRecord, segments: Callable[[], list[SegmentRecord]]
) -> list[Event]:
    """The concrete events for a state change; a builder gets the clip and its segments."""
    return list(events(clip, segments()) if callable(events) else events)
