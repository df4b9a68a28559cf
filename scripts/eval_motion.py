#!/usr/bin/env python3
"""Score motion detection against the dev clips' ground truth and time it on one core.

For each clip, with the clip's suggested motion zones: frames active; latency from each
visitor interval's start to the rising edge of the active period covering it (negative:
already active); recall, the share of visitor frames that were active (the hold-off is
`--post-seconds`); "w/ pre", the same share for a recorder that also keeps
`--pre-seconds` of pre-roll; idle s, seconds active with nobody there (outside every
interval and its hold-off); frames re-learning a whole-frame change; when the detector
was ready; whether a must-not-record clip stayed silent; update() ms per frame. Usage:

    python3 scripts/eval_motion.py [--clips DIR] [--post-seconds 2.0] [--pre-seconds 2.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edge.core.config.models import Config
from edge.device.capture.file import FileSource
from edge.device.motion import MotionResult
from edge.device.stages import build_stages

DEFAULT_CLIPS = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "clips"


def zones_from_truth(truth: dict) -> list[list[tuple[float, float]]]:
    """The clip's suggested motion zones, from frame pixels to 0..1."""
    w, h = truth["width"], truth["height"]
    return [[(x / w, y / h) for x, y in poly] for poly in truth["config"]["motion_zones"]]


def run_clip(path: Path, config: Config) -> tuple[list[MotionResult], list[float]]:
    """Run the daemon's motion stage (as `edge.device.stages` builds it) over a clip; return
    per-frame results and per-frame seconds."""
    results: list[MotionResult] = []
    seconds: list[float] = []
    source = FileSource(path)  # the replay's own decoding, the luma motion reads included
    try:
        detector = None
        for frame in source:
            if detector is None:
                size = (frame.image.shape[1], frame.image.shape[0])
                detector = build_stages(config).motion_for(size)
            start = time.perf_counter()
            result = detector.update(frame)
            seconds.append(time.perf_counter() - start)
            results.append(replace(result, gray=None))  # 230 KB a frame nobody reads here
    finally:
        source.close()
    return results, seconds


def onset_latency(results: list[MotionResult], start: float, end: float) -> float | None:
    """Seconds from `start` to the rising edge of the active period covering the interval.

    Negative when the detector was already active before the interval began; None when
    no frame of the interval was active.
    """
    for i, r in enumerate(results):
        if start <= r.t < end and r.active:
            while i > 0 and results[i - 1].active:
                i -= 1
            return results[i].t - start
    return None


def with_preroll(active: np.ndarray, fps: float, pre_seconds: float) -> np.ndarray:
    """Frames a recorder keeping `pre_seconds` of pre-roll stores: active, and before it."""
    stored = active.copy()
    for i in np.flatnonzero(active[1:] & ~active[:-1]) + 1:
        stored[max(0, i - round(pre_seconds * fps)) : i] = True
    return stored


def score_clip(
    truth: dict, results: list[MotionResult], post_seconds: float, pre_seconds: float = 2.0
) -> dict:
    """Per-clip figures from ground truth and the detector's results."""
    fps = truth["fps"]
    intervals = [(iv["start"], iv["end"]) for iv in truth["visitor_intervals"]]
    active = np.array([r.active for r in results])
    stored = with_preroll(active, fps, pre_seconds)
    times = np.array([r.t for r in results])
    inside = np.zeros(len(results), bool)
    expected = np.zeros(len(results), bool)
    for start, end in intervals:
        inside |= (times >= start) & (times < end)
        expected |= (times >= start) & (times < end + post_seconds)
    visitor_frames = int(inside.sum())
    return {
        "frames": len(results),
        "active": int(active.sum()),
        "latencies": [onset_latency(results, s, e) for s, e in intervals],
        "recall": float(active[inside].mean()) if visitor_frames else None,
        "recorded": float(stored[inside].mean()) if visitor_frames else None,
        "idle_s": float((active & ~expected).sum() / fps),
        "global": int(sum(r.global_change for r in results)),
        "ready_s": next((r.t for r in results if r.ready), None),
        "silent": None if truth["should_record"] else not active.any(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help="dev clip folder")
    parser.add_argument(
        "--post-seconds", type=float, default=2.0, help="hold-off after the last motion"
    )
    parser.add_argument(
        "--pre-seconds", type=float, default=2.0, help="pre-roll for the 'w/ pre' column"
    )
    args = parser.parse_args()
    cv2.setNumThreads(1)
    truths = sorted(args.clips.glob("*.json"))
    if not truths:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 1
    header = (
        f"{'clip':16} {'frames':>6} {'active':>6} {'latency s':>12} {'recall':>7} "
        f"{'w/ pre':>7} {'idle s':>6} {'global':>6} {'ready s':>7} {'silent':>6} "
        f"{'ms/frame':>8} {'p99 ms':>6}"
    )
    print(header)
    print("-" * len(header))
    all_seconds: list[float] = []
    for truth_path in truths:
        truth = json.loads(truth_path.read_text())
        config = Config.model_validate(
            {
                "motion": {"zones": zones_from_truth(truth)},
                "recording": {"post_seconds": args.post_seconds},
            }
        )
        results, seconds = run_clip(truth_path.with_suffix(".mp4"), config)
        all_seconds += seconds
        s = score_clip(truth, results, args.post_seconds, args.pre_seconds)
        latency = ",".join("miss" if v is None else f"{v:+.2f}" for v in s["latencies"]) or "-"
        recall = "-" if s["recall"] is None else f"{s['recall']:.3f}"
        recorded = "-" if s["recorded"] is None else f"{s['recorded']:.3f}"
        silent = "-" if s["silent"] is None else ("yes" if s["silent"] else "NO")
        ready = "-" if s["ready_s"] is None else f"{s['ready_s']:.2f}"
        ms = np.array(seconds) * 1000
        print(
            f"{truth['scenario']:16} {s['frames']:>6} {s['active']:>6} {latency:>12} "
            f"{recall:>7} {recorded:>7} {s['idle_s']:>6.1f} {s['global']:>6} {ready:>7} "
            f"{silent:>6} {ms.mean():>8.3f} {np.percentile(ms, 99):>6.2f}"
        )
    ms = np.array(all_seconds) * 1000
    print(f"all clips: {ms.mean():.3f} ms/frame mean, {np.median(ms):.3f} median (one core)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
