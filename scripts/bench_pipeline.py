"""Benchmark the whole pipeline: replay a 1280x720 15 fps clip through `doorbell replay`.

Decode, motion, redaction, libx264 encode, age encryption and disk, exactly as the
daemon runs them. Prints fps and peak RSS of the replay process (from getrusage of the
child). Uses a dev clip from ../shared/testdata when present, else a generated scene.

    python scripts/bench_pipeline.py [--video FILE] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_CLIP = ROOT.parent / "shared" / "testdata" / "clips" / "visitor_approach.mp4"
sys.path.insert(0, str(ROOT / "tests"))


def replay_once(video: Path, config: Path) -> tuple[dict, float]:
    """Run one replay in a child process; returns its summary and the child's peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, "-m", "edge", "replay", str(video), "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all children so far; report it only when it grew.
    return json.loads(out), max(peak_kb, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="1280x720 clip to replay")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from daemon_support import make_device, write_scene_video

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = args.video or (DEV_CLIP if DEV_CLIP.is_file() else None)
        if video is None:
            video = write_scene_video(root / "scene.mp4", seconds=22.0)
        print(f"video: {video}  cpus: {os.cpu_count()}")
        for run in range(args.repeat):
            (root / f"run{run}").mkdir()
            device = make_device(root / f"run{run}")
            summary, peak_mb = replay_once(video, device.config_path)
            clips = len(summary["clips"])
            print(
                f"run {run + 1}: {summary['frames_processed']} frames, "
                f"{summary['fps']:.1f} fps, peak RSS {peak_mb:.0f} MB, {clips} clip(s), "
                f"{summary['frames_dropped']} dropped"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
