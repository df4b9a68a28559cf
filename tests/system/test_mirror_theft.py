"""Theft, short: a recorder SIGKILLed mid-recording with its state wiped leaves every
segment it finished (a moment before the kill) on the mirror, exportable.
`scripts/mirror_theft.py --trials N` runs the same trial many times."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from daemon_support import write_scene_video
from mosquitto import Mosquitto

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))

from mirror_theft import run_trial  # noqa: E402


def test_a_stolen_doorbell_leaves_its_finished_segments_on_the_mirror(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    video = write_scene_video(tmp_path / "porch.mp4")
    # A 2 s grace (the script's default is 1 s): a loaded test machine must not flake.
    trial = run_trial(1, tmp_path, video, mosquitto, random.Random(3), grace=2.0)
    assert trial.problems == []
    assert trial.finished >= 1
    assert trial.mirrored + trial.missing_in_grace == trial.finished
    assert trial.clips_exported >= 1
