"""Soak: a day of doorbell operation, compressed, while memory, file handles and the store
are watched.

The whole daemon runs in this process (store, motion, face detection, redaction,
recorder, encoder, vault, ledger) on frames made in memory: the demo scene's visitor
walks up to the door and away again every `--visit-every` simulated minutes, and in
between the porch is empty (with sensor noise, so motion detection does real work).
Frames go as fast as the machine takes them, not at 15 fps, so a simulated day takes
well under a day. The storage quota is small, so retention has to delete clips all the
time; it runs every `--retention-every` wall seconds (every 10 minutes on a device),
which on the compressed clock is more often than a device would run it.

Every `--sample-every` seconds of wall time it records the process's RSS, its open file
descriptors and threads, and the bytes of clips in the index. At the end it prints the
samples, the median and peak RSS of each quarter of the run, and how often the store was
found over the quota (a clip closed since the last retention pass can take it over).

    python scripts/soak.py --minutes 1440                          # 24 simulated hours
    python scripts/soak.py --minutes 20 --scale 0.5 --quota-mb 5   # docs/RELIABILITY.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.core.config import parse_config
from edge.core.store.reading import read_clips
from edge.device.daemon import daemon as daemon_module
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import FPS, MOTION_ZONE, PUBLIC_AREA, scene_frames
from edge.device.frame import Frame
from edge.owner.owner_key import OwnerKey

# The demo scene: the visitor enters the walkway at 4 s and is at the door by 8 s.
ARRIVAL = slice(45, 165)


@dataclass(frozen=True)
class Sample:
    wall_s: float
    simulated_min: float
    rss_mb: float
    fds: int
    threads: int
    clips: int
    store_mb: float


class Feed:
    """The frames, and how far into the simulated day they have got."""

    def __init__(self, minutes: float, visit_every_min: float, scale: float) -> None:
        rng = np.random.default_rng(5)
        images = [
            cv2.resize(f.image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            for f in scene_frames(11.0)
        ]
        arrival = images[ARRIVAL]
        self.visit = arrival + arrival[::-1]  # up to the door and away again
        empty = images[ARRIVAL.start].astype(np.int16)
        self.empty = [
            np.clip(empty + rng.normal(0, 2.0, empty.shape), 0, 255).astype(np.uint8)
            for _ in range(8)
        ]
        self.total = int(minutes * 60 * FPS)
        self.period = int(visit_every_min * 60 * FPS)
        self.fed = 0

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.total):
            position = index % self.period
            if position < len(self.visit):
                image = self.visit[position]
            else:
                image = self.empty[index % len(self.empty)]
            self.fed = index + 1
            yield Frame(index, index / FPS, image)

    @property
    def simulated_min(self) -> float:
        return self.fed / FPS / 60


def process_figures() -> tuple[float, int, int]:
    """RSS in MiB, open file descriptors and threads of this process (Linux /proc)."""
    rss_kb = 0
    threads = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kb / 1024, len(os.listdir("/proc/self/fd")), threads


def store_figures(state: Path) -> tuple[int, float]:
    try:
        clips = read_clips(state)
    except Exception:
        return 0, 0.0
    return len(clips), sum(c.bytes for c in clips) / 2**20


def make_config(root: Path, quota_mb: int) -> tuple[str, OwnerKey]:
    owner = OwnerKey.generate()
    text = (
        f'[device]\nid = "soak"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\nsigning_keys = ["{owner.signing_public}"]\n'
        f'[storage]\npath = "{root / "state"}"\nmax_bytes = {quota_mb * 2**20}\n'
        f"min_free_bytes = 0\n"
        f"[privacy]\npublic_areas = [{json.dumps(PUBLIC_AREA)}]\n"
        f"[motion]\nzones = [{json.dumps(MOTION_ZONE)}]\n"
    )
    return text, owner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1440.0, help="simulated minutes")
    parser.add_argument("--visit-every", type=float, default=3.0, help="simulated minutes")
    parser.add_argument("--scale", type=float, default=1.0, help="frame size (1.0 = 1280x720)")
    parser.add_argument("--quota-mb", type=int, default=20)
    parser.add_argument("--sample-every", type=float, default=5.0, help="wall seconds")
    parser.add_argument("--retention-every", type=float, default=2.0, help="wall seconds")
    parser.add_argument("--dir", type=Path, help="work folder (default: a new temp folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    root = args.dir or Path(tempfile.mkdtemp(prefix="soak-"))
    root.mkdir(parents=True, exist_ok=True)
    text, _owner = make_config(root, args.quota_mb)
    config = parse_config(text)
    state = Path(config.storage.path)
    feed = Feed(args.minutes, args.visit_every, args.scale)

    # Retention runs every 10 minutes on a device; the compressed clock runs many times
    # faster, so it runs every few wall seconds here (more often than on a device).
    daemon_module.RETENTION_INTERVAL_S = args.retention_every

    samples: list[Sample] = []
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        rss, fds, threads = process_figures()
        clips, store_mb = store_figures(state)
        samples.append(
            Sample(
                round(time.monotonic() - started, 1),
                round(feed.simulated_min, 1),
                round(rss, 1),
                fds,
                threads,
                clips,
                round(store_mb, 2),
            )
        )

    def sampler() -> None:
        while not done.wait(args.sample_every):
            sample()

    print(
        f"soak: {args.minutes:.0f} simulated min, a visitor every {args.visit_every} min, "
        f"frames {int(1280 * args.scale)}x{int(720 * args.scale)}, quota {args.quota_mb} MiB, "
        f"retention every {daemon_module.RETENTION_INTERVAL_S:.1f} s wall, in {root}",
        flush=True,
    )
    sample()
    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    summary = Daemon(config, frames=feed).run()
    done.set()
    thread.join()
    sample()
    wall = time.monotonic() - started

    columns = ("wall s", "sim min", "RSS MiB", "fds", "thr", "clips", "store MiB")
    print("\n" + " ".join(f"{c:>{w}}" for c, w in zip(columns, (7, 8, 8, 4, 4, 5, 9), strict=True)))
    step = max(1, len(samples) // 25)
    for s in [*samples[::step], samples[-1]]:
        print(
            f"{s.wall_s:>7.1f} {s.simulated_min:>8.1f} {s.rss_mb:>8.1f} {s.fds:>4} "
            f"{s.threads:>4} {s.clips:>5} {s.store_mb:>9.2f}"
        )
    running = samples[1:-1] or samples
    size = max(1, len(running) // 4)
    quarters = [running[i * size : (i + 1) * size] or running[-1:] for i in range(4)]
    # RSS swings with each visit (face detection, encoder); compare like with like: the
    # median and the peak of each quarter of the run.
    medians = [statistics.median(s.rss_mb for s in q) for q in quarters]
    peaks = [max(s.rss_mb for s in q) for q in quarters]
    deleted = [c for c in read_clips(state, include_deleted=True) if c.status == "deleted"]
    kept = read_clips(state)
    over = [s for s in samples if s.store_mb > args.quota_mb]
    index_mb = sum(p.stat().st_size for p in state.glob("index.sqlite*")) / 2**20
    print(
        f"\nsimulated {args.minutes:.0f} min in {wall:.0f} s wall "
        f"({args.minutes * 60 / wall:.0f}x), {summary.stats.frames_processed} frames, "
        f"{summary.stats.fps:.0f} fps"
    )
    print(f"clips recorded {len(summary.clips)}, kept {len(kept)}, deleted {len(deleted)}")
    print(
        "RSS MiB by quarter of the run: median "
        + " / ".join(f"{m:.1f}" for m in medians)
        + ", peak "
        + " / ".join(f"{m:.1f}" for m in peaks)
        + f" (last - first quarter: median {medians[-1] - medians[0]:+.1f}, "
        f"peak {peaks[-1] - peaks[0]:+.1f})"
    )
    print(
        f"open fds: min {min(s.fds for s in running)}, max {max(s.fds for s in running)}; "
        f"threads: max {max(s.threads for s in running)}"
    )
    print(
        f"store: max {max(s.store_mb for s in samples):.2f} MiB against a quota of "
        f"{args.quota_mb} MiB ({len(over)} of {len(samples)} samples over); "
        f"index {index_mb:.2f} MiB; at the end {sum(c.bytes for c in kept) / 2**20:.2f} MiB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
