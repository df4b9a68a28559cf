"""Motion detection on the real dev clips, with their suggested motion zones.

Skipped when ../shared/testdata is absent; scripts/eval_motion.py has the full table.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import av
import pytest

from edge.core.config.models import MotionConfig
from edge.device.frame import Frame
from edge.device.motion import MotionDetector, MotionResult

CLIPS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "clips"


@cache
def run_clip(name: str) -> tuple[dict, list[MotionResult]]:
    truth_path = CLIPS / f"{name}.json"
    if not truth_path.exists():
        pytest.skip(f"{truth_path} is not here")
    truth = json.loads(truth_path.read_text())
    w, h = truth["width"], truth["height"]
    zones = [[(x / w, y / h) for x, y in poly] for poly in truth["config"]["motion_zones"]]
    detector = MotionDetector(MotionConfig(zones=zones), (w, h), post_seconds=2.0)
    with av.open(str(CLIPS / truth["clip"])) as container:
        results = [
            detector.update(Frame(i, float(f.time), f.to_ndarray(format="bgr24")))
            for i, f in enumerate(container.decode(video=0))
        ]
    return truth, results


@pytest.mark.parametrize("name", ["lights", "passersby_only"])
def test_clip_that_must_not_record_never_activates(name: str) -> None:
    _, results = run_clip(name)
    assert not any(r.active for r in results)


def test_light_switches_and_infrared_are_relearnt_promptly() -> None:
    truth, results = run_clip("lights")
    flagged = {round(r.t, 2) for r in results if r.global_change}
    for event in truth["no_trigger_events"]:
        assert any(event["t"] <= t < event["t"] + 1.0 for t in flagged), event["type"]


def test_visitor_is_detected_soon_after_entering_the_zone() -> None:
    truth, results = run_clip("visitor_approach")
    (interval,) = truth["visitor_intervals"]
    start, end = interval["start"], interval["end"]
    first = next(r.t for r in results if r.active)
    # The default 2 s pre-roll still holds the interval's first frame.
    assert start - 0.5 <= first <= start + 1.5
    assert all(r.active for r in results if first <= r.t < end)
