"""Theft drill: record with the mirror on, SIGKILL the recorder, wipe its state, and check
that the home server's mirror still has every finished segment and exports it.

Each trial starts a real mosquitto (tests/mosquitto.py) and `doorbell mirror`'s receiver
(in this process), runs `doorbell replay --realtime` on a scene video in a subprocess
with `[mirror] enabled = true`, and watches the device's clip folder: every finished
segment file is read the moment it appears (its bytes, and when). At a seeded random
time after the first finished segment the recorder is SIGKILLed and its whole state
directory deleted, as a thief would take the doorbell. Then:
- every segment finished at least GRACE seconds before the kill must be in the mirror,
  byte for byte, exactly once (no `.conflict-*`, one index row each);
- segments finished less than GRACE before the kill are counted, not required (the kill
  can land between a segment's close and its PUBACK; see docs/PERFORMANCE.md for lag);
- every mirrored clip exports from the mirror with the owner key and plays (frames > 0).

    python scripts/mirror_theft.py --trials 10 --seed 1 [--grace 1.0] [--json]

Prints one line per trial and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # this checkout's edge, the test helpers

from daemon_support import make_device, write_scene_video  # noqa: E402
from mirror_support import ReceiverThread, mirror_section  # noqa: E402
from mosquitto import Mosquitto  # noqa: E402

from edge.cli import main as doorbell  # noqa: E402
from edge.core.store.layout import parse_segment_name  # noqa: E402
from edge.core.store.reading import read_clips, read_segments, segment_file  # noqa: E402

GRACE_S = 1.0


@dataclass
class Trial:
    """What one kill left on the mirror."""

    number: int
    kill_after_first_s: float
    finished: int = 0
    mirrored: int = 0
    missing_in_grace: int = 0
    missing_late: list[str] = field(default_factory=list)
    clips_exported: int = 0
    problems: list[str] = field(default_factory=list)


def _watch(clips: Path, seen: dict[Path, tuple[float, bytes]], stop: threading.Event) -> None:
    while not stop.is_set():
        for path in clips.glob("*/*/*/*/*.mp4.age"):
            parsed = parse_segment_name(path.name)
            if path in seen or parsed is None or parsed[1]:
                continue
            try:
                seen[path] = (time.monotonic(), path.read_bytes())
            except FileNotFoundError:
                continue
        stop.wait(0.02)


def run_trial(
    number: int,
    root: Path,
    video: Path,
    broker: Mosquitto,
    rng: random.Random,
    grace: float = GRACE_S,
) -> Trial:
    """One recording, killed and wiped; returns what the mirror kept."""
    work = root / f"trial-{number}"
    work.mkdir()
    device = make_device(work, mirror_section(broker))
    mirror = work / "mirror"
    receiver = ReceiverThread(broker, mirror, client_id=f"mirror-theft-{number}")
    trial = Trial(number, round(rng.uniform(0.0, 7.0), 2))
    seen: dict[Path, tuple[float, bytes]] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(device.state / "clips", seen, stop))
    watcher.start()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge",
            "replay",
            str(video),
            "--config",
            str(device.config_path),
            "--realtime",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not seen and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        if not seen:
            trial.problems.append("no segment was finished before the recorder stopped")
        time.sleep(trial.kill_after_first_s)
        child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        stop.set()
        watcher.join()
    shutil.rmtree(device.state)  # the thief took the doorbell
    # Whatever the broker acknowledged reaches the receiver: wait until it has been
    # quiet for a second (at most 15 s).
    deadline, last, quiet_since = time.monotonic() + 15, -1, time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < 1.0:
        if receiver.receiver.stored_segments != last:
            last, quiet_since = receiver.receiver.stored_segments, time.monotonic()
        time.sleep(0.05)
    receiver.stop()
    home = mirror / "test"
    mirrored = {}
    if (home / "index.sqlite").exists():
        for clip in read_clips(home):
            for segment in read_segments(home, clip.id):
                mirrored[(clip.id, segment.n)] = segment_file(home, segment).read_bytes()
    trial.finished = len(seen)
    for path, (when, data) in seen.items():
        key = (path.parent.name, parse_segment_name(path.name)[0])  # type: ignore[index]
        if mirrored.get(key) == data:
            trial.mirrored += 1
        elif killed - when < grace:
            trial.missing_in_grace += 1
        else:
            trial.missing_late.append(f"{key[0]}/{key[1]} ({killed - when:.2f} s before the kill)")
    if trial.missing_late:
        trial.problems.append(f"not mirrored: {', '.join(trial.missing_late)}")
    if len(mirrored) != trial.mirrored:
        trial.problems.append(f"{len(mirrored)} segments in the mirror, {trial.mirrored} recorded")
    if list(mirror.rglob("*.conflict-*")):
        trial.problems.append("conflicting copies in the mirror")
    for clip_id in sorted({key[0] for key in mirrored}):
        out = work / f"{clip_id}.mp4"
        code = doorbell(
            [
                "export",
                clip_id,
                "--mirror",
                str(mirror),
                "--identity",
                str(device.owner_key_path),
                "--out",
                str(out),
            ]
        )
        frames = _frames(out) if code in (0, 2) and out.exists() else 0
        if frames == 0:
            trial.problems.append(f"clip {clip_id} does not export from the mirror")
        else:
            trial.clips_exported += 1
    return trial


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grace", type=float, default=GRACE_S)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    failed = 0
    results = []
    with tempfile.TemporaryDirectory(prefix="mirror-theft-") as tmp:
        root = Path(tmp)
        video = write_scene_video(root / "porch.mp4")
        broker = Mosquitto(root / "broker")
        broker.start()
        try:
            for number in range(1, args.trials + 1):
                trial = run_trial(number, root, video, broker, rng, args.grace)
                results.append(trial)
                failed += bool(trial.problems)
                if not args.json:
                    print(
                        f"trial {trial.number:3d}: kill {trial.kill_after_first_s:4.2f} s "
                        "after the first segment; "
                        f"{trial.mirrored}/{trial.finished} finished segments mirrored, "
                        f"{trial.missing_in_grace} within {args.grace} s of the kill not yet; "
                        f"{trial.clips_exported} clip(s) exported"
                        + (f"; FAILED: {'; '.join(trial.problems)}" if trial.problems else ""),
                        flush=True,
                    )
        finally:
            broker.stop()
    if args.json:
        print(json.dumps([asdict(t) for t in results], indent=2))
    else:
        total = sum(t.finished for t in results)
        print(
            f"{len(results)} trials, {failed} failed; {sum(t.mirrored for t in results)}/{total} "
            f"finished segments mirrored, {sum(t.missing_in_grace for t in results)} lost "
            f"within {args.grace} s of a kill"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
