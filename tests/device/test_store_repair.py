"""Startup repair: after a power cut the index and the files agree again, and it says how."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.core.config.models import StorageConfig
from edge.core.keytext import parse_public_key, verify
from edge.core.store.index import ClipRecord, SegmentRecord
from edge.core.store.outbox import Outbox
from edge.core.store.reading import read_segments, segment_file
from edge.core.store.segment_signature import segment_message
from edge.core.vault import TruncatedError, X25519Identity, open_reader
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents


@pytest.fixture
def owner(tmp_path: Path) -> tuple[X25519Identity, Path]:
    identity = X25519Identity.generate()
    key_file = tmp_path / "owner.txt"
    key_file.write_text(f"{identity}\n")
    return identity, key_file


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


def _closed_events(clip: ClipRecord, segments: list[SegmentRecord]) -> list[tuple[str, dict]]:
    return [("clips/stored", {"id": clip.id, "status": clip.status, "n": len(segments)})]


def _open(state: Path, owner: tuple[X25519Identity, Path]) -> ClipStore:
    return ClipStore.open(
        StorageConfig(path=state),
        [str(owner[0].recipient)],
        events=StoreEvents(clip_closed_by_repair=_closed_events),
    )


@pytest.fixture
def store(state: Path, owner: tuple[X25519Identity, Path]) -> Iterator[ClipStore]:
    with _open(state, owner) as opened:
        yield opened


def _finished_clip(store: ClipStore, segments: int = 2) -> str:
    clip_id = store.start_clip()
    for _ in range(segments):
        with store.open_segment(clip_id) as writer:
            writer.write(os.urandom(30_000))
            writer.duration_s = 2.0
    store.finish_clip(clip_id)
    return clip_id


def _sql(store: ClipStore, *statements: str) -> None:
    conn = sqlite3.connect(store.index_path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _did(store: ClipStore, text: str) -> bool:
    return any(text in action for action in store.repair_actions)


def _age_decrypts(key_file: Path, path: Path) -> None:
    subprocess.run(["age", "-d", "-i", str(key_file), "-o", os.devnull, str(path)], check=True)


def assert_index_matches_files(store: ClipStore) -> None:
    """Every on-disk row has its exact file, and every segment file has its row."""
    expected: set[Path] = set()
    for clip in store.clips():
        assert clip.status != "in_progress"
        for segment in store.segments(clip.id):
            path = store.segment_path(segment)
            if segment.state == "missing":
                assert not path.exists()
                continue
            data = path.read_bytes()
            assert (len(data), hashlib.sha256(data).hexdigest()) == (segment.bytes, segment.sha256)
            expected.add(path)
    assert set((store.state_dir / "clips").rglob("*.mp4.age*")) == expected


def test_clean_store_needs_no_repair(state: Path, owner: tuple[X25519Identity, Path]) -> None:
    with _open(state, owner) as store:
        assert store.repair_actions == ()
        _finished_clip(store)
    with _open(state, owner) as store:
        assert store.repair_actions == ()
        assert_index_matches_files(store)


def test_cut_mid_segment_keeps_the_partial_for_salvage_and_truncates_the_clip(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = store.start_clip()
        with store.open_segment(clip_id) as writer:
            writer.write(os.urandom(30_000))
            writer.duration_s = 2.0
        cut = store.open_segment(clip_id)
        cut.write(os.urandom(400_000))  # the power goes here: never closed

    with _open(state, owner) as store:
        clip = store.clip(clip_id)
        assert clip is not None
        assert (clip.status, clip.duration_s) == ("truncated", 2.0)
        first, second = store.segments(clip_id)
        assert (first.state, second.state, second.signature) == ("stored", "partial", None)
        partial = store.segment_path(second)
        assert partial.name == "1.mp4.age.partial" and partial.is_file()
        # Chunks go to the kernel as they are sealed: a crash loses at most one 64 KiB chunk.
        assert second.bytes >= 400_000 - 65_536
        assert _did(store, "segment 1 is incomplete")
        assert _did(store, "closed as truncated with 2 segment(s)")
        with partial.open("rb") as source, pytest.raises(TruncatedError):
            open_reader([owner[0]], source).read()
        # What the owner's export sees, read-only, while a daemon could be running.
        listed = read_segments(state, clip_id)
        assert listed == [first, second]
        assert [segment_file(state, s).name for s in listed] == ["0.mp4.age", "1.mp4.age.partial"]
        with Outbox(state) as outbox:
            (event,) = outbox.pending()
        assert event.payload == f'{{"id":"{clip_id}","n":2,"status":"truncated"}}'
        assert_index_matches_files(store)


def test_partial_cut_before_its_header_was_written_is_removed(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store, segments=1)
        folder = store.segment_path(store.segments(clip_id)[0]).parent
        _sql(store, f"UPDATE clips SET status = 'in_progress' WHERE id = '{clip_id}'")
    (folder / "1.mp4.age.partial").touch()

    with _open(state, owner) as store:
        assert not (folder / "1.mp4.age.partial").exists()
        assert _did(store, "segment 1 left an empty .partial; removed")
        assert [s.state for s in store.segments(clip_id)] == ["stored"]
        assert_index_matches_files(store)


def test_finished_file_without_its_row_is_recovered_and_signed(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store)
        # A cut between the rename and the index commit of segment 1.
        _sql(
            store,
            f"DELETE FROM segments WHERE clip_id = '{clip_id}' AND n = 1",
            f"UPDATE clips SET status = 'in_progress' WHERE id = '{clip_id}'",
        )

    with _open(state, owner) as store:
        recovered = store.segments(clip_id)[1]
        assert recovered.state == "recovered"
        public = parse_public_key((state / "device.pub").read_text())
        message = segment_message(clip_id, 1, recovered.sha256)
        assert recovered.signature and verify(public, message, bytes.fromhex(recovered.signature))
        assert _did(store, "recorded as recovered")
        assert store.clip(clip_id).status == "truncated"  # type: ignore[union-attr]
        assert_index_matches_files(store)
        subprocess.run(
            [
                "age",
                "-d",
                "-i",
                str(owner[1]),
                "-o",
                os.devnull,
                str(store.segment_path(recovered)),
            ],
            check=True,
        )


def test_row_whose_file_is_gone_is_kept_as_missing(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store, segments=3)
        store.segment_path(store.segments(clip_id)[1]).unlink()

    with _open(state, owner) as store:
        clip = store.clip(clip_id)
        assert clip is not None
        assert [s.state for s in store.segments(clip_id)] == ["stored", "missing", "stored"]
        assert (clip.status, clip.segments) == ("truncated", 2)
        assert any(
            "segment 1 is in the index but its file is gone" in a for a in store.repair_actions
        )
        assert_index_matches_files(store)


def test_clip_folder_the_index_forgot_is_added_back(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store)
        started = store.clip(clip_id).started_at  # type: ignore[union-attr]
        _sql(
            store,
            f"DELETE FROM segments WHERE clip_id = '{clip_id}'",
            f"DELETE FROM clips WHERE id = '{clip_id}'",
        )

    with _open(state, owner) as store:
        clip = store.clip(clip_id)
        assert clip is not None
        assert (clip.status, clip.segments, clip.started_at) == ("truncated", 2, int(started))
        assert [s.state for s in store.segments(clip_id)] == ["recovered", "recovered"]
        assert _did(store, "folder without index row")
        assert_index_matches_files(store)


def test_deletion_cut_short_is_finished(state: Path, owner: tuple[X25519Identity, Path]) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store)
        folder = store.segment_path(store.segments(clip_id)[0]).parent
        _sql(store, f"UPDATE clips SET status = 'deleted' WHERE id = '{clip_id}'")

    with _open(state, owner) as store:
        assert not folder.exists()
        assert not (state / "clips" / clip_id[:4]).exists()  # empty date folders pruned too
        assert any(
            "removed 2 file(s) of an interrupted deletion" in a for a in store.repair_actions
        )


def test_unexpected_files_are_left_alone_and_reported(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    with _open(state, owner) as store:
        clip_id = _finished_clip(store, segments=1)
        folder = store.segment_path(store.segments(clip_id)[0]).parent
    (folder / "notes.txt").write_text("hi")
    stray = state / "clips" / "2026" / "01" / "01" / "not-a-clip"
    stray.mkdir(parents=True)

    with _open(state, owner) as store:
        assert (folder / "notes.txt").exists() and stray.exists()
        assert sorted(store.repair_actions) == [
            "ignored unexpected file " + str((folder / "notes.txt").relative_to(state)),
            "ignored unexpected folder clips/2026/01/01/not-a-clip",
        ]


_RECORDER = """
import os, sys
from pathlib import Path
from edge.core.config.models import StorageConfig
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents

