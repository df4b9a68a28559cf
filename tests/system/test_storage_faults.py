"""Storage faults under the whole daemon: a disk that fills up mid-clip, a disk full of
other data, a state directory that vanishes, and one that is read-only.

The disk is a real 4 MiB tmpfs (`small_fs`, needs root; skipped where mounting is not
allowed). Visitors are the demo scene at half size, so the clips are big enough to fill
it quickly and the replays stay fast.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from daemon_support import make_device
from mosquitto import Mosquitto, Received, Subscriber

from edge.cli import main
from edge.core.config import Config, parse_config
from edge.core.config.models import StorageConfig
from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.store.index import ClipRecord
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.core.vault import X25519Identity, decrypt_bytes
from edge.device.consent.device_audit import DeviceAudit
from edge.device.daemon.clip_writer import ClipWriter
from edge.device.daemon.daemon import Daemon
from edge.device.daemon.ledger_writer import DaemonLedger
from edge.device.demo_scene import scene_frames
from edge.device.encoder import H264SegmentEncoder
from edge.device.frame import Frame
from edge.device.recorder import ClipStart, SegmentStart, Write
from edge.device.store.clip_store import ClipStore
from edge.device.store.device_key import DeviceKey
from edge.device.store.events import StoreEvents
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import audit_state_dir

FPS = 15
# The scene: the visitor comes into the motion zone at 4 s and is at the door by 8 s.
ARRIVAL = slice(45, 165)
SHORT_ARRIVAL = slice(75, 165)
# Small enough to fit where the first clip was, whatever a few per cent of encoder
# bytes do to where the disk filled.
LAST_ARRIVAL = slice(120, 165)


@pytest.fixture(scope="module")
def scene() -> list[np.ndarray]:
    return [
        cv2.resize(frame.image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        for frame in scene_frames(11.0)
    ]


def visits(scene: list[np.ndarray], arrivals: list[slice]) -> Iterator[Frame]:
    """One visitor per slice, each followed by an empty porch until the clip has ended."""
    empty = scene[ARRIVAL.start]
    images = [image for a in arrivals for image in [empty] * 15 + scene[a] + [empty] * 120]
    for index, image in enumerate(images):
        yield Frame(index, index / FPS, image)


def device_on(root: Path, state: Path, extra: str = "") -> tuple[Config, Path, OwnerKey]:
    """A device whose state directory is `state`; clips are big (crf 15) and the motion
    background quick to forget a visitor who left, so visits make separate clips."""
    device = make_device(root)
    text = (
        device.config_path.read_text()
        .replace(f'path = "{device.state}"', f'path = "{state}"\nmin_free_bytes = 0')
        .replace("[motion]\n", "[motion]\nbackground_seconds = 0.2\n")
        + "[recording]\ncrf = 15\n"
        + extra
    )
    device.config_path.write_text(text)
    return parse_config(text), device.config_path, device.owner


def assert_index_and_files_agree(config: Config) -> None:
    with ClipStore.open(config.storage, config.owner.recipients, events=StoreEvents()) as store:
        assert store.repair_actions == ()
    assert not list(Path(config.storage.path).rglob("*.partial"))


def assert_ledger_verifies(config: Config) -> None:
    result = audit_state_dir(Path(config.storage.path), config.owner.signing_keys)
    assert result.ok, (result.chain.problem, result.index_findings, result.chain.torn_tail_bytes)


def decrypts_to_video(config: Config, owner: OwnerKey, clip_id: str) -> int:
    """Frames in the clip's finished segments, each decrypted with the owner key."""
    state = Path(config.storage.path)
    frames = 0
    for segment in read_segments(state, clip_id):
        plain = decrypt_bytes([owner.identity], segment_file(state, segment).read_bytes())
        with av.open(io.BytesIO(plain), format="mp4") as container:
            frames += sum(1 for p in container.demux(video=0) if p.size)
    return frames


def test_disk_filling_mid_clip_closes_it_frees_the_oldest_clip_and_recording_resumes(
    tmp_path: Path, small_fs: Path, scene: list[np.ndarray]
) -> None:
    config, _path, owner = device_on(tmp_path, small_fs / "state")
    frames = visits(scene, [ARRIVAL, SHORT_ARRIVAL, LAST_ARRIVAL])

    summary = Daemon(config, frames=frames).run()

    assert not summary.storage_full
    first, cut, resumed = (clip.record for clip in summary.clips)
    assert [first.status, cut.status, resumed.status] == ["complete", "truncated", "complete"]
    clips = {clip.id: clip for clip in read_clips(small_fs / "state", include_deleted=True)}
    assert (clips[first.id].status, clips[first.id].delete_reason) == ("deleted", "free_space")
    # The segments written before the disk filled are kept, whole and decryptable.
    assert cut.segments >= 1 and decrypts_to_video(config, owner, cut.id) >= cut.segments * 30
    assert decrypts_to_video(config, owner, resumed.id) > 0
    assert_index_and_files_agree(config)
    assert_ledger_verifies(config)
    deleted = [e.body for e in Ledger.in_state_dir(small_fs / "state").entries()]
    assert {"clip": first.id, "reason": "free_space"} in deleted


