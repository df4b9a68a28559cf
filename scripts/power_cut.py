"""Kill the recorder at random points, over and over, and check what each cut left.

Each trial runs `doorbell replay` on a scene video (a visitor comes to the door) in a
subprocess and SIGKILLs it at a seeded random time, as a power cut or an OOM kill would.
Then, on the state exactly as the cut left it:
- every finished segment file (`*.mp4.age`) decrypts with the owner key, through our
  reader and through the real `age -d -i owner.key`, to the same MP4;
- at most one new `.partial` (the segment in progress), at most one clip in progress;
- the ledger chain verifies (an incomplete last line is allowed: it is a cut append);
- salvage reads every whole chunk that reached the partial file (all of it, marked `*`
  in the table, when the cut came while the segment was being closed: its last chunk
  was written but it was not renamed yet).
Then the daemon is restarted (in this process, on a short still video): its repair must
say what it did (each partial kept, each clip closed, each file recovered), after which
the index and the files agree (a second open repairs nothing), no clip was lost or
duplicated, every finished segment is still there, and `doorbell audit verify` exits 0
(or 2 when the only finding is a cut last line nobody has appended after yet).

    python scripts/power_cut.py --trials 50 --seed 1 [--realtime] [--json]

Prints a table, one line per trial, and a summary; exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from edge.cli import main as doorbell
from edge.core.config import Config, parse_config
from edge.core.log.ledger import Ledger
from edge.core.store.index import ON_DISK_STATES
from edge.core.store.layout import parse_segment_name
from edge.core.store.reading import read_clips, read_segments
from edge.core.vault import decrypt_bytes
from edge.core.vault.stream import SEALED_CHUNK_SIZE
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import FPS, MOTION_ZONE, PUBLIC_AREA, scene_frames
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.export import complete_fragments, salvage_segment
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import audit_state_dir


@dataclass
class Device:
    """A config on disk, the owner key that reads its clips, and where that key is."""

    root: Path
    config_path: Path
    config: Config
    owner: OwnerKey
    owner_key_path: Path

    @property
    def state(self) -> Path:
        return Path(self.config.storage.path)


@dataclass
class Trial:
    """What one cut left and what the restart did."""

    number: int
    kill_at_s: float
    exited_before_kill: bool = False
    ran_s: float = 0.0
    new_finished: int = 0
    new_partials: int = 0
    partial_bytes: int = 0
    partial_chunks_on_disk: int = 0
    partial_chunks_salvaged: int = 0
    partial_fragments: int = 0
    partial_complete: bool = False
    clips_in_progress: int = 0
    torn_ledger_tail: bool = False
    repair: dict[str, int] = field(default_factory=dict)
    verify_exit: int | None = None
    violations: list[str] = field(default_factory=list)


def make_device(root: Path) -> Device:
    """An owner key and a config whose state directory is under `root`."""
    owner = OwnerKey.generate()
    key_path = root / "owner.key"
    owner.save(key_path, None)
    text = (
        f'[device]\nid = "power-cut"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\nsigning_keys = ["{owner.signing_public}"]\n'
        f'[storage]\npath = "{root / "state"}"\n'
        f"[privacy]\npublic_areas = [{json.dumps(PUBLIC_AREA)}]\n"
        f"[motion]\nzones = [{json.dumps(MOTION_ZONE)}]\n"
    )
    path = root / "doorbell.toml"
    path.write_text(text)
    return Device(root, path, parse_config(text, str(path)), owner, key_path)


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """Encode BGR frames to an H.264 file that stands in for the camera."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        height, width = frames[0].shape[:2]
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for image in frames:
            rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def replay_command(video: Path, device: Device, realtime: bool) -> list[str]:
    command = [sys.executable, "-m", "edge", "replay", str(video), "--config"]
    return command + [str(device.config_path)] + (["--realtime"] if realtime else [])


def segment_files(state: Path) -> tuple[set[Path], set[Path]]:
    """(finished, partial) segment files under the state directory."""
    finished, partial = set(), set()
    for path in (state / "clips").rglob("*"):
        parsed = parse_segment_name(path.name)
        if parsed is not None and path.is_file():
            (partial if parsed[1] else finished).add(path)
    return finished, partial


