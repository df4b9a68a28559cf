"""Camera capture: every source yields `Frame`s with a monotonic time and survives unplugging.

Use `open_source(spec)`; the individual sources are for tests and special wiring.
"""

from edge.device.capture.camera_profile import (
    CameraProfile,
    CameraProfileError,
    load_camera_profile,
)
from edge.device.capture.reopen import CaptureStats, ReopeningSource, SourceGap, SourceUnavailable
from edge.device.capture.source import FrameSource, SourceLost
from edge.device.capture.spec import SourceSpec, open_source, parse_source_spec

__all__ = [
    "CameraProfile",
    "CameraProfileError",
    "CaptureStats",
    "FrameSource",
    "ReopeningSource",
    "SourceGap",
    "SourceLost",
    "SourceSpec",
    "SourceUnavailable",
    "load_camera_profile",
    "open_source",
    "parse_source_spec",
]
