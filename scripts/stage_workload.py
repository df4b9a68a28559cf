"""One stage of the pipeline alone, on frames of a clip, for counting what it costs.

scripts/arm64_check.sh runs this under a qemu plugin that counts guest instructions
(docs/PERFORMANCE.md, "arm64 under emulation"): the count of a stage minus the count of
`base` (same imports, model load and frame loading, no work) divided by the frames is
that stage's instructions per frame. OpenCV runs on one thread, as the encoder does, so
no worker thread spins while waiting.

usage: python scripts/stage_workload.py prepare --clip CLIP --start K --frames N FRAMES.npy
       python scripts/stage_workload.py STAGE --config TOML [--clip CLIP --start K] FRAMES.npy
  prepare  decode frames K..K+N-1 of CLIP into FRAMES.npy (not counted)
  base     imports, config, face model, encoder settings, FRAMES.npy loaded; no work
  decode   base + decode CLIP's first K+N frames with PyAV to BGR, as a replay does
           (so it prints K+N frames, not N)
  detect   base + CenterFace on the config's whole scan region (the area outside the
           public areas, at the scan scale) of each frame: a full scan every frame
  encode   base + the clip's H.264 encoder (libx264 here: no /dev/video11) on each frame
Prints one JSON line: the stage and the number of frames it worked on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.core.config import load_config
from edge.device.capture.file import FileSource
from edge.device.encoder import EncoderSettings, H264SegmentEncoder, MemoryOutput
from edge.device.faces.centerface import CenterFace
from edge.device.faces.finder import detect_in, scan_region
from edge.device.zones import polygon_mask

STAGES = ("base", "decode", "detect", "encode")


def prepare(clip: Path, out: Path, start: int, frames: int) -> int:
    """Decode frames start..start+frames-1 of `clip` into `out` (an .npy of BGR frames)."""
    images = []
    for frame in FileSource(clip):
        if frame.index >= start:
            images.append(frame.image)
        if len(images) == frames:
            break
    np.save(out, np.stack(images))
    return len(images)


def run(stage: str, images: np.ndarray, config_path: Path, clip: Path | None, start: int) -> int:
    """Do `stage` on `images`; returns the number of frames worked on."""
    config = load_config(config_path)
    detector = CenterFace.load()
    settings = EncoderSettings(fps=config.camera.fps, crf=config.recording.crf, threads=1)
    if stage == "base":
        return 0
    if stage == "decode":
        if clip is None:
            raise SystemExit("stage_workload: decode needs --clip")
        wanted, n = start + len(images), 0
        for _ in FileSource(clip):
            n += 1
            if n == wanted:
                break
        return n
    if stage == "detect":
        height, width = images.shape[1:3]
        public = polygon_mask(config.privacy.public_areas, width, height)
        region = scan_region(public, config.faces.min_face_px)
        if region is None:
            raise SystemExit("stage_workload: the config's public areas cover the whole frame")
        for image in images:
            detect_in(detector, image, region, config.faces.threshold)
        return len(images)
    encoder = H264SegmentEncoder(settings)
    encoder.start_clip(0.0)
    encoder.start_segment(MemoryOutput())
    for i, image in enumerate(images):
        encoder.encode(image, i / config.camera.fps)
    encoder.end_clip()
    return len(images)


def main() -> int:
    """Parse the command line and run one stage."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("prepare", *STAGES))
    parser.add_argument("frames_file", type=Path, metavar="FRAMES.npy")
    parser.add_argument("--clip", type=Path, help="the clip (prepare, decode)")
    parser.add_argument("--start", type=int, default=0, help="first frame used (default 0)")
    parser.add_argument("--frames", type=int, default=30, help="frames to prepare (default 30)")
    parser.add_argument("--config", type=Path, help="the replay config (every stage but prepare)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.stage == "prepare":
        if args.clip is None:
            parser.error("prepare needs --clip")
        done = prepare(args.clip, args.frames_file, args.start, args.frames)
    else:
        if args.config is None:
            parser.error(f"{args.stage} needs --config")
        images = np.load(args.frames_file)
        done = run(args.stage, images, args.config, args.clip, args.start)
    print(json.dumps({"stage": args.stage, "frames": done}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