def check_finished(path: Path, device: Device) -> list[str]:
    """The file decrypts with our reader and with `age`, to the same playable MP4."""
    data = path.read_bytes()
    try:
        ours = decrypt_bytes([device.owner.identity], data)
    except Exception as exc:
        return [f"{path.name} in {path.parent.name}: our reader failed: {exc}"]
    # The plaintext stays in memory: `age` writes it to our pipe, never to a file.
    age = subprocess.run(
        ["age", "-d", "-i", str(device.owner_key_path), str(path)], capture_output=True
    )
    problems = []
    if age.returncode != 0:
        problems.append(f"{path}: age -d failed: {age.stderr.decode(errors='replace')}")
    elif age.stdout != ours:
        problems.append(f"{path}: age and our reader disagree")
    try:
        with av.open(io.BytesIO(ours), format="mp4") as container:
            packets = sum(1 for p in container.demux(video=0) if p.size)
        if packets == 0:
            problems.append(f"{path}: decrypts to an MP4 without frames")
    except av.FFmpegError as exc:
        problems.append(f"{path}: decrypts to something that is not an MP4: {exc}")
    return problems


def payload_start(data: bytes) -> int:
    """Offset of the first payload chunk: after the header's MAC line and the 16-byte nonce."""
    return data.index(b"\n---") + data[data.index(b"\n---") + 1 :].index(b"\n") + 2 + 16


def check_partial(path: Path, device: Device, trial: Trial) -> list[str]:
    """Salvage gets every whole chunk the cut left on disk."""
    data = path.read_bytes()
    trial.partial_bytes = len(data)
    if b"\n---" not in data:
        return []  # cut before the header was complete: nothing to salvage, repair removes it
    trial.partial_chunks_on_disk = max(0, len(data) - payload_start(data)) // SEALED_CHUNK_SIZE
    salvaged = salvage_segment(data, [device.owner.identity])
    trial.partial_chunks_salvaged = salvaged.chunks
    trial.partial_fragments = complete_fragments(salvaged.plaintext)[1]
    # Cut while the segment was being closed (final chunk written, not yet renamed): the
    # device cannot tell, so it stays a partial, and salvage gets all of it.
    trial.partial_complete = salvaged.complete
    if salvaged.chunks < trial.partial_chunks_on_disk:
        return [
            f"{path}: salvage got {salvaged.chunks} of {trial.partial_chunks_on_disk} "
            "whole chunks on disk"
        ]
    return []


def segment_number(path: Path) -> int:
    parsed = parse_segment_name(path.name)
    assert parsed is not None, path
    return parsed[0]


def expected_repairs(device: Device, partials: set[Path], finished: set[Path]) -> list[str]:
    """What repair must report for the state the cut left, as substrings of its lines."""
    expected = [
        f"clip {p.parent.name}: segment {segment_number(p)} "
        + ("is incomplete" if p.stat().st_size else "left an empty .partial")
        for p in partials
    ]
    if not (device.state / "index.sqlite").exists():
        return expected
    clips = read_clips(device.state)
    expected += [f"clip {c.id}: was recording" for c in clips if c.status == "in_progress"]
    known = {(c.id, s.n) for c in clips for s in read_segments(device.state, c.id)}
    expected += [
        f"clip {p.parent.name}: segment {segment_number(p)} was on disk but not in the index"
        for p in finished
        if (p.parent.name, segment_number(p)) not in known
    ]
    return expected


_REPAIR_KINDS = (
    ("is incomplete", "partial kept"),
    ("empty .partial", "empty partial removed"),
    ("not in the index", "file recovered"),
    ("was recording", "clip closed"),
    ("file is gone", "row missing"),
    ("folder without index row", "clip added"),
    ("interrupted deletion", "deletion finished"),
)


def repair_kind(action: str) -> str:
    return next((kind for key, kind in _REPAIR_KINDS if key in action), "other")


def check_agreement(device: Device) -> list[str]:
    """Index and files agree: every on-disk row has its file with its size and hash, every
    segment file has a row, nothing is in progress, and a further open repairs nothing."""
    problems = []
    with ClipStore.open(
        device.config.storage, device.config.owner.recipients, events=StoreEvents()
    ) as store:
        if store.repair_actions:
            problems.append(f"second open still repaired: {list(store.repair_actions)}")
        rows = set()
        for clip in store.clips():
            if clip.status == "in_progress":
                problems.append(f"clip {clip.id} still in progress after restart")
            for segment in store.segments(clip.id):
                if segment.state not in ON_DISK_STATES:
                    continue
                path = store.segment_path(segment)
                rows.add(path)
                if not path.is_file():
                    problems.append(f"{path}: in the index but not on disk")
                    continue
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                if (digest, path.stat().st_size) != (segment.sha256, segment.bytes):
                    problems.append(f"{path}: size or hash differs from the index")
    finished, partial = segment_files(device.state)
    for path in (finished | partial) - rows:
        problems.append(f"{path}: on disk but not in the index")
    return problems


