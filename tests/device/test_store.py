"""The clip store: encrypted segments land atomically, signed, indexed, with their events."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from edge.core.config.models import StorageConfig
from edge.core.keytext import parse_public_key, verify
from edge.core.store.errors import StorageError
from edge.core.store.index import ClipRecord, SegmentRecord, connect, transaction
from edge.core.store.outbox import Outbox, enqueue_events
from edge.core.store.segment_signature import segment_message
from edge.core.vault import X25519Identity, decrypt_bytes
from edge.device.store.clip_store import ClipStore
from edge.device.store.device_key import load_or_create
from edge.device.store.events import StoreEvents
from edge.device.store.segments import SegmentWriter

MARKER = b"PLAINTEXT-PIXELS-"


@pytest.fixture
def owner(tmp_path: Path) -> tuple[X25519Identity, Path]:
    identity = X25519Identity.generate()
    key_file = tmp_path / "owner.txt"
    key_file.write_text(f"{identity}\n")
    return identity, key_file


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state: Path, owner: tuple[X25519Identity, Path]) -> Iterator[ClipStore]:
    with ClipStore.open(
        StorageConfig(path=state), [str(owner[0].recipient)], events=StoreEvents()
    ) as opened:
        yield opened


def _write_clip(store: ClipStore, segments: list[bytes], started_at: float | None = None) -> str:
    clip_id = store.start_clip(started_at)
    for data in segments:
        writer = store.open_segment(clip_id)
        writer.write(data)
        writer.close(duration_s=2.0)
    store.finish_clip(clip_id)
    return clip_id


def test_segment_decrypts_with_the_age_cli(
    store: ClipStore, owner: tuple[X25519Identity, Path]
) -> None:
    plaintext = MARKER * 20_000
    clip_id = store.start_clip()
    writer = store.open_segment(clip_id)
    for start in range(0, len(plaintext), 7_001):  # encoder-sized pushes, not chunk-aligned
        writer.write(plaintext[start : start + 7_001])
    segment = writer.close(duration_s=2.0)

    path = store.segment_path(segment)
    assert re.search(r"clips/\d{4}/\d{2}/\d{2}/\d{8}T\d{6}Z-[0-9a-f]{4}/0\.mp4\.age$", str(path))
    result = subprocess.run(
        ["age", "-d", "-i", str(owner[1]), str(path)], capture_output=True, check=True
    )
    assert result.stdout == plaintext


def test_segment_row_has_ciphertext_hash_size_and_a_device_signature(
    store: ClipStore, state: Path
) -> None:
    clip_id = store.start_clip(started_at=1_800_000_000.0)
    writer = store.open_segment(clip_id, started_at=1_800_000_000.5)
    writer.write(os.urandom(200_000))
    writer.duration_s = 1.9  # set by the recorder before the encoder closes the output
    written = writer.bytes_written
    writer.close()

    (segment,) = store.segments(clip_id)
    data = store.segment_path(segment).read_bytes()

    assert segment.state == "stored"
    assert segment.bytes == len(data)
    assert 200_000 - 65_536 < written < segment.bytes  # the vault seals the last chunk at close
    assert segment.sha256 == hashlib.sha256(data).hexdigest()
    assert (segment.started_at, segment.duration_s) == (1_800_000_000.5, 1.9)
    public = parse_public_key((state / "device.pub").read_text())
    message = segment_message(clip_id, 0, segment.sha256)
    assert segment.signature is not None
    assert verify(public, message, bytes.fromhex(segment.signature))


def test_segment_is_invisible_until_closed(store: ClipStore) -> None:
    clip_id = store.start_clip()
    writer = store.open_segment(clip_id)
    writer.write(b"x" * 100_000)
    folder = store.segment_path(SegmentRecord(clip_id, 0, None, None, 0, "", None, "stored")).parent

    assert [p.name for p in folder.iterdir()] == ["0.mp4.age.partial"]
    assert store.segments(clip_id) == []

    writer.close()
    assert [p.name for p in folder.iterdir()] == ["0.mp4.age"]
    assert [s.n for s in store.segments(clip_id)] == [0]


def test_abort_removes_the_partial_and_records_nothing(store: ClipStore) -> None:
    clip_id = store.start_clip()
    writer = store.open_segment(clip_id)
    writer.write(b"x" * 100_000)
    writer.abort()
    writer.abort()

    with pytest.raises(RuntimeError), store.open_segment(clip_id) as second:
        second.write(b"y" * 1000)
        raise RuntimeError("encoder failed")

    clip = store.finish_clip(clip_id, truncated=True)
    assert store.segments(clip_id) == []
    assert (clip.status, clip.segments, clip.bytes) == ("truncated", 0, 0)
    assert not list((store.state_dir / "clips").rglob("*.mp4.age*"))
    with pytest.raises(StorageError, match="aborted"):
        writer.write(b"more")


def test_segment_the_index_cannot_hold_leaves_no_file(
    tmp_path: Path, owner: tuple[X25519Identity, Path]
) -> None:
    def refuse(segment: SegmentRecord) -> None:
        raise StorageError("index unavailable")

    writer = SegmentWriter(
        tmp_path,
        "20261127T231500Z-3f9a",
        0,
        0.0,
        [owner[0].recipient],
        load_or_create(tmp_path),
        refuse,
    )
    writer.write(b"x" * 1000)

    with pytest.raises(StorageError, match="index unavailable"):
        writer.close()
    assert not list(tmp_path.glob("*.mp4.age*"))


def test_index_is_wal_fully_synced_and_versioned(store: ClipStore) -> None:
    conn = connect(store.index_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"clips", "segments", "outbox"} <= tables
    finally:
        conn.close()


def test_index_from_a_newer_program_is_refused(store: ClipStore) -> None:
    conn = sqlite3.connect(store.index_path)
    conn.execute("PRAGMA user_version=99")
    conn.close()

    with pytest.raises(StorageError, match="newer"):
        connect(store.index_path)


def test_clip_lifecycle_puts_its_events_in_the_outbox_in_order(store: ClipStore) -> None:
    seen: list[tuple[ClipRecord, list[SegmentRecord]]] = []

    def stored(clip: ClipRecord, segments: list[SegmentRecord]) -> list[tuple[str, dict]]:
        seen.append((clip, segments))
        return [("clips/stored", {"id": clip.id, "hashes": [s.sha256 for s in segments]})]

    clip_id = store.start_clip(events=[("events/started", {"n": 1})])
    for _ in range(2):
        with store.open_segment(clip_id) as writer:
            writer.write(b"frame" * 1000)
    store.finish_clip(clip_id, duration_s=4.0, faces_redacted=3, events=stored)

    ((clip, segments),) = seen
    assert (clip.status, clip.segments, clip.faces_redacted, clip.duration_s) == (
        "complete",
        2,
        3,
        4.0,
    )
    with Outbox(store.state_dir) as outbox:
        rows = outbox.pending()
    assert [r.topic for r in rows] == ["events/started", "clips/stored"]
    assert rows[1].payload == (
        f'{{"hashes":["{segments[0].sha256}","{segments[1].sha256}"],"id":"{clip_id}"}}'
    )


def test_state_change_and_its_events_commit_together_or_not_at_all(store: ClipStore) -> None:
    clip_id = store.start_clip(events=[("events/started", {})])

    def broken(clip: ClipRecord, segments: list[SegmentRecord]) -> list[tuple[str, dict]]:
        return [("clips/stored", {"bad": float("nan")})]  # not valid JSON: refused

    with pytest.raises(ValueError):
        store.finish_clip(clip_id, events=broken)

    assert store.clip(clip_id).status == "in_progress"  # type: ignore[union-attr]
    with Outbox(store.state_dir) as outbox:
        assert [r.topic for r in outbox.pending()] == ["events/started"]


def test_payloads_already_serialised_by_a_schema_are_stored_verbatim(store: ClipStore) -> None:
    store.start_clip(events=[("events/started", '{"schema": 1}')])
    with pytest.raises(ValueError):
        store.start_clip(events=[("events/started", "[1, 2]")])

    with Outbox(store.state_dir) as outbox:
        assert [r.payload for r in outbox.pending()] == ['{"schema": 1}']
    assert len(store.clips()) == 1


def test_events_outside_a_transaction_are_refused(store: ClipStore) -> None:
    conn = connect(store.index_path)
    try:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            enqueue_events(conn, [("x", {})])
        with transaction(conn):
            enqueue_events(conn, [("x", {})])
    finally:
        conn.close()


def test_clip_ids_sort_by_start_and_never_repeat_across_restarts(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    ids = []
    for _restart in range(3):
        with ClipStore.open(
            StorageConfig(path=state), [str(owner[0].recipient)], events=StoreEvents()
        ) as store:
            ids += [store.start_clip(started_at=1_800_000_000.0) for _ in range(100)]
            ids.append(store.start_clip(started_at=1_800_000_001.0))

    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"20270115T080000Z-[0-9a-f]{4}", i) for i in ids[:100])
    assert sorted(ids, key=lambda i: i[:16])[-1].startswith("20270115T080001Z")


def test_segments_are_numbered_in_order_and_clip_totals_follow(store: ClipStore) -> None:
    clip_id = store.start_clip(started_at=1_800_000_000.0)
    sizes = []
    for _ in range(3):
        writer = store.open_segment(clip_id)
        writer.write(os.urandom(50_000))
        sizes.append(writer.close(duration_s=2.0).bytes)
    clip = store.finish_clip(clip_id)

    assert [s.n for s in store.segments(clip_id)] == [0, 1, 2]
    assert (clip.segments, clip.bytes, clip.duration_s) == (3, sum(sizes), 6.0)
    assert clip.ended_at == 1_800_000_006.0
    assert clip.manifest_sha256 is not None and len(clip.manifest_sha256) == 64


def test_segments_only_go_to_a_clip_in_progress(store: ClipStore) -> None:
    clip_id = _write_clip(store, [b"a"])

    with pytest.raises(StorageError, match="not in progress"):
        store.open_segment(clip_id)
    with pytest.raises(StorageError, match="not in progress"):
        store.open_segment("20261127T231500Z-0000")
    with pytest.raises(StorageError, match="not in progress"):
        store.finish_clip(clip_id)


def test_store_without_owner_recipients_refuses_to_record(state: Path) -> None:
    with ClipStore.open(StorageConfig(path=state), [], events=StoreEvents()) as store:
        clip_id = store.start_clip()
        with pytest.raises(StorageError, match=r"owner\.recipients"):
            store.open_segment(clip_id)


def test_writer_thread_and_publisher_thread_share_the_index(store: ClipStore) -> None:
    clips = 25
    delivered: list[tuple[int, str, str]] = []
    errors: list[BaseException] = []
    writer_done = threading.Event()

    def record() -> None:
        try:
            for i in range(clips):
                clip_id = store.start_clip(events=[("events/started", {"i": i})])
                with store.open_segment(clip_id) as writer:
                    writer.write(b"z" * 5_000)
                store.finish_clip(clip_id, events=[("clips/stored", {"i": i})])
        except BaseException as exc:
            errors.append(exc)
        finally:
            writer_done.set()

    def publish() -> None:
        try:
            with Outbox(store.state_dir) as outbox:
                while True:
                    done = writer_done.is_set()
                    rows = outbox.pending(limit=7)
                    for row in rows:
                        outbox.mark_delivered(row.id)
                        delivered.append((row.id, row.topic, row.payload))
                    if done and not rows:
                        return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=record), threading.Thread(target=publish)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert [d[0] for d in delivered] == sorted({d[0] for d in delivered})
    expected = [
        (t, f'{{"i":{i}}}') for i in range(clips) for t in ("events/started", "clips/stored")
    ]
    assert [(topic, payload) for _, topic, payload in delivered] == expected


def test_outbox_prunes_old_delivered_events_keeps_pending_and_never_reuses_ids(
    store: ClipStore,
) -> None:
    for i in range(10):
        store.start_clip(events=[("events/started", {"i": i})])
    with Outbox(store.state_dir) as outbox:
        for row in outbox.pending(limit=6):
            outbox.mark_delivered(row.id)

        assert outbox.prune_delivered(keep=2) == 4
        assert [r.id for r in outbox.pending()] == [7, 8, 9, 10]
        assert outbox.prune_delivered(keep=0) == 2
        for row in outbox.pending():
            outbox.mark_delivered(row.id)
        assert outbox.prune_delivered(keep=0) == 4
        store.start_clip(events=[("events/started", {"i": 10})])
        assert [r.id for r in outbox.pending()] == [11]


class _FileWatch:
    """Every path this process opens for writing, creates, links or renames to."""

    active: ClassVar[list[list[str]]] = []

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if not cls.active:
            return
        target = None
        if event == "open":
            path, mode, flags = args
            writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND
            if isinstance(mode, str):
                writing = any(c in mode for c in "wax+")
            else:
                writing = bool((flags or 0) & writes)
            target = path if writing and not isinstance(path, int) else None
        elif event in ("os.rename", "os.link", "os.symlink"):
            target = args[1]
        elif event == "os.mkdir":
            target = args[0]
        if target is not None:
            cls.active[-1].append(os.path.abspath(os.fsdecode(target)))


sys.addaudithook(_FileWatch.hook)

_ALLOWED_FILE = re.compile(
    r"^(clips/\d{4}/\d{2}/\d{2}/\d{8}T\d{6}Z-[0-9a-f]{4}/\d+\.mp4\.age(\.partial)?"
    r"|index\.sqlite(-wal|-shm|-journal)?|device\.(key|pub)(\.partial)?)$"
)
_ALLOWED_DIR = re.compile(r"^clips(/\d{4}(/\d{2}(/\d{2}(/\d{8}T\d{6}Z-[0-9a-f]{4})?)?)?)?$")


def test_only_ciphertext_index_and_key_files_are_ever_created(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    config = StorageConfig(path=state, max_bytes=1024**2, retention_days=1)
    created: list[str] = []
    _FileWatch.active.append(created)
    try:
        with ClipStore.open(config, [str(owner[0].recipient)], events=StoreEvents()) as store:
            _write_clip(store, [MARKER * 50_000, MARKER * 50_000], started_at=1_000_000.0)
            clip_id = store.start_clip()
            with store.open_segment(clip_id) as writer:
                writer.write(MARKER * 1000)
            aborted = store.open_segment(clip_id)
            aborted.write(MARKER * 1000)
            aborted.abort()
            interrupted = store.open_segment(clip_id)
            interrupted.write(MARKER * 100_000)  # left open: like a power cut
            assert [d.reason for d in store.enforce_retention()] == ["retention"]
        with ClipStore.open(config, [str(owner[0].recipient)], events=StoreEvents()) as store:
            assert store.repair_actions
    finally:
        _FileWatch.active.pop()

    outside = [p for p in created if not p.startswith(str(state) + os.sep) and p != str(state)]
    assert outside == []
    names = {os.path.relpath(p, state) for p in created if p != str(state)}
    assert {"device.key.partial", "device.pub.partial"} <= names  # the watch sees our writes
    assert any(n.endswith(".mp4.age.partial") for n in names)
    assert any(n.endswith(".mp4.age") for n in names)
    assert {n for n in names if not (_ALLOWED_FILE.match(n) or _ALLOWED_DIR.match(n))} == set()
    on_disk = {str(p.relative_to(state)) for p in state.rglob("*")}
    assert {n for n in on_disk if not (_ALLOWED_FILE.match(n) or _ALLOWED_DIR.match(n))} == set()
    for path in state.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), path


def test_stored_segment_round_trips_through_our_own_reader(
    store: ClipStore, owner: tuple[X25519Identity, Path]
) -> None:
    data = os.urandom(300_000)
    clip_id = _write_clip(store, [data])

    (segment,) = store.segments(clip_id)
    assert decrypt_bytes([owner[0]], store.segment_path(segment).read_bytes()) == data


def test_outbox_without_a_broker_keeps_only_the_newest_undelivered_events(tmp_path: Path) -> None:
    recipient = str(X25519Identity.generate().recipient)
    with ClipStore.open(StorageConfig(path=tmp_path), [recipient], events=StoreEvents()) as store:
        for n in range(5):
            store.start_clip(events=[("events/started", {"n": n})])
    with Outbox(tmp_path) as outbox:
        assert outbox.prune_undelivered(2) == 3
        assert [row.payload for row in outbox.pending()] == ['{"n":3}', '{"n":4}']
