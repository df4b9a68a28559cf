"""The one place the recording stages are built from a config: motion, redaction, recorder
and encoder, with the settings that make them agree (for example, motion already holds
`active` for the post-roll, so the recorder adds none).

The daemon records with these stages, and every evaluation and benchmark script builds
them here too, so what is measured is what ships.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge.core.config.models import Config
from edge.device.encoder import EncoderSettings, H264SegmentEncoder
from edge.device.motion import MotionDetector
from edge.device.recorder import Recorder, RecorderSettings
from edge.device.redact import Redactor


@dataclass
class Stages:
    """The per-frame stages of one recording, freshly built and not yet started."""

    redactor: Redactor
    recorder: Recorder
    encoder: H264SegmentEncoder
    motion_for: Callable[[tuple[int, int]], MotionDetector]
    """Motion needs the frame size, which only the first frame tells."""


def build_stages(config: Config) -> Stages:
    """The stages `config` describes."""
    rec = config.recording

    def motion_for(size: tuple[int, int]) -> MotionDetector:
        return MotionDetector(config.motion, size, post_seconds=rec.post_seconds)

    recorder = Recorder(
        RecorderSettings(
            pre_seconds=rec.pre_seconds,
            # Motion's `active` already holds for post_seconds after the last motion.
            post_seconds=0.0,
            min_seconds=rec.min_seconds,
            max_seconds=rec.max_seconds,
            segment_seconds=rec.segment_seconds,
            preroll_max_frames=int(rec.pre_seconds * config.camera.fps) + 2,
        )
    )
    encoder = H264SegmentEncoder(
        # One encoder thread: as fast as more on 2-4 cores (measured), and less memory.
        EncoderSettings(fps=config.camera.fps, crf=rec.crf, threads=1)
    )
    redactor = Redactor.from_config(config.privacy, config.faces)
    return Stages(redactor=redactor, recorder=recorder, encoder=encoder, motion_for=motion_for)
