"""Retention with the mirror on: age and quota never delete a clip the mirror has not
copied home; only a lack of free space does, and the daemon then says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from edge.core.config.models import StorageConfig
from edge.core.store.index import connect
from edge.core.store.layout import INDEX_NAME
from edge.core.vault import X25519Identity
from edge.device.mirror.progress import MirrorProgress, unmirrored_clip_ids
from edge.device.store import retention
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents

DAY = 86_400.0
NOW = 1_800_000_000.0


def _open(state: Path, **limits: float) -> ClipStore:
    return ClipStore.open(
        StorageConfig(path=state, **limits),
        [str(X25519Identity.generate().recipient)],
        events=StoreEvents(),
    )


def _clip(store: ClipStore, started_at: float, size: int = 10_000) -> str:
    clip_id = store.start_clip(started_at)
    with store.open_segment(clip_id, started_at) as writer:
        writer.write(os.urandom(size))
        writer.duration_s = 2.0
    store.finish_clip(clip_id)
    return clip_id


def _mirror(state: Path, clip_id: str) -> None:
    progress = MirrorProgress(state)
    progress.segment_done(clip_id, 0)
    progress.close()


def test_age_and_quota_keep_unmirrored_clips(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with _open(state, retention_days=30, max_bytes=1024**2) as store:
        old_unmirrored = _clip(store, NOW - 40 * DAY, 400_000)
        old_mirrored = _clip(store, NOW - 39 * DAY, 400_000)
        recent = [_clip(store, NOW - i * 60, 400_000) for i in (3, 2, 1)]
        _mirror(state, old_mirrored)
        _mirror(state, recent[0])
        conn = connect(state / INDEX_NAME)
        assert unmirrored_clip_ids(conn) == {old_unmirrored, recent[1], recent[2]}
        conn.close()

        deletions = store.enforce_retention(NOW, protect=unmirrored_clip_ids)

        # The old mirrored clip goes by age, the mirrored recent one by quota; the
        # unmirrored ones stay although they are older or over the quota.
        assert [(d.clip_id, d.reason) for d in deletions] == [
            (old_mirrored, "retention"),
            (recent[0], "quota"),
        ]
        assert {c.id for c in store.clips()} == {old_unmirrored, recent[1], recent[2]}
        # Without the mirror the same rules delete the old unmirrored clip as before.
        assert store.enforce_retention(NOW)[0].clip_id == old_unmirrored


def test_free_space_still_deletes_unmirrored_clips(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with _open(state, min_free_bytes=1) as store:
        clip = _clip(store, NOW - 60)
        deletions = retention.enforce(
            store._conn(),
            state,
            store.storage,
            NOW,
            lambda *_: [],
            available=lambda _path: 0,
            protect=unmirrored_clip_ids,
        )
        assert [(d.clip_id, d.reason) for d in deletions] == [(clip, "free_space")]


def test_the_daemon_says_when_the_disk_forced_an_unmirrored_deletion(
    tmp_path: Path, caplog
) -> None:
    from edge.core.config import parse_config
    from edge.device.daemon.daemon import Daemon
    from edge.device.mirror.sender import MirrorSender
    from edge.device.store.retention import Deletion

    state = tmp_path / "state"
    config = parse_config(
        f'[storage]\npath = "{state}"\n[owner]\nrecipients = '
        f'["{X25519Identity.generate().recipient}"]\n'
        "[mqtt]\nenabled = true\n[mirror]\nenabled = true\n"
    )
    with _open(state) as store:
        clip = _clip(store, NOW - 60)
        daemon = Daemon(config)
        daemon._mirror = MirrorSender(config, state, store.device_key.public_text)
        daemon._ledger = type("NoLedger", (), {"clip_deleted": lambda self, d: None})()
        store.delete_clip(clip, "free_space")
        with caplog.at_level(logging.WARNING):
            daemon._clip_deleted(store, Deletion(clip, "free_space", 10_000, NOW - 60))
        daemon._mirror.close()
    assert daemon._unmirrored_deleted == 1
    assert any("before it was mirrored" in r.getMessage() for r in caplog.records)
