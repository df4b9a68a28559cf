#!/usr/bin/env python3
"""Time motion + face detection + redaction per 1280x720 frame on one core, over the dev clips.

Each clip is decoded first (decoding is not timed), then every frame goes through the
daemon's motion detector and redaction stage with OpenCV on one thread. It prints the
mean, 95th percentile and maximum per clip, both as wall-clock time and as the CPU time
of the processing thread; the second is what the work costs when other processes share
the core (wall time on a busy machine includes waiting for it).

    python3 scripts/bench_redaction.py [--clips DIR] [--only a,b]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's code, not an installed copy

from edge.core.config.models import Config  # noqa: E402
from edge.device.capture.file import FileSource  # noqa: E402
from edge.device.frame import Frame  # noqa: E402
from edge.device.stages import build_stages  # noqa: E402

SHARED = ROOT.parent / "shared"


def polygons_0to1(truth: dict, key: str) -> list[list[tuple[float, float]]]:
    w, h = truth["width"], truth["height"]
    return [[(x / w, y / h) for x, y in poly] for poly in truth["config"][key]]


def decode(clip: Path) -> list[Frame]:
    """The clip's frames as the replay decodes them (luma for motion included)."""
    source = FileSource(clip)
    try:
        return list(source)
    finally:
        source.close()


def bench_clip(truth_path: Path) -> dict:
    """Per-frame wall and thread-CPU milliseconds for motion and for redaction."""
    truth = json.loads(truth_path.read_text())
    frames = decode(truth_path.with_suffix(".mp4"))
    size = (frames[0].image.shape[1], frames[0].image.shape[0])
    config = Config.model_validate(
        {
            "privacy": {"public_areas": polygons_0to1(truth, "public_areas")},
            "motion": {"zones": polygons_0to1(truth, "motion_zones")},
        }
    )
    stages = build_stages(config)
    motion, redactor = stages.motion_for(size), stages.redactor
    wall, cpu, motion_cpu = [], [], []
    for frame in frames:
        w0, c0 = time.perf_counter(), time.thread_time()
        moved = motion.update(frame)
        c1 = time.thread_time()
        redactor.process(frame, moved)
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
        motion_cpu.append(c1 - c0)
    return {
        "frames": len(frames),
        "wall_ms": 1000 * np.array(wall),
        "cpu_ms": 1000 * np.array(cpu),
        "motion_cpu_ms": 1000 * np.array(motion_cpu),
        "fail_closed": redactor.stats.fail_closed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=SHARED / "testdata" / "clips")
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    truths = sorted(args.clips.glob("*.json"))
    if args.only:
        truths = [t for t in truths if t.stem in set(args.only.split(","))]
    if not truths:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 2
    print(
        f"{'clip':18s} {'frames':>6s} {'cpu mean':>9s} {'p95':>6s} {'max':>6s} "
        f"{'motion':>7s} {'wall mean':>10s} {'p95':>6s} {'max':>6s}  (ms per frame)"
    )
    all_cpu, all_wall = [], []
    for truth_path in truths:
        r = bench_clip(truth_path)
        c, w = r["cpu_ms"], r["wall_ms"]
        all_cpu.append(c)
        all_wall.append(w)
        note = f"  fail-closed {r['fail_closed']}" if r["fail_closed"] else ""
        print(
            f"{truth_path.stem:18s} {r['frames']:6d} {c.mean():9.1f} {np.percentile(c, 95):6.1f} "
            f"{c.max():6.1f} {r['motion_cpu_ms'].mean():7.1f} {w.mean():10.1f} "
            f"{np.percentile(w, 95):6.1f} {w.max():6.1f}{note}",
            flush=True,
        )
    cpu, wall = np.concatenate(all_cpu), np.concatenate(all_wall)
    print(
        f"{'ALL':18s} {cpu.size:6d} {cpu.mean():9.1f} {np.percentile(cpu, 95):6.1f} "
        f"{cpu.max():6.1f} {'':7s} {wall.mean():10.1f} {np.percentile(wall, 95):6.1f} "
        f"{wall.max():6.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
