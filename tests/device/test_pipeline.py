"""The pipeline's threads: a failure in one stops all of them, and a clip in progress is
closed; a frame size change ends the clip instead of breaking the encoder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from daemon_support import make_device

from edge.device.daemon.clip_writer import ClipWriter
from edge.device.daemon.pipeline import Pipeline
from edge.device.encoder import EncoderSettings, H264SegmentEncoder
from edge.device.events.clip_events import store_events
from edge.device.frame import Frame
from edge.device.motion import MotionDetector
from edge.device.recorder import Recorder, RecorderSettings
from edge.device.redact import Redactor
from edge.device.store.clip_store import ClipStore


def run_with_timeout(pipeline: Pipeline, seconds: float = 60.0) -> None:
    runner = threading.Thread(target=pipeline.run, daemon=True)
    runner.start()
    runner.join(seconds)
    assert not runner.is_alive(), "the pipeline hung"


def build(tmp_path: Path, frames, motion_for=None) -> tuple[Pipeline, ClipStore, ClipWriter]:
    device = make_device(tmp_path, "[faces]\nenabled = false\nstore_faces_unobscured = true\n")
    config = device.config
    store = ClipStore.open(config.storage, config.owner.recipients, events=store_events())
    writer = ClipWriter(store, H264SegmentEncoder(EncoderSettings(threads=1)), lambda t: t)
    recorder = Recorder(RecorderSettings(pre_seconds=0.5, post_seconds=0, min_seconds=0.5))
    pipeline = Pipeline(
        frames,
        motion_for or (lambda size: MotionDetector(config.motion, size, post_seconds=0.5)),
        Redactor(config.privacy, config.faces, None),
        recorder,
        writer,
        drop_when_behind=False,
    )
    return pipeline, store, writer


def moving_square(n: int, size: tuple[int, int] = (640, 360), start: int = 0):
    width, height = size
    for i in range(n):
        image = np.full((height, width, 3), 90, np.uint8)
        if i >= 20:
            x = (i * 7) % (width - 80)
            image[height // 2 : height // 2 + 80, x : x + 80] = 230
        yield Frame(start + i, (start + i) / 15, image)


def test_a_failing_stage_stops_every_thread_and_reports_it(tmp_path: Path) -> None:
    def broken(size: tuple[int, int]) -> MotionDetector:
        raise RuntimeError("motion detector broke")

    pipeline, store, _ = build(tmp_path, moving_square(60), broken)
    run_with_timeout(pipeline)
    assert isinstance(pipeline.failure, RuntimeError)
    store.close()


def test_a_frame_size_change_closes_the_clip_and_recording_goes_on(tmp_path: Path) -> None:
    frames = [*moving_square(60), *moving_square(60, (320, 180), start=60)]
    pipeline, store, writer = build(tmp_path, iter(frames))
    run_with_timeout(pipeline)
    assert pipeline.failure is None
    assert pipeline.first_t == 0.0
    statuses = [clip.record.status for clip in writer.status.clips]
    assert len(statuses) == 2 and set(statuses) == {"complete"}
    store.close()
