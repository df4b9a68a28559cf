"""Benchmark the whole pipeline: replay a 1280x720 15 fps clip through `doorbell replay`.

Decode, motion, redaction, libx264 encode, age encryption and disk, exactly as the
daemon runs them. Prints fps and peak RSS of the replay process (from getrusage of the
child) and its CPU per frame. Uses a dev clip from ../shared/testdata when present,
else a generated scene.

    python scripts/bench_pipeline.py [--video FILE] [--repeat 3] [--pin CPU] [--deface EXE]

`--pin CPU` runs every child on that one processor (as `taskset -c CPU` would).
`--deface EXE` also runs the deface anonymiser (`EXE VIDEO -o OUT`, its defaults) on
the same clip after each replay, pinned alike, and prints its fps, the CPUs it kept busy
and the ratio of the two processes' CPU time per frame, round by round. The CPU ratio is
the fair one: ONNX Runtime pins deface's threads to every core itself, so `--pin` does
not keep deface on one core (a cpuset cgroup does; docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV_CLIP = ROOT.parent / "shared" / "testdata" / "clips" / "visitor_approach.mp4"
sys.path.insert(0, str(ROOT / "tests"))


def pinned(cpu: int | None) -> dict:
    """subprocess arguments that run the child on processor `cpu` (None: anywhere)."""
    return {} if cpu is None else {"preexec_fn": lambda: os.sched_setaffinity(0, {cpu})}


def children_cpu_s() -> float:
    """CPU seconds (user + system) of every child that has ended so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def replay_once(
    video: Path, config: Path, cpu: int | None = None
) -> tuple[dict, float, float, float]:
    """Run one replay in a child process; returns its summary, the child's peak RSS in MB,
    and its wall and CPU seconds as a whole process (start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    cpu_before = children_cpu_s()
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "edge", "replay", str(video), "--config", str(config)],
        capture_output=True,
        text=True,
        check=True,
        **pinned(cpu),
    ).stdout
    wall = time.monotonic() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all children so far; report it only when it grew.
    return json.loads(out), max(peak_kb, before) / 1024, wall, children_cpu_s() - cpu_before


def deface_once(exe: str, video: Path, out: Path, cpu: int | None) -> tuple[float, float]:
    """Run deface on the clip; returns its wall and CPU seconds (its ffmpeg included),
    start-up included. ONNX Runtime pins its own threads to every core, so `cpu` does
    not hold deface to one core: its CPU time is the fair comparison."""
    cpu_before = children_cpu_s()
    start = time.monotonic()
    subprocess.run(
        [exe, str(video), "-o", str(out)], capture_output=True, check=True, **pinned(cpu)
    )
    return time.monotonic() - start, children_cpu_s() - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="1280x720 clip to replay")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pin", type=int, metavar="CPU", help="run the children on this CPU")
    parser.add_argument("--deface", metavar="EXE", help="also time deface on the same clip")
    args = parser.parse_args()

    from daemon_support import make_device, write_scene_video

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = args.video or (DEV_CLIP if DEV_CLIP.is_file() else None)
        if video is None:
            video = write_scene_video(root / "scene.mp4", seconds=22.0)
        pin = "any CPU" if args.pin is None else f"CPU {args.pin} only"
        print(f"video: {video}  cpus: {os.cpu_count()}, children on {pin}")
        for run in range(args.repeat):
            (root / f"run{run}").mkdir()
            device = make_device(root / f"run{run}")
            summary, peak_mb, wall, cpu_s = replay_once(video, device.config_path, args.pin)
            clips = len(summary["clips"])
            print(
                f"run {run + 1}: {summary['frames_processed']} frames, "
                f"{summary['fps']:.1f} fps, {summary['cpu_ms_per_frame']:.1f} CPU ms/frame, "
                f"peak RSS {peak_mb:.0f} MB, {clips} clip(s), "
                f"{summary['frames_dropped']} dropped; whole process {wall:.1f} s"
            )
            if args.deface:
                frames = summary["frames_read"]
                their_wall, their_cpu = deface_once(
                    args.deface, video, root / f"run{run}" / "deface.mp4", args.pin
                )
                print(
                    f"       deface: {frames} frames in {their_wall:.1f} s, "
                    f"{frames / their_wall:.1f} fps on {their_cpu / their_wall:.1f} CPUs; "
                    f"CPU per frame as whole processes (start-up included): ours "
                    f"{1000 * cpu_s / frames:.1f} ms, deface {1000 * their_cpu / frames:.0f} ms, "
                    f"{their_cpu / cpu_s:.1f}x ours"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
