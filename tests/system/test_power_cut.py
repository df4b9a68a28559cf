"""Power cuts: a killed recorder loses at most the segment in progress, and salvage recovers
the authenticated chunks of that segment, so what reached the disk loses at most one chunk."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from daemon_support import Device, make_device

from edge.cli import main
from edge.core.store.reading import read_segments, segment_file
from edge.core.vault.stream import CHUNK_SIZE, SEALED_CHUNK_SIZE
from edge.device.demo_scene import scene_frames
from edge.device.encoder import H264SegmentEncoder, MemoryOutput
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.export import complete_fragments, salvage_segment

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

FRAMES = 30

# A child that records one finished segment and then a second one, and is killed
# (SIGKILL, like a power cut to the process) after `cut` bytes of the second.
_RECORDER = """
import os, signal, sys
from pathlib import Path
from edge.core.config import load_config
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
config = load_config(sys.argv[1])
cut = int(sys.argv[2])
first_data, second_data = Path(sys.argv[3]).read_bytes(), Path(sys.argv[4]).read_bytes()
store = ClipStore.open(config.storage, config.owner.recipients, events=StoreEvents())
clip_id = store.start_clip()
with store.open_segment(clip_id) as first:
    first.write(first_data)
    first.duration_s = 2.0
second = store.open_segment(clip_id)
second.write(second_data[:cut])
os.kill(os.getpid(), signal.SIGKILL)
"""


def fragmented_mp4(first_frame: int = 0, gop: int = 3) -> bytes:
    """A segment as the encoder writes them (fragmented MP4 whose times count from the
    clip start), but with a fragment every `gop` frames; noisy, so a fragment is large."""
    rng = np.random.default_rng(3 + first_frame)
    buffer = io.BytesIO()
    options = {
        "movflags": "frag_keyframe+empty_moov+default_base_moof+frag_discont",
        "avoid_negative_ts": "disabled",
        "use_editlist": "0",
    }
    with av.open(buffer, "w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=Fraction(15))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "24", "g": str(gop), "bf": "0"}
        for index in range(first_frame, first_frame + FRAMES):
            image = rng.integers(60, 200, (240, 320, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def frame_count(mp4: bytes) -> int:
    with av.open(io.BytesIO(mp4), format="mp4") as container:
        return sum(1 for _ in container.decode(video=0))


def record_and_kill(device: Device, second: bytes, cut: int) -> None:
    """Record a whole first segment, then `cut` bytes of `second`, then SIGKILL."""
    paths = [device.state.parent / "first.mp4.bin", device.state.parent / "second.mp4.bin"]
    paths[0].write_bytes(fragmented_mp4(0))
    paths[1].write_bytes(second)
    child = subprocess.run(
        [sys.executable, "-c", _RECORDER, str(device.config_path), str(cut), *map(str, paths)],
        capture_output=True,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()


def export(device: Device, clip_id: str, out: Path, *extra: str) -> int:
    return main(
        [
            "export",
            clip_id,
            "-i",
            str(device.owner_key_path),
            "--out",
            str(out),
            "--config",
            str(device.config_path),
            *extra,
        ]
    )


def restart(device: Device) -> tuple[str, ...]:
    with ClipStore.open(
        device.config.storage, device.config.owner.recipients, events=StoreEvents()
    ) as store:
        return store.repair_actions


@pytest.fixture(scope="module")
def segment_video() -> bytes:
    video = fragmented_mp4(FRAMES)
    assert len(video) > 6 * CHUNK_SIZE
    return video


def test_salvage_after_a_kill_loses_at_most_the_chunk_that_was_still_in_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], segment_video: bytes
) -> None:
    device = make_device(tmp_path)
    cut = 5 * CHUNK_SIZE + 1234
    record_and_kill(device, segment_video, cut)

    actions = restart(device)
    assert any("segment 1 is incomplete" in action for action in actions), actions
    (clip_id,) = {p.parent.name for p in device.state.rglob("*.partial")}
    partial = next(s for s in read_segments(device.state, clip_id) if s.state == "partial")
    identity = [device.owner.identity]
    salvaged = salvage_segment(segment_file(device.state, partial).read_bytes(), identity)
    assert not salvaged.complete
    assert salvaged.plaintext == segment_video[: len(salvaged.plaintext)]
    assert cut - len(salvaged.plaintext) <= CHUNK_SIZE

    out = tmp_path / "salvaged.mp4"
    assert export(device, clip_id, out, "--salvage") == 0
    message = capsys.readouterr().out
    assert "2/2 segments" in message and "truncated: segment 1" in message
    whole, fragments = complete_fragments(salvaged.plaintext)
    assert fragments >= 1
    with av.open(str(out)) as container:
        exported = sum(1 for _ in container.decode(video=0))
    assert exported == FRAMES + frame_count(whole)


def test_without_salvage_the_incomplete_segment_is_reported_and_the_rest_exported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], segment_video: bytes
) -> None:
    device = make_device(tmp_path)
    record_and_kill(device, segment_video, 3 * CHUNK_SIZE)
    restart(device)
    (clip_id,) = {p.parent.name for p in device.state.rglob("*.partial")}

    assert export(device, clip_id, tmp_path / "out.mp4") == 2
    captured = capsys.readouterr()
    assert "segment 1: incomplete" in captured.err and "--salvage" in captured.err
    assert "1/2 segments" in captured.out


def test_a_torn_last_chunk_is_never_decrypted_and_the_chunks_before_it_are(
    tmp_path: Path, segment_video: bytes
) -> None:
    device = make_device(tmp_path)
    record_and_kill(device, segment_video, 6 * CHUNK_SIZE + 10)
    (path,) = device.state.rglob("*.partial")
    # A power cut can leave the last chunk half on disk: cut it mid-chunk.
    size = path.stat().st_size
    os.truncate(path, size - SEALED_CHUNK_SIZE // 2)

    salvaged = salvage_segment(path.read_bytes(), [device.owner.identity])

    assert salvaged.chunks == 5
    assert salvaged.plaintext == segment_video[: 5 * CHUNK_SIZE]
    assert "failed authentication" in (salvaged.stopped_by or "")


def test_encoder_hands_out_each_frame_at_once_so_a_cut_segment_keeps_its_frames() -> None:
    # Were the segment held in the muxer until it ends, salvage would find nothing.
    frames = list(scene_frames(1.0))
    encoder = H264SegmentEncoder()
    output = MemoryOutput()
    encoder.start_clip(frames[0].t)
    encoder.start_segment(output)
    for frame in frames[:10]:
        encoder.encode(frame.image, frame.t)
    assert complete_fragments(output.getvalue())[1] >= 9
    encoder.end_clip()


def test_fragments_are_cut_at_the_last_whole_one(segment_video: bytes) -> None:
    whole, fragments = complete_fragments(segment_video)
    assert (whole, fragments) == (segment_video[: len(whole)], 10)
    assert frame_count(whole) == 30
    half, some = complete_fragments(segment_video[: len(segment_video) // 2])
    assert 0 < some < 10
    assert frame_count(half) == 3 * some
    assert complete_fragments(segment_video[:100])[1] == 0


def test_kill_loop_over_real_replays_keeps_every_finished_segment(tmp_path: Path) -> None:
    """The short run of scripts/power_cut.py (the 50-trial run is in docs/RELIABILITY.md)."""
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPTS / "power_cut.py"),
            "--trials",
            "3",
            "--seed",
            "11",
            "--seconds",
            "9",
            "--dir",
            str(tmp_path / "cuts"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["violations"] == []
    assert report["trials"] == 3
    assert report["finished_segments_checked"] > 0
