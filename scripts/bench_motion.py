#!/usr/bin/env python3
"""Time motion detection per 1280x720 frame on one core, and the downscale it starts with.

Prints, for each way of making the small grayscale copy, its cost and how much sensor
noise survives it; then the cost of `MotionDetector.update` from a BGR frame (USB/RTSP/
file sources) and from a ready-made lores frame (the Pi's second stream). Frames come
from a dev clip when one is there, else they are synthesised. Usage:

    python3 scripts/bench_motion.py [--clip PATH] [--frames N]

The machine is shared: run it twice and trust the lower figures more than the higher.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

from edge.core.config.models import MotionConfig
from edge.device.frame import Frame
from edge.device.motion import MotionDetector, small_gray, work_size

DEFAULT_CLIP = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "testdata"
    / "clips"
    / "visitor_approach.mp4"
)
SIZE = (1280, 720)
# The dev clips' suggested motion zone (walkway and porch), in 0..1.
ZONE = [
    (0.367, 0.347),
    (0.633, 0.347),
    (0.930, 0.653),
    (0.930, 0.999),
    (0.070, 0.999),
    (0.070, 0.653),
]


def load_frames(clip: Path, count: int) -> list[np.ndarray]:
    """Decode the first `count` frames of a clip, or synthesise them if it is absent."""
    if clip.exists():
        with av.open(str(clip)) as container:
            frames = []
            for decoded in container.decode(video=0):
                frames.append(decoded.to_ndarray(format="bgr24"))
                if len(frames) == count:
                    break
            return frames
    rng = np.random.default_rng(1)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (SIZE[1], SIZE[0], 3), np.uint8), (0, 0), 3)
    frames = []
    for i in range(count):
        frame = scene.copy()
        x = 200 + 6 * i
        frame[300:600, x : x + 120] = (40, 60, 200)
        frames.append(frame)
    return frames


def best_ms(fn: Callable[[np.ndarray], object], frames: list[np.ndarray], repeats: int) -> float:
    """Lowest mean milliseconds per frame over `repeats` passes (other load only adds)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for frame in frames:
            fn(frame)
        best = min(best, (time.perf_counter() - start) / len(frames) * 1000)
    return best


def surviving_noise(fn: Callable[[np.ndarray], np.ndarray], sigma: float = 8.0) -> float:
    """Std of the small copy's noise when the full frame carries noise of `sigma`."""
    rng = np.random.default_rng(2)
    flat = np.full((SIZE[1], SIZE[0], 3), 128.0)
    a, b = (
        fn(np.clip(flat + rng.normal(0, sigma, flat.shape), 0, 255).astype(np.uint8))
        for _ in range(2)
    )
    return float(np.std(a.astype(np.float32) - b.astype(np.float32)) / np.sqrt(2))


def downscale_methods(size: tuple[int, int]) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The candidate ways to make the small grayscale copy, by name."""
    step = SIZE[1] // size[1]

    def resized(interpolation: int) -> Callable[[np.ndarray], np.ndarray]:
        return lambda im: cv2.cvtColor(
            cv2.resize(im, size, interpolation=interpolation), cv2.COLOR_BGR2GRAY
        )

    return {
        "edge.device.motion.small_gray (used)": lambda im: small_gray(im, size),
        "cvtColor full + resize AREA": lambda im: cv2.resize(
            cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA
        ),
        "resize AREA (BGR) + cvtColor": resized(cv2.INTER_AREA),
        "resize LINEAR (BGR) + cvtColor": resized(cv2.INTER_LINEAR),
        "resize NEAREST (BGR) + cvtColor": resized(cv2.INTER_NEAREST),
        f"slice [::{step}] + cvtColor": lambda im: cv2.cvtColor(
            np.ascontiguousarray(im[::step, ::step]), cv2.COLOR_BGR2GRAY
        ),
        f"slice [::{step}] green channel": lambda im: np.ascontiguousarray(im[::step, ::step, 1]),
    }


def time_detector(frames: list[np.ndarray], lores: bool, repeats: int) -> np.ndarray:
    """Per-frame milliseconds of update() over the frames, best pass of `repeats`."""
    config = MotionConfig(zones=[ZONE])
    size = work_size(SIZE, config.frame_height)
    inputs = [
        Frame(i, i / 15, frame, small_gray(frame, size) if lores else None)
        for i, frame in enumerate(frames)
    ]
    best: np.ndarray | None = None
    for _ in range(repeats):
        detector = MotionDetector(config, SIZE)
        times = []
        for frame in inputs:
            start = time.perf_counter()
            detector.update(frame)
            times.append(time.perf_counter() - start)
        ms = np.array(times[1:]) * 1000
        if best is None or ms.mean() < best.mean():
            best = ms
    assert best is not None
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=DEFAULT_CLIP, help="clip to time on")
    parser.add_argument("--frames", type=int, default=120, help="frames to decode")
    parser.add_argument("--repeats", type=int, default=5, help="passes; the best is shown")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    frames = load_frames(args.clip, args.frames)
    source = args.clip.name if args.clip.exists() else "synthetic frames"
    size = work_size(SIZE, MotionConfig().frame_height)
    print(f"{len(frames)} frames of {SIZE[0]}x{SIZE[1]} from {source}, one core")
    print(f"\nsmall grayscale copy {size[0]}x{size[1]}:")
    print(f"  {'method':34} {'ms/frame':>8} {'noise left (of 8.0)':>20}")
    for name, fn in downscale_methods(size).items():
        ms = best_ms(fn, frames, args.repeats)
        print(f"  {name:34} {ms:>8.3f} {surviving_noise(fn):>20.2f}")
    print("\nMotionDetector.update, ms/frame:")
    for label, lores in (("from BGR 1280x720", False), ("from lores gray", True)):
        ms = time_detector(frames, lores, args.repeats)
        print(
            f"  {label:18} mean {ms.mean():.3f}  median {np.median(ms):.3f}  "
            f"p99 {np.percentile(ms, 99):.3f}  max {ms.max():.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
