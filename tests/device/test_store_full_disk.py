"""A full disk mid-clip: a distinct error, no partial left, a consistent index, and recovery."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from edge.core.config.models import StorageConfig
from edge.core.store.errors import StorageError, StorageFullError
from edge.core.vault import X25519Identity
from edge.device.store import segments as segments_module
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents


def _open(state: Path) -> ClipStore:
    return ClipStore.open(
        StorageConfig(path=state, min_free_bytes=0),
        [str(X25519Identity.generate().recipient)],
        events=StoreEvents(),
    )


def _assert_consistent(store: ClipStore) -> None:
    """No partial file; every indexed segment has its file of the indexed size, and back."""
    indexed = set()
    for clip in store.clips():
        for segment in store.segments(clip.id):
            path = store.segment_path(segment)
            assert segment.state == "stored" and path.stat().st_size == segment.bytes
            indexed.add(path)
    assert set((store.state_dir / "clips").rglob("*.mp4.age*")) == indexed


def test_filling_a_real_filesystem_mid_clip_then_retention_lets_recording_resume(
    small_fs: Path,
) -> None:
    state = small_fs / "state"
    with _open(state) as store:
        clip_id = None
        with pytest.raises(StorageFullError):
            for _ in range(100):
                clip_id = store.start_clip()
                for _ in range(3):
                    with store.open_segment(clip_id) as writer:
                        for _ in range(4):
                            writer.write(os.urandom(32_000))
                        writer.duration_s = 1.0
                store.finish_clip(clip_id)
                clip_id = None

        _assert_consistent(store)
        assert store.clips()[0].status == "complete"

        deletions = store.enforce_retention(disk_full=True)
        assert [d.reason for d in deletions] == ["free_space"]
        if clip_id is not None:
            assert store.finish_clip(clip_id, truncated=True).status == "truncated"
        resumed = store.start_clip()
        with store.open_segment(resumed) as writer:
            writer.write(os.urandom(64_000))
        assert store.finish_clip(resumed).segments == 1
        _assert_consistent(store)

    with _open(state) as store:
        assert store.repair_actions == ()


class _FullAfter(segments_module._HashingSink):
    """A sink over the real file that runs out of space after 150 kB, like a full disk."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self.size + len(data) > 150_000:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_no_space_while_writing_aborts_the_partial_and_raises_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments_module, "_HashingSink", _FullAfter)
    with _open(tmp_path / "state") as store:
        clip_id = store.start_clip()
        writer = store.open_segment(clip_id)

        with pytest.raises(StorageFullError, match="disk full") as caught:
            for _ in range(10):
                writer.write(os.urandom(32_000))

        assert isinstance(caught.value, StorageError)
        assert caught.value.__cause__ is not None
        _assert_consistent(store)
        with pytest.raises(StorageError, match="aborted"):
            writer.close()
        clip = store.finish_clip(clip_id, truncated=True)
        assert (clip.status, clip.segments) == ("truncated", 0)


def test_other_write_faults_are_storage_errors_but_not_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class _Vanished(segments_module._HashingSink):
        def write(self, data: bytes | bytearray | memoryview) -> int:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(segments_module, "_HashingSink", _Vanished)
    with _open(tmp_path / "state") as store:
        clip_id = store.start_clip()
        with pytest.raises(StorageError, match="Input/output error") as caught:
            store.open_segment(clip_id)  # the age header is written on open
        assert not isinstance(caught.value, StorageFullError)
        _assert_consistent(store)
