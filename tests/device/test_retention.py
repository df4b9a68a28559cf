"""Retention: oldest finished clips go first, by age, quota and free space, each one recorded."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from edge.core.config.models import StorageConfig
from edge.core.store.errors import StorageError
from edge.core.store.index import ClipRecord, SegmentRecord, connect
from edge.core.store.outbox import Outbox
from edge.core.vault import X25519Identity
from edge.device.store import retention
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents

DAY = 86_400.0
NOW = 1_800_000_000.0


def _deleted(clip: ClipRecord, segments: list[SegmentRecord]) -> list[tuple[str, dict]]:
    return [("clips/deleted", {"id": clip.id, "reason": clip.delete_reason})]


def _open(state: Path, **limits: float) -> ClipStore:
    return ClipStore.open(
        StorageConfig(path=state, **limits),
        [str(X25519Identity.generate().recipient)],
        events=StoreEvents(clip_deleted=_deleted),
    )


def _clip(store: ClipStore, started_at: float, size: int = 10_000, finish: bool = True) -> str:
    clip_id = store.start_clip(started_at)
    with store.open_segment(clip_id, started_at) as writer:
        writer.write(os.urandom(size))
        writer.duration_s = 2.0
    if finish:
        store.finish_clip(clip_id)
    return clip_id


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_clips_older_than_retention_days_are_deleted_and_recorded(state: Path) -> None:
    with _open(state, retention_days=30) as store:
        old = [_clip(store, NOW - 40 * DAY), _clip(store, NOW - 31 * DAY)]
        recent = _clip(store, NOW - 29 * DAY)
        old_folders = [store.segment_path(store.segments(c)[0]).parent for c in old]

        deletions = store.enforce_retention(NOW)

        assert [(d.clip_id, d.reason) for d in deletions] == [(c, "retention") for c in old]
        for clip_id, folder in zip(old, old_folders, strict=True):
            clip = store.clip(clip_id)
            assert clip is not None
            assert (clip.status, clip.deleted_at, clip.delete_reason) == (
                "deleted",
                NOW,
                "retention",
            )
            assert not folder.exists()
        assert not folder.parent.exists()  # the emptied day folder is pruned too
        assert [c.id for c in store.clips()] == [recent]
        assert [c.id for c in store.clips(include_deleted=True)] == [*old, recent]
        with Outbox(state) as outbox:
            payloads = [r.payload for r in outbox.pending()]
        assert payloads == [f'{{"id":"{c}","reason":"retention"}}' for c in old]


def test_quota_deletes_oldest_first_until_clips_fit(state: Path) -> None:
    with _open(state, max_bytes=1024**2) as store:
        clips = [_clip(store, NOW - (10 - i) * 60, size=300_000) for i in range(5)]

        deletions = store.enforce_retention(NOW)

        assert [(d.clip_id, d.reason) for d in deletions] == [(c, "quota") for c in clips[:2]]
        assert sum(c.bytes for c in store.clips()) <= 1024**2
        assert store.enforce_retention(NOW) == []


def test_clip_in_progress_is_never_deleted(state: Path) -> None:
    with _open(state, retention_days=1, max_bytes=1024**2) as store:
        recording = _clip(store, NOW - 10 * DAY, size=2_000_000, finish=False)
        finished = _clip(store, NOW - 9 * DAY)

        deletions = store.enforce_retention(NOW)

        assert [d.clip_id for d in deletions] == [finished]
        assert store.clip(recording).status == "in_progress"  # type: ignore[union-attr]
        with pytest.raises(StorageError, match="not a finished clip"):
            store.delete_clip(recording, "owner")


def test_after_a_full_disk_at_least_the_oldest_clip_goes(state: Path) -> None:
    with _open(state) as store:
        clips = [_clip(store, NOW - 60 * i) for i in (3, 2, 1)]
        assert store.enforce_retention(NOW) == []

        deletions = store.enforce_retention(NOW, disk_full=True)

        assert [(d.clip_id, d.reason) for d in deletions] == [(clips[0], "free_space")]


def test_low_free_space_deletes_oldest_until_enough_is_free(state: Path) -> None:
    with _open(state) as store:
        clips = [_clip(store, NOW - 60 * i, size=100_000) for i in (4, 3, 2, 1)]
        # A filesystem that has 250 kB free once two of these clips are gone.
        free = {"bytes": 50_000}

        def available(path: Path) -> int:
            gone = sum(c.status == "deleted" for c in store.clips(include_deleted=True))
            return free["bytes"] + gone * 100_000

        conn = connect(store.index_path)
        try:
            deletions = retention.enforce(
                conn,
                state,
                StorageConfig(path=state, min_free_bytes=250_000),
                NOW,
                _deleted,
                available=available,
            )
        finally:
            conn.close()

        assert [(d.clip_id, d.reason) for d in deletions] == [(c, "free_space") for c in clips[:2]]


def test_owner_can_delete_a_finished_clip_once(state: Path) -> None:
    with _open(state) as store:
        clip_id = _clip(store, NOW)

        size = sum(s.bytes for s in store.segments(clip_id))

        deletion = store.delete_clip(clip_id, "owner")

        assert (deletion.reason, deletion.bytes) == ("owner", size)
        with pytest.raises(StorageError):
            store.delete_clip(clip_id, "owner")


def test_free_space_rule_reads_the_real_filesystem(small_fs: Path) -> None:
    state = small_fs / "state"
    with _open(state, min_free_bytes=2 * 1024**2) as store:
        clips = [_clip(store, NOW - 60 * i, size=400_000) for i in (5, 4, 3, 2, 1)]
        assert retention.free_bytes(state) < 2 * 1024**2

        deletions = store.enforce_retention(NOW)

        assert deletions and all(d.reason == "free_space" for d in deletions)
        assert [d.clip_id for d in deletions] == clips[: len(deletions)]
        assert retention.free_bytes(state) >= 2 * 1024**2
        assert [c.id for c in store.clips()] == clips[len(deletions) :]


def test_two_threads_applying_retention_delete_each_clip_once(state: Path) -> None:
    with _open(state, retention_days=1) as store:
        old = [_clip(store, NOW - (10 - i) * DAY) for i in range(6)]
        results: list[list[str]] = []

        def apply() -> None:
            results.append([d.clip_id for d in store.enforce_retention(NOW)])

        threads = [threading.Thread(target=apply) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(results[0] + results[1]) == old
        with Outbox(state) as outbox:
            assert len(outbox.pending()) == len(old)


def test_recording_and_retention_threads_share_the_day_folders(state: Path) -> None:
    with _open(state, max_bytes=1024**2) as store:
        errors: list[BaseException] = []
        recording = threading.Event()
        recording.set()

        def record() -> None:
            try:
                for i in range(30):
                    _clip(store, NOW + i, size=150_000)
            except BaseException as exc:
                errors.append(exc)
            finally:
                recording.clear()

        def retain() -> None:
            try:
                while recording.is_set():
                    store.enforce_retention(NOW)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=record), threading.Thread(target=retain)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        store.enforce_retention(NOW)
        assert sum(c.bytes for c in store.clips()) <= 1024**2
        assert len(store.clips(include_deleted=True)) == 30