def write_video(path: Path, images: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for image in images:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_disk_full_of_other_data_stops_recording_says_why_and_keeps_serving_mqtt(
    tmp_path: Path,
    small_fs: Path,
    scene: list[np.ndarray],
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = small_fs / "state"
    mqtt = (
        f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
        "health_interval_s = 5\n"
    )
    config, _path, _owner = device_on(tmp_path, state, mqtt)
    with ClipStore.open(config.storage, config.owner.recipients, events=StoreEvents()):
        pass
    # Someone else's file leaves room for the index and the ledger, not for a segment.
    (small_fs / "other-data").write_bytes(bytes(shutil.disk_usage(small_fs).free - 150_000))
    watcher = Subscriber(mosquitto, ["doorbell/test/#"])

    def health_says_why(messages: list[Received]) -> bool:
        health = [m for m in messages if m.topic == "doorbell/test/health"]
        return bool(health) and bool(json.loads(health[-1].payload)["recording_stopped"])

    def frames() -> Iterator[Frame]:
        empty = scene[ARRIVAL.start]
        images = [empty] * 15 + scene[ARRIVAL]
        for index, image in enumerate(images):
            yield Frame(index, index / FPS, image)
        # Recording has stopped by now; the device keeps serving MQTT and says why.
        assert watcher.wait_for(health_says_why, 15)
        for index in range(len(images), len(images) + 120):
            yield Frame(index, index / FPS, empty)

    try:
        summary = Daemon(config, frames=frames()).run()

        assert summary.storage_full
        assert "nothing left to delete: recording stops" in caplog.text
        # The clip the full disk cut short is kept (not deleted to make room) and reported.
        assert [c.record.status for c in summary.clips] == ["truncated"]
        clip_id = summary.clips[0].record.id
        assert [c.id for c in read_clips(state)] == [clip_id]
        assert watcher.wait_for(lambda m: any(x.topic.endswith("/clips/stored") for x in m), 10)
        assert json.loads(watcher.on("doorbell/test/clips/stored")[-1].payload)["id"] == clip_id
        why = json.loads(watcher.on("doorbell/test/health")[-1].payload)["recording_stopped"]
        assert "disk full" in why
        # Motion kept being reported after recording stopped; offline at the end.
        assert watcher.wait_for(
            lambda m: (
                [x.payload for x in m if x.topic.endswith("/availability")][-1:] == [b"offline"]
            ),
            10,
        )
        assert [m.payload for m in watcher.on("doorbell/test/motion")][-2:] == [b"ON", b"OFF"]
    finally:
        watcher.close()
    assert_index_and_files_agree(config)
    assert_ledger_verifies(config)


def test_state_directory_vanishing_mid_clip_is_logged_not_fatal_and_repaired_at_restart(
    tmp_path: Path, scene: list[np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    config, _path, owner = device_on(tmp_path, state)

    def frames() -> Iterator[Frame]:
        for frame in visits(scene, [ARRIVAL, SHORT_ARRIVAL]):
            if frame.index == 80:  # the first visitor is being recorded
                shutil.rmtree(state)
            yield frame

    summary = Daemon(config, frames=frames()).run()

    first, second = (clip.record for clip in summary.clips)
    assert first.status == "truncated"
    assert "No such file or directory" in caplog.text
    # The second visit went to a new state directory; a restart finds it and adds it back.
    with ClipStore.open(config.storage, config.owner.recipients, events=StoreEvents()) as store:
        assert any(f"clip {second.id}: folder without index row" in a for a in store.repair_actions)
        assert [c.id for c in store.clips()] == [second.id]
    assert decrypts_to_video(config, owner, second.id) > 0
    assert_index_and_files_agree(config)


def test_read_only_state_directory_is_one_clear_error_line(
    tmp_path: Path, small_fs: Path, scene: list[np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    config, config_path, _owner = device_on(tmp_path, small_fs / "state")
    with ClipStore.open(config.storage, config.owner.recipients, events=StoreEvents()):
        pass
    video = write_video(tmp_path / "porch.mp4", [scene[45]] * 8)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    try:
        assert main(["replay", str(video), "--config", str(config_path)]) == 1
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_fs)], check=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "read-only" in err and "Traceback" not in err


def fill(filesystem: Path) -> None:
    """Take every free byte of `filesystem`."""
    with (filesystem / "filler").open("wb", buffering=0) as filler, contextlib.suppress(OSError):
        while True:
            filler.write(bytes(4096))


def test_ledger_append_that_runs_out_of_space_leaves_no_half_line(small_fs: Path) -> None:
    signer = DeviceKey(Ed25519PrivateKey.generate())
    ledger = Ledger(small_fs / "ledger.jsonl")
    body = entries.privacy_changed(True, "mqtt")
    # End the file near the end of a page, so the next line spills onto a page that a
    # full tmpfs cannot give: the write then stops part way.
    ledger.append(signer, entries.PRIVACY_CHANGED, body)
    while ledger.path.stat().st_size % 4096 <= 3000:
        ledger.append(signer, entries.PRIVACY_CHANGED, body)
    head, size = ledger.head(), ledger.path.stat().st_size
    fill(small_fs)

    with pytest.raises(OSError) as caught:
        ledger.append(signer, entries.PRIVACY_CHANGED, {**body, "source": "x" * 3000})

    assert caught.value.errno == errno.ENOSPC
    assert (ledger.head(), ledger.path.stat().st_size) == (head, size)
    assert ledger.path.read_bytes().endswith(b"\n")


@contextlib.contextmanager
def daemon_ledger_on(filesystem: Path) -> Iterator[tuple[ClipStore, DaemonLedger, Path]]:
    """A clip store in `filesystem`/state, the daemon's ledger writer over it (caught
    up), and the state directory."""
    owner = X25519Identity.generate()
    storage = StorageConfig(path=filesystem / "state", min_free_bytes=0)
    with ClipStore.open(storage, [str(owner.recipient)], events=StoreEvents()) as store:
        ledger = DaemonLedger(DeviceAudit.for_store(store), store)
        ledger.catch_up()
        yield store, ledger, storage.path


def finished_clip(store: ClipStore) -> ClipRecord:
    """A closed clip of one small segment."""
    clip_id = store.start_clip()
    with store.open_segment(clip_id) as writer:
        writer.write(os.urandom(1000))
    return store.finish_clip(clip_id)


def test_daemon_ledger_catches_up_after_appends_failed_on_a_full_disk(small_fs: Path) -> None:
    with daemon_ledger_on(small_fs) as (store, ledger, state):
        records = [finished_clip(store), finished_clip(store)]
        kept, dropped = (record.id for record in records)
        fill(small_fs)

        ledger.clip_stored(records[0])  # the disk is full: logged, not raised
        assert ledger.behind
        (small_fs / "filler").unlink()
        ledger.clip_deleted(store.delete_clip(dropped, "owner"))
        ledger.clip_stored(records[0])  # the catch-up already recorded it: not again

        assert not ledger.behind
    recorded = [(e.type, e.body["clip"]) for e in Ledger.in_state_dir(state).entries()]
    assert sorted(recorded) == sorted(
        [(entries.CLIP_STORED, kept), (entries.CLIP_DELETED, dropped)]
    )
    assert audit_state_dir(state, ()).ok


@pytest.mark.parametrize("pages_left", [1, 2, 3])
def test_a_checkpoint_the_full_index_cannot_queue_is_logged_not_fatal(
    small_fs: Path, pages_left: int
) -> None:
    # The disk fills between the ledger line (room left in its last page) and the
    # checkpoint's row in the SQLite outbox: that once stopped the daemon.
    with daemon_ledger_on(small_fs) as (store, ledger, state):
        record = finished_clip(store)
        clip_id = record.id
        fill(small_fs)
        with (small_fs / "filler").open("r+b") as filler:  # give a few pages back
            filler.truncate(filler.seek(0, os.SEEK_END) - pages_left * 4096)

        ledger.clip_stored(record)  # whatever fails on the full disk is logged, not raised

        (small_fs / "filler").unlink()
        ledger.clip_deleted(store.delete_clip(clip_id, "owner"))  # the next append works
        assert not ledger.behind
    recorded = [(e.type, e.body["clip"]) for e in Ledger.in_state_dir(state).entries()]
    assert recorded == [(entries.CLIP_STORED, clip_id), (entries.CLIP_DELETED, clip_id)]
    assert audit_state_dir(state, ()).ok


def test_next_segment_file_is_created_only_after_the_previous_one_is_finished(
    tmp_path: Path, scene: list[np.ndarray]
) -> None:
    # A cut between the two must not leave a finished segment named `.partial`.
    owner = X25519Identity.generate()
    storage = StorageConfig(path=tmp_path / "state")
    with ClipStore.open(storage, [str(owner.recipient)], events=StoreEvents()) as store:
        writer = ClipWriter(store, H264SegmentEncoder(), time_of)
        writer.apply(ClipStart(0.0, 0.0))
        writer.apply(SegmentStart(0, 0.0))
        for index in range(30):
            writer.apply(Write(Frame(index, index / FPS, scene[index])))
        writer.apply(SegmentStart(1, 30 / FPS))

        files = sorted(p.name for p in (tmp_path / "state" / "clips").rglob("*.mp4.age*"))
        assert files == ["0.mp4.age"]
        writer.apply(Write(Frame(30, 30 / FPS, scene[30])))
        files = sorted(p.name for p in (tmp_path / "state" / "clips").rglob("*.mp4.age*"))
        assert files == ["0.mp4.age", "1.mp4.age.partial"]
        writer.close()


def time_of(t: float) -> float:
    return 1_800_000_000.0 + t