def ledger_clip_ids(device: Device) -> Counter[str]:
    stored: Counter[str] = Counter()
    for entry in Ledger.in_state_dir(device.state).entries():
        if entry.type == "clip.stored":
            stored[str(entry.body["clip"])] += 1
    return stored


def run_verify(device: Device) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        return doorbell(["audit", "verify", "--config", str(device.config_path)])


def run_trial(
    number: int,
    kill_at: float,
    video: Path,
    still: Path,
    device: Device,
    realtime: bool,
    seen: dict[Path, str],
    clip_ids: set[str],
) -> Trial:
    trial = Trial(number, round(kill_at, 2))
    before_finished, before_partial = segment_files(device.state)
    started = time.monotonic()
    child = subprocess.Popen(
        replay_command(video, device, realtime),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        child.wait(timeout=kill_at)
        trial.exited_before_kill = True
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
    trial.ran_s = time.monotonic() - started
    v = trial.violations

    # The state exactly as the cut left it.
    finished, partial = segment_files(device.state)
    new_finished = finished - before_finished
    new_partials = partial - before_partial
    trial.new_finished, trial.new_partials = len(new_finished), len(new_partials)
    for path in sorted(new_finished):
        v += check_finished(path, device)
    if len(new_partials) > 1:
        v.append(f"{len(new_partials)} new partial files: {sorted(map(str, new_partials))}")
    for path in new_partials:
        v += check_partial(path, device, trial)
    if (device.state / "index.sqlite").exists():
        clips = read_clips(device.state)
        trial.clips_in_progress = sum(c.status == "in_progress" for c in clips)
        if trial.clips_in_progress > 1:
            v.append(f"{trial.clips_in_progress} clips in progress")
    if (device.state / "device.pub").exists():
        chain = audit_state_dir(device.state, device.config.owner.signing_keys).chain
        trial.torn_ledger_tail = bool(chain.torn_tail_bytes)
        if chain.problem is not None:
            v.append(f"ledger chain broken after the cut: {chain.problem}")
    expected = expected_repairs(device, new_partials, new_finished)

    # Restart: the daemon repairs, catches the ledger up, records nothing (a still video).
    summary = Daemon(device.config, source=f"file:{still}", replay=True).run()
    trial.repair = dict(Counter(repair_kind(a) for a in summary.repair))
    for needle in expected:
        if not any(needle in action for action in summary.repair):
            v.append(f"repair did not report {needle!r}: {summary.repair}")
    v += check_agreement(device)

    for path, digest in seen.items():
        if not path.is_file():
            v.append(f"finished segment {path} disappeared")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            v.append(f"finished segment {path} changed")
    for path in new_finished:
        seen[path] = hashlib.sha256(path.read_bytes()).hexdigest()
    now_ids = {c.id for c in read_clips(device.state)}
    if not clip_ids <= now_ids:
        v.append(f"clips lost: {sorted(clip_ids - now_ids)}")
    clip_ids |= now_ids
    duplicates = [clip for clip, count in ledger_clip_ids(device).items() if count > 1]
    if duplicates:
        v.append(f"clips recorded twice in the ledger: {duplicates}")
    trial.verify_exit = run_verify(device)
    still_torn = bool(
        audit_state_dir(device.state, device.config.owner.signing_keys).chain.torn_tail_bytes
    )
    if not (trial.verify_exit == 0 or (trial.verify_exit == 2 and still_torn)):
        v.append(f"doorbell audit verify exited {trial.verify_exit}")
    return trial


TABLE_HEADER = (
    f"{'#':>3} {'kill s':>6} {'new seg':>7} {'partial':>7} {'chunks':>9} {'frags':>5} "
    f"{'in prog':>7} {'torn':>4} {'verify':>6}  repair"
)


def table_row(t: Trial) -> str:
    chunks = f"{t.partial_chunks_salvaged}/{t.partial_chunks_on_disk}" if t.new_partials else "-"
    chunks += "*" if t.partial_complete else ""
    repair = ", ".join(f"{k} {n}" for k, n in sorted(t.repair.items())) or "-"
    flag = " (replay ended before the kill)" if t.exited_before_kill else ""
    bad = "  VIOLATION: " + "; ".join(t.violations) if t.violations else ""
    return (
        f"{t.number:>3} {t.kill_at_s:>6.2f} {t.new_finished:>7} {t.new_partials:>7} "
        f"{chunks:>9} {t.partial_fragments if t.new_partials else '-':>5} "
        f"{t.clips_in_progress:>7} {'yes' if t.torn_ledger_tail else '-':>4} "
        f"{t.verify_exit!s:>6}  {repair}{flag}{bad}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=14.0, help="length of the scene video")
    parser.add_argument("--realtime", action="store_true", help="replay at recorded speed")
    parser.add_argument("--dir", type=Path, help="work folder (default: a new temp folder)")
    parser.add_argument("--json", action="store_true", help="end with a JSON summary line")
    args = parser.parse_args()
    if shutil.which("age") is None:
        parser.error("the age CLI is needed (apt install age)")
    logging.basicConfig(level=logging.CRITICAL)

    root = args.dir or Path(tempfile.mkdtemp(prefix="power-cut-"))
    root.mkdir(parents=True, exist_ok=True)
    video = write_video(root / "scene.mp4", [f.image for f in scene_frames(args.seconds)])
    still_frame = next(iter(scene_frames(0.1))).image
    still = write_video(root / "still.mp4", [still_frame] * 8)

    # An uncut run on its own device: how long a replay takes, so cuts spread over all of it.
    calibration = make_device(Path(tempfile.mkdtemp(dir=root, prefix="calibration-")))
    started = time.monotonic()
    subprocess.run(
        replay_command(video, calibration, args.realtime), check=True, capture_output=True
    )
    uncut_s = time.monotonic() - started
    uncut = read_clips(calibration.state)

    (root / "device").mkdir(exist_ok=True)
    device = make_device(root / "device")
    rng = random.Random(args.seed)
    seen: dict[Path, str] = {}
    clip_ids: set[str] = set()
    trials = []
    print(TABLE_HEADER + "\n" + "-" * len(TABLE_HEADER), flush=True)
    longest = uncut_s
    for number in range(1, args.trials + 1):
        kill_at = rng.uniform(0.3, longest * 1.05)
        trial = run_trial(number, kill_at, video, still, device, args.realtime, seen, clip_ids)
        if trial.exited_before_kill:
            # The machine is faster now than at calibration: cut within the shorter runs.
            longest = min(longest, trial.ran_s)
        trials.append(trial)
        print(table_row(trial), flush=True)

    violations = [f"trial {t.number}: {v}" for t in trials for v in t.violations]
    partial_trials = [t for t in trials if t.new_partials]
    repairs: Counter[str] = Counter()
    for t in trials:
        repairs.update(t.repair)
    summary = {
        "trials": len(trials),
        "seed": args.seed,
        "realtime": args.realtime,
        "uncut_replay_s": round(uncut_s, 2),
        "kills_after_the_replay_ended": sum(t.exited_before_kill for t in trials),
        "uncut_clips": len(uncut),
        "uncut_segments": sum(c.segments for c in uncut),
        "kills_with_clip_in_progress": sum(t.clips_in_progress > 0 for t in trials),
        "finished_segments_checked": len(seen),
        "partials_left": len(partial_trials),
        "partials_with_chunks": sum(t.partial_chunks_on_disk > 0 for t in partial_trials),
        "partial_chunks_on_disk": sum(t.partial_chunks_on_disk for t in partial_trials),
        "partial_chunks_salvaged": sum(t.partial_chunks_salvaged for t in partial_trials),
        "partials_with_whole_fragments": sum(t.partial_fragments > 0 for t in partial_trials),
        "partials_cut_while_closing": sum(t.partial_complete for t in partial_trials),
        "torn_ledger_tails": sum(t.torn_ledger_tail for t in trials),
        "repairs": dict(repairs),
        "clips_total": len(clip_ids),
        "verify_exit_codes": dict(Counter(str(t.verify_exit) for t in trials)),
        "violations": violations,
    }
    print()
    for key, value in summary.items():
        if key != "violations":
            print(f"{key:>30}: {value}")
    print(f"{'violations':>30}: {len(violations)}")
    for violation in violations:
        print(f"  {violation}")
    if args.json:
        print(json.dumps(summary))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