store = ClipStore.open(StorageConfig(path=Path(sys.argv[1])), [sys.argv[2]], events=StoreEvents())
print("ready", flush=True)
while True:
    clip_id = store.start_clip(events=[("events/started", {"id": "x"})])
    for _ in range(3):
        with store.open_segment(clip_id) as writer:
            for _ in range(8):
                writer.write(os.urandom(16_000))
            writer.duration_s = 2.0
    store.finish_clip(clip_id, events=[("clips/stored", {"id": clip_id})])
"""


def test_kill_at_random_points_loses_at_most_the_segment_in_progress(
    state: Path, owner: tuple[X25519Identity, Path]
) -> None:
    rng = random.Random(20261127)
    all_ids: list[str] = []
    partials = 0
    for _trial in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", _RECORDER, str(state), str(owner[0].recipient)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.5))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

        with _open(state, owner) as store:
            assert_index_matches_files(store)
            clips = store.clips()
            partial = [s for c in clips for s in store.segments(c.id) if s.state == "partial"]
            assert len(partial) <= partials + 1  # only the segment being written at the kill
            partials = len(partial)
            for clip in clips:
                for segment in store.segments(clip.id):
                    if segment.state in ("stored", "recovered"):
                        _age_decrypts(owner[1], store.segment_path(segment))
            all_ids = [c.id for c in clips]
        with _open(state, owner) as store:
            assert store.repair_actions == ()

    assert len(all_ids) == len(set(all_ids)) >= 4
