"""Replay every dev clip through `doorbell replay`, export each clip with `doorbell export`
and score the exports with the shared black-box scorer.

This is the whole product as a user runs it (decode, motion, redaction, pre-roll,
segments, H.264, age, disk, export), so it shows that the pipeline adds no leak to what
the redaction evaluation measures: pre-roll and segment joins included.

    python scripts/eval_replay.py [--clips DIR ...] [--only NAME ...] [--json OUT]

By default the shared dev clips and this project's extra scenes (testdata/dev_scenes,
made by scripts/make_dev_scenes.py). Each export is also measured with
../shared/tools/utility.py (detail kept on moving people outside their heads).
Needs ../shared/testdata/clips and ../shared/tools/score.py (not part of the product).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def doorbell(*args: str) -> str:
    """Run the installed CLI the way a user would; returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0, 2):
        raise RuntimeError(f"doorbell {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def device_config(root: Path, gt: dict) -> tuple[Path, Path]:
    """Owner key and config with the clip's suggested public areas and motion zones."""
    key = root / "owner.key"
    printed = doorbell("keygen", "--out", str(key), "--no-passphrase")
    recipient = next(w for w in printed.split() if w.startswith("age1"))
    signing = next(w for w in printed.split() if w.startswith("ed25519:"))
    w, h = gt["width"], gt["height"]

    def norm(polygons: list) -> str:
        return json.dumps([[[round(x / w, 5), round(y / h, 5)] for x, y in p] for p in polygons])

    config = root / "doorbell.toml"
    config.write_text(
        f'[owner]\nrecipients = ["{recipient}"]\nsigning_keys = ["{signing}"]\n'
        f'[storage]\npath = "{root / "state"}"\n'
        f"[privacy]\npublic_areas = {norm(gt['config']['public_areas'])}\n"
        f"[motion]\nzones = {norm(gt['config']['motion_zones'])}\n"
    )
    return config, key


def evaluate(clip: Path, scorer: Path, utility: Path) -> dict:
    gt = json.loads(clip.with_suffix(".json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, key = device_config(root, gt)
        started = time.perf_counter()
        summary = json.loads(doorbell("replay", str(clip), "--config", str(config)))
        replay_s = time.perf_counter() - started
        outputs = []
        for n, made in enumerate(summary["clips"]):
            out = root / f"export{n}.mp4"
            doorbell(
                "export", made["id"], "-i", str(key), "--out", str(out), "--config", str(config)
            )
            outputs.append({"file": out.name, "start": made["start_offset_s"]})
        manifest = root / "outputs.json"
        manifest.write_text(json.dumps({"outputs": outputs}))
        scored = root / "score.json"
        subprocess.run(
            [
                sys.executable,
                str(scorer),
                "--gt",
                str(clip.with_suffix(".json")),
                "--manifest",
                str(manifest),
                "--json",
                str(scored),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(scored.read_text())
        kept = subprocess.run(
            [
                sys.executable,
                str(utility),
                "--gt",
                str(clip.with_suffix(".json")),
                "--orig",
                str(clip),
                "--manifest",
                str(manifest),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result["utility"] = json.loads(kept.stdout.strip().splitlines()[-1])
    return {"clip": clip.stem, "summary": summary, "replay_s": replay_s, "score": result}


def row(r: dict) -> str:
    s, summary = r["score"], r["summary"]
    leak = f"{s['face_frames_leaked']}/{s['face_frames_recorded']}"
    public = s["public_area"]["leak_rate"]
    recall = s.get("visitor_recall")
    false_rec = s.get("false_recording_s")
    share = s["utility"]["kept_share"]
    return (
        f"{r['clip']:18s} {len(summary['clips']):5d} {leak:>9s} "
        f"{'-' if public is None else f'{100 * public:.2f}%':>8s} "
        f"{'-' if recall is None else f'{100 * recall:.1f}%':>7s} "
        f"{'-' if false_rec is None else f'{false_rec:.1f}':>6s} "
        f"{summary['fps']:6.1f} {summary['fail_closed_frames']:5d} "
        f"{'-' if share is None else f'{100 * share:.1f}%':>6s}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--clips",
        type=Path,
        nargs="*",
        default=[SHARED / "testdata" / "clips", ROOT / "testdata" / "dev_scenes"],
    )
    parser.add_argument("--only", nargs="*", help="clip names (default: all)")
    parser.add_argument("--json", type=Path, help="write every result here")
    args = parser.parse_args()
    scorer = SHARED / "tools" / "score.py"
    utility = SHARED / "tools" / "utility.py"
    missing = [p for p in [*args.clips, scorer, utility] if not p.exists()]
    if missing:
        print(f"needs {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    clips = sorted(c for folder in args.clips for c in folder.glob("*.mp4"))
    if args.only:
        clips = [c for c in clips if c.stem in args.only]
    print(f"{'clip':18s} clips    leaked   public  recall  f.rec    fps  fail   kept")
    results = []
    for clip in clips:
        results.append(evaluate(clip, scorer, utility))
        print(row(results[-1]), flush=True)
    leaked = sum(r["score"]["face_frames_leaked"] for r in results)
    recorded = sum(r["score"]["face_frames_recorded"] for r in results)
    tiles = sum(r["score"]["utility"]["moving_tiles"] for r in results)
    kept = sum(r["score"]["utility"]["kept"] for r in results)
    print(f"TOTAL face-frames leaked {leaked}/{recorded}")
    if tiles:
        print(f"TOTAL detail kept on moving people {100 * kept / tiles:.1f}% of {tiles} tiles")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
