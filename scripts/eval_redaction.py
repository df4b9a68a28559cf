#!/usr/bin/env python3
"""Measure what the product stores from the dev clips: face and public-area leaks, recall.

Runs every dev clip (the shared ones and testdata/dev_scenes) through the daemon's own
stages (built by `edge.device.stages`, as the daemon builds them: motion, redaction,
recorder, H.264 segment encoder) with the
clip's suggested public areas and motion zones and the default config otherwise,
writes the stored segments to a temporary folder (the scorer needs files) and scores them with the
black-box scorer `shared/tools/score.py`. With `--deface` it also runs deface (default
settings, pinned to one core) on each clip and scores its output the same way.

    python3 scripts/eval_redaction.py [--clips DIR ...] [--only a,b] [--record-all] [--deface]

Each clip's stored output is also measured with `shared/tools/utility.py`: the share
of moving-people tiles (outside the 2x face boxes) whose detail survived ("kept").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's code, not an installed copy

from edge.core.config.models import Config  # noqa: E402
from edge.device.capture.file import FileSource  # noqa: E402
from edge.device.encoder import H264SegmentEncoder, MemoryOutput  # noqa: E402
from edge.device.recorder import ClipEnd, ClipStart, SegmentStart, Write  # noqa: E402
from edge.device.stages import build_stages  # noqa: E402

SHARED = ROOT.parent / "shared"
BUCKETS = ("<24", "24-48", "48-96", ">96")


def polygons_0to1(truth: dict, key: str) -> list[list[tuple[float, float]]]:
    """A clip's suggested polygons, from frame pixels to 0..1."""
    w, h = truth["width"], truth["height"]
    return [[(x / w, y / h) for x, y in poly] for poly in truth["config"][key]]


def clip_config(truth: dict) -> Config:
    """The default config with the clip's suggested public areas and motion zones."""
    return Config.model_validate(
        {
            "privacy": {"public_areas": polygons_0to1(truth, "public_areas")},
            "motion": {"zones": polygons_0to1(truth, "motion_zones")},
        }
    )


def run_pipeline(clip: Path, truth: dict, out_dir: Path, record_all: bool) -> dict:
    """Run the daemon's stages (built by `edge.device.stages`) over a clip; write segments."""
    stages = build_stages(clip_config(truth))
    redactor, recorder, encoder = stages.redactor, stages.recorder, stages.encoder
    segments: list[tuple[MemoryOutput, float]] = []
    seconds: list[float] = []
    source = FileSource(clip)  # the replay's own decoding, luma for motion included
    try:
        motion = None
        for frame in source:
            index = frame.index
            if motion is None:
                motion = stages.motion_for((frame.image.shape[1], frame.image.shape[0]))
            start = time.perf_counter()
            moved = motion.update(frame)
            redacted = redactor.process(frame, moved)
            seconds.append(time.perf_counter() - start)
            if redacted is None:
                continue
            if record_all:
                if index == 0:
                    encoder.start_clip(redacted.t)
                    segments.append((MemoryOutput(), redacted.t))
                    encoder.start_segment(segments[-1][0])
                encoder.encode(redacted.image, redacted.t)
                continue
            for action in recorder.feed(redacted.frame, moved.active):
                _carry_out(action, encoder, segments)
    finally:
        source.close()
    for action in recorder.stop():
        _carry_out(action, encoder, segments)
    encoder.end_clip()
    outputs = []
    for k, (output, start_t) in enumerate(segments):
        path = out_dir / f"{clip.stem}_{k:03d}.mp4"
        path.write_bytes(output.getvalue())
        outputs.append({"file": path.name, "start": start_t})
    manifest = out_dir / f"{clip.stem}.manifest.json"
    manifest.write_text(json.dumps({"outputs": outputs}))
    stats = redactor.stats
    return {
        "manifest": manifest,
        "ms_per_frame": 1000 * sum(seconds) / max(1, len(seconds)),
        "fail_closed": stats.fail_closed,
        "frames": stats.frames,
    }


