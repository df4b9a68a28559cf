"""The mirror end to end on a real broker: a replay's segments reach the home server,
verified and in the device's layout, and export from there with the owner key."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from daemon_support import make_device, write_scene_video
from mirror_support import ReceiverThread, mirror_section
from mosquitto import Mosquitto

from edge.cli import main
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import scene_frames


def test_replay_mirrors_every_segment_and_the_ledger(
    mosquitto: Mosquitto, tmp_path: Path, capsys
) -> None:
    device = make_device(tmp_path, mirror_section(mosquitto))
    video = write_scene_video(tmp_path / "porch.mp4")
    mirror = tmp_path / "mirror"
    receiver = ReceiverThread(mosquitto, mirror)
    try:
        # The contract: `doorbell replay` waits for the broker and reports it.
        assert main(["replay", str(video), "--config", str(device.config_path)]) == 0
        assert receiver.wait_for_device(device.state, mirror / "test")
    finally:
        receiver.stop()
    summary = json.loads(capsys.readouterr().out)
    clips = read_clips(device.state)
    assert clips and [c["id"] for c in summary["clips"]] == [c.id for c in clips]
    total = sum(len(read_segments(device.state, clip.id)) for clip in clips)
    assert summary["mirrored_segments"] == total
    home = mirror / "test"
    assert (home / "device.pub").read_text().strip() == (
        device.state / "device.pub"
    ).read_text().strip()
    mirrored = {clip.id: clip for clip in read_clips(home)}
    assert set(mirrored) == {clip.id for clip in clips}
    for clip in clips:
        assert mirrored[clip.id].status == clip.status
        assert mirrored[clip.id].manifest_sha256 == clip.manifest_sha256
        for segment in read_segments(device.state, clip.id):
            there = segment_file(home, segment)
            assert there.read_bytes() == segment_file(device.state, segment).read_bytes()
            assert hashlib.sha256(there.read_bytes()).hexdigest() == segment.sha256
    assert (home / "ledger.jsonl").read_bytes() == (device.state / "ledger.jsonl").read_bytes()
    assert receiver.receiver.rejected == 0

    out = tmp_path / "clip.mp4"
    code = main(
        [
            "export",
            clips[0].id,
            "--mirror",
            str(mirror),
            "--identity",
            str(device.owner_key_path),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    assert main(["clips", "--mirror", str(mirror), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [c.id for c in clips]


def test_broker_outage_during_recording_loses_nothing_and_stores_nothing_twice(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    device = make_device(tmp_path, mirror_section(mosquitto))
    mirror = tmp_path / "mirror"
    receiver = ReceiverThread(mosquitto, mirror)

    def frames():
        for frame in scene_frames(14.0):
            if frame.index == 70:
                mosquitto.stop()
            if frame.index == 160:
                time.sleep(1.0)  # recording went on without a broker for a while
                mosquitto.start()
            yield frame

    try:
        summary = Daemon(device.config, frames=frames()).run()
        assert receiver.wait_for_device(device.state, mirror / "test")
    finally:
        receiver.stop()
    device_segments = {
        (clip.id, s.n): segment_file(device.state, s).read_bytes()
        for clip in read_clips(device.state)
        for s in read_segments(device.state, clip.id)
    }
    home = mirror / "test"
    mirrored = {
        (clip.id, s.n): segment_file(home, s).read_bytes()
        for clip in read_clips(home)
        for s in read_segments(home, clip.id)
    }
    assert len(device_segments) >= 3
    assert mirrored == device_segments
    assert summary.mirrored_segments == len(device_segments)
    assert not list(mirror.rglob("*.conflict-*"))
    assert (home / "ledger.jsonl").read_bytes() == (device.state / "ledger.jsonl").read_bytes()
