"""Outbox events for clip state changes, built from the store's own rows.

The store calls these builders inside the transaction of the state change, so an event
exists exactly when its state does and carries the final totals and ciphertext hashes.
Event ids are clip ids: the motion event that starts a clip is named after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from edge.core.mqtt.schemas import (
    ClipDeleted,
    ClipStored,
    EventEnded,
    EventStarted,
    outbox_event,
)
from edge.core.store.index import ON_DISK_STATES, ClipRecord, SegmentRecord
from edge.device.store.events import EventBuilder, StoreEvents

Event = tuple[str, str]

_AUTOMATIC_REASONS = frozenset({"retention", "quota", "free_space"})


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def clip_started(zones: Sequence[int], peak_score: float) -> EventBuilder:
    """Builder for `ClipStore.start_clip(events=...)`: `events/started`."""

    def build(clip: ClipRecord, segments: list[SegmentRecord]) -> list[Event]:
        return [
            outbox_event(
                EventStarted(
                    id=clip.id,
                    time=_utc(clip.started_at),
                    zones=list(zones),
                    peak_score=min(1.0, max(0.0, peak_score)),
                )
            )
        ]

    return build


def clip_finished(zones: Sequence[int], peak_score: float) -> EventBuilder:
    """Builder for `ClipStore.finish_clip(events=...)`: `events/ended` then `clips/stored`."""

    def build(clip: ClipRecord, segments: list[SegmentRecord]) -> list[Event]:
        ended = _utc(clip.ended_at if clip.ended_at is not None else clip.started_at)
        return [
            outbox_event(
                EventEnded(
                    id=clip.id,
                    time=ended,
                    started=_utc(clip.started_at),
                    zones=list(zones),
                    peak_score=min(1.0, max(0.0, peak_score)),
                )
            ),
            *clip_stored(clip, segments),
        ]

    return build


def clip_stored(clip: ClipRecord, segments: list[SegmentRecord]) -> list[Event]:
    """Builder of `clips/stored` alone (also used for clips closed by repair)."""
    on_disk = sorted((s for s in segments if s.state in ON_DISK_STATES), key=lambda s: s.n)
    end = clip.ended_at if clip.ended_at is not None else clip.started_at
    payload = ClipStored(
        id=clip.id,
        status="truncated" if clip.status == "truncated" else "complete",
        start=_utc(clip.started_at),
        duration_s=max(0.0, clip.duration_s or 0.0),
        segments=len(on_disk),
        bytes=sum(s.bytes for s in on_disk),
        ciphertext_sha256=[s.sha256 for s in on_disk],
        faces_redacted=clip.faces_redacted,
        time=_utc(end),
    )
    return [outbox_event(payload)]


def clip_deleted(clip: ClipRecord, segments: list[SegmentRecord]) -> list[Event]:
    """Builder of `clips/deleted`; an owner's own words for a deletion stay on the device."""
    reason = clip.delete_reason if clip.delete_reason in _AUTOMATIC_REASONS else "owner"
    when = clip.deleted_at if clip.deleted_at is not None else clip.started_at
    return [outbox_event(ClipDeleted(id=clip.id, reason=reason, time=_utc(when)))]


def store_events() -> StoreEvents:
    """What the store publishes on its own: deletions and clips closed by repair."""
    return StoreEvents(clip_deleted=clip_deleted, clip_closed_by_repair=clip_stored)