def _carry_out(action: object, encoder: H264SegmentEncoder, segments: list) -> None:
    if isinstance(action, ClipStart):
        encoder.start_clip(action.start_t)
    elif isinstance(action, SegmentStart):
        segments.append((MemoryOutput(), action.t))
        encoder.start_segment(segments[-1][0])
    elif isinstance(action, Write):
        encoder.encode(action.frame.image, action.frame.t)
    elif isinstance(action, ClipEnd):
        encoder.end_clip()


def score(scorer: Path, truth_path: Path, outputs: list[str], out_dir: Path, tag: str) -> dict:
    """Run the black-box scorer on some outputs of one clip and return its JSON result."""
    result = out_dir / f"{truth_path.stem}.{tag}.score.json"
    subprocess.run(
        [sys.executable, str(scorer), "--gt", str(truth_path), *outputs, "--json", str(result)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return json.loads(result.read_text())


def utility(tool: Path, truth_path: Path, clip: Path, manifest: Path) -> dict:
    """Run the shared utility measure (detail kept on moving people) on one clip's output."""
    done = subprocess.run(
        [
            sys.executable,
            str(tool),
            "--gt",
            str(truth_path),
            "--orig",
            str(clip),
            "--manifest",
            str(manifest),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_deface(deface: str, clip: Path, out_dir: Path, n_frames: int) -> tuple[Path, float]:
    """Anonymise a clip with deface's default settings on one core; output and ms/frame."""
    out = out_dir / f"{clip.stem}_deface.mp4"
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    start = time.perf_counter()
    subprocess.run(
        [*pin, deface, str(clip), "-o", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return out, 1000 * (time.perf_counter() - start) / n_frames


def _pct(v: float | None) -> str:
    return "   n/a" if v is None else f"{100 * v:6.2f}"


def _kept_cell(kept: dict) -> str:
    share = kept["kept_share"]
    return f"  kept {'n/a' if share is None else f'{100 * share:.1f}%'} of {kept['moving_tiles']}"


def _bucket_cell(by_size: dict, name: str) -> str:
    b = by_size[name]
    return f"{b['leaked']}/{b['recorded']}"


def print_row(name: str, r: dict, ms: float, extra: str = "") -> None:
    by = r["by_size"]
    rec = r.get("visitor_recall")
    print(
        f"{name:18s} {r['face_frames_leaked']:4d}/{r['face_frames_recorded']:<5d}"
        f"{_pct(r['leak_rate'])}% "
        + " ".join(f"{_bucket_cell(by, b):>8s}" for b in BUCKETS)
        + f" {r['public_area']['frames_leaked']:4d}/{r['public_area']['frames_recorded']:<4d}"
        + f" {'   n/a' if rec is None else f'{100 * rec:6.1f}'}%"
        + f" {r['false_recording_s']:6.1f}s {ms:7.1f}{extra}",
        flush=True,
    )


HEADER = (
    f"{'clip':18s} {'leaked':>10s} {'rate':>7s} "
    + " ".join(f"{b:>8s}" for b in BUCKETS)
    + f" {'public':>9s} {'visitor':>7s} {'nobody':>7s} {'ms/fr':>7s}"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips",
        type=Path,
        nargs="*",
        default=[SHARED / "testdata" / "clips", ROOT / "testdata" / "dev_scenes"],
        help="clip folders (default: the shared dev clips and testdata/dev_scenes)",
    )
    parser.add_argument("--scorer", type=Path, default=SHARED / "tools" / "score.py")
    parser.add_argument("--utility", type=Path, default=SHARED / "tools" / "utility.py")
    parser.add_argument("--only", help="comma-separated clip names (default: all)")
    parser.add_argument(
        "--record-all", action="store_true", help="store every frame (no motion gating)"
    )
    parser.add_argument(
        "--deface",
        nargs="?",
        const=shutil.which("deface") or "deface",
        help="also run deface (default settings) from this executable",
    )
    parser.add_argument("--json", type=Path, help="write all results here")
    parser.add_argument("--keep", type=Path, help="keep the stored videos in this folder")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    truths = sorted(t for folder in args.clips for t in folder.glob("*.json"))
    if args.only:
        wanted = set(args.only.split(","))
        truths = [t for t in truths if t.stem in wanted]
    if not truths:
        print(f"no clips in {args.clips}", file=sys.stderr)
        return 2
    results = {}
    print(
        "face leaks: leaked/recorded face-frames overall and by face height (px); public: "
        "leaked/recorded frames;\nvisitor: visitor time recorded; nobody: seconds recorded "
        "with nobody there; ms/fr: motion + redaction per frame, one thread"
    )
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="eval_redaction_") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for truth_path in truths:
            truth = json.loads(truth_path.read_text())
            clip = truth_path.with_suffix(".mp4")
            run = run_pipeline(clip, truth, out_dir, args.record_all)
            ours = score(
                args.scorer, truth_path, ["--manifest", str(run["manifest"])], out_dir, "ours"
            )
            kept = utility(args.utility, truth_path, clip, run["manifest"])
            ours["utility"] = kept
            extra = f"  fail-closed {run['fail_closed']}" if run["fail_closed"] else ""
            print_row(truth_path.stem, ours, run["ms_per_frame"], _kept_cell(kept) + extra)
            results[truth_path.stem] = {"ours": ours, "ms_per_frame": run["ms_per_frame"]}
            if args.deface:
                video, ms = run_deface(args.deface, clip, out_dir, truth["n_frames"])
                theirs = score(args.scorer, truth_path, ["--out", f"{video}@0"], out_dir, "deface")
                print_row("  deface", theirs, ms)
                results[truth_path.stem].update(deface=theirs, deface_ms_per_frame=ms)
                os.unlink(video)
    _print_totals(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _print_totals(results: dict) -> None:
    for who in ("ours", "deface"):
        rows = [r[who] for r in results.values() if who in r]
        if not rows:
            continue
        leaked = sum(r["face_frames_leaked"] for r in rows)
        recorded = sum(r["face_frames_recorded"] for r in rows)
        sizes = {
            b: (
                sum(r["by_size"][b]["leaked"] for r in rows),
                sum(r["by_size"][b]["recorded"] for r in rows),
            )
            for b in BUCKETS
        }
        public = sum(r["public_area"]["frames_leaked"] for r in rows)
        ms_key = "ms_per_frame" if who == "ours" else "deface_ms_per_frame"
        ms = sum(r[ms_key] for r in results.values() if ms_key in r) / len(rows)
        rate = f"{100 * leaked / recorded:.3f}%" if recorded else "n/a"
        tiles = sum(r["utility"]["moving_tiles"] for r in rows if "utility" in r)
        kept = sum(r["utility"]["kept"] for r in rows if "utility" in r)
        if tiles:
            print(f"TOTAL {who}: detail kept on moving people {100 * kept / tiles:.2f}% of {tiles}")
        for name in sorted({r["set"] for r in rows if "utility" in r}):
            in_set = [r["utility"] for r in rows if r["set"] == name and "utility" in r]
            share = 100 * sum(u["kept"] for u in in_set) / sum(u["moving_tiles"] for u in in_set)
            print(f"  set {name}: detail kept {share:.2f}%")
        print(
            f"TOTAL {who}: face leaks {leaked}/{recorded} ({rate}); by size "
            + ", ".join(f"{b}: {lk}/{n}" for b, (lk, n) in sizes.items())
            + f"; public-area frames leaked {public}; mean {ms:.1f} ms/frame"
        )


if __name__ == "__main__":
    sys.exit(main())
