"""Benchmark the mirror: lag from a segment's close on the device to its durable storage
on the home server, and the device CPU it costs per mirrored segment.

A real mosquitto on 127.0.0.1 (tests/mosquitto.py) and `doorbell mirror` in a child
process (its CPU is not the device's); the device is `Daemon` in this process replaying a
scene video at recorded speed (`--realtime`), once with the mirror off (the anchor) and
once with it on.

- Lag per segment: ctime of the mirror's file (set when it is linked into place, after
  its data was fsynced) minus ctime of the device's file (set when the finished segment
  was renamed into place). Both on this machine's clock.
- CPU per segment: the sender's own thread time (reading, hashing, chunking, handing to
  paho) divided by segments mirrored; and the whole process's CPU with the mirror on
  minus with it off, divided by segments (includes the socket writes), with the ratio.

    python scripts/bench_mirror.py [--video FILE] [--seconds 30] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's edge, the test helpers

from daemon_support import make_device, write_scene_video  # noqa: E402
from mirror_support import mirror_section  # noqa: E402
from mosquitto import Mosquitto  # noqa: E402

from edge.core.store.reading import read_clips, read_segments, segment_file  # noqa: E402
from edge.device.daemon.daemon import Daemon  # noqa: E402


def _replay(video: Path, root: Path, extra: str) -> tuple[Daemon, object, float, Path]:
    device = make_device(root, extra)
    daemon = Daemon(device.config, source=f"file:{video}", realtime=True, replay=True)
    started = time.process_time()
    summary = daemon.run()
    return daemon, summary, time.process_time() - started, device.state


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, help="video to replay (default: a scene)")
    parser.add_argument("--seconds", type=float, default=30.0, help="scene length")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-mirror-") as tmp:
        root = Path(tmp)
        video = args.video or write_scene_video(root / "scene.mp4", args.seconds)
        broker = Mosquitto(root / "broker")
        broker.start()
        mirror = root / "mirror"
        receiver = subprocess.Popen(
            [sys.executable, "-m", "edge", "mirror", "--host", "127.0.0.1",
             "--port", str(broker.port), "--dir", str(mirror), "--trust-new-devices",
             "--client-id", "bench-mirror"],
            cwd=ROOT, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            (root / "off").mkdir()
            off_mqtt = mirror_section(broker).split("[mirror]")[0]
            _d, _s, cpu_off, _state = _replay(video, root / "off", off_mqtt)
            (root / "on").mkdir()
            daemon, summary, cpu_on, state = _replay(video, root / "on", mirror_section(broker))
            time.sleep(1.0)
        finally:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(15)
            broker.stop()
        lags = []
        home = mirror / "test"
        for clip in read_clips(state):
            for segment in read_segments(state, clip.id):
                here, there = segment_file(state, segment), segment_file(home, segment)
                if there.exists():
                    lags.append(os.stat(there).st_ctime - os.stat(here).st_ctime)
        stats = daemon._mirror.stats if daemon._mirror is not None else None
        segments = max(1, len(lags))
        result = {
            "segments": len(lags),
            "segments_recorded": sum(c.segments for c in read_clips(state)),
            "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
            "lag_p95_s": round(_percentile(lags, 0.95), 3) if lags else None,
            "lag_max_s": round(max(lags), 3) if lags else None,
            "segment_bytes_mean": round(
                statistics.mean(
                    s.bytes for c in read_clips(state) for s in read_segments(state, c.id)
                )
            ),
            "sender_cpu_ms_per_segment": round(1000 * stats.cpu_s / segments, 2) if stats else None,
            "process_cpu_s_mirror_off": round(cpu_off, 2),
            "process_cpu_s_mirror_on": round(cpu_on, 2),
            "process_cpu_ms_per_segment": round(1000 * (cpu_on - cpu_off) / segments, 1),
            "cpu_ratio_on_off": round(cpu_on / cpu_off, 3),
            "mirrored_segments": summary.mirrored_segments,  # type: ignore[attr-defined]
        }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
