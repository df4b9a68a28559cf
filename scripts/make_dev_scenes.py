#!/usr/bin/env python3
"""Render the project's own extra dev scenes with the shared clip generator.

Five porch scenes the shared dev set lacks, each an MP4 with its ground truth beside it
in the same format (`doorbell-clip-gt/1`), made by `shared/tools/make_clips.py`'s
renderer with this project's own cast, paths and seed:

- `edge_runner`: two runners close to the camera, ~50 px motion blur; one crosses the
  frame, one bursts in at the right edge, stops half out of the picture and runs out.
- `legs_in_zone`: only passers-by, on the near sidewalk, low and large enough that their
  legs reach 30-70 px over the motion zone's far edge (perspective). Must not record.
- `parcel_visitor`: a visitor carrying a parcel in front of the chest to the door.
- `child_close`: a child (31-40 px face) runs in at the left frame edge, low and close
  to the camera, stops by the door and leaves.
- `turn_away`: a visitor at the door turns the head away and back twice (drawn as a
  foreshortened, sideways face, down to a quarter of its width).

The faces come from scikit-image's bundled data (installed with the dev extras); nothing
is downloaded. The output is deterministic. The clips are not kept in the repository:

    python3 scripts/make_dev_scenes.py --out testdata/dev_scenes [--only NAME ...]

then `scripts/eval_replay.py --clips testdata/dev_scenes` or
`scripts/eval_redaction.py --clips testdata/dev_scenes`.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MAKE_CLIPS = ROOT.parent / "shared" / "tools" / "make_clips.py"

SPEC = {
    "name": "doorbell-edge-dev",
    "seed": 20261204,
    "faces": {
        "astronaut": {
            "file": "astronaut.png",
            "box": [181, 58, 88, 119],
            "head": [226, 105, 74, 92],
        },
        "cameraman": {"file": "camera.png", "box": [202, 118, 55, 77], "head": [222, 135, 48, 72]},
        "lfw": {
            "file": "lfw_subset.npy",
            "array": True,
            "box": [1, 1, 23, 23],
            "head": [12.0, 12.0, 13.5, 14.0],
        },
    },
    "textures": {
        "lawn": {"file": "grass.png", "tint": [0.36, 0.70, 0.42]},
        "walk": {"file": "gravel.png", "tint": [0.74, 0.78, 0.86]},
        "porch": {"file": "brick.png", "tint": [0.50, 0.52, 0.80]},
        "wall": {"file": "brick.png", "scale": 0.6, "tint": [0.60, 0.60, 0.86]},
        "far": {"file": "brick.png", "scale": 0.3, "tint": [0.66, 0.64, 0.74]},
        "sidewalk": {"file": "gravel.png", "scale": 0.4, "tint": [0.82, 0.84, 0.86], "blur": 0.8},
        "road": {"file": "gravel.png", "scale": 0.3, "tint": [0.42, 0.41, 0.44], "blur": 0.7},
        "post": {"file": "gravel.png", "tint": [0.95, 0.95, 0.93], "blur": 4.0, "gain": 1.05},
    },
    "face_masks": "procedural",
    "cast": {
        "edge_runner": ["cameraman", "astronaut"],
        "legs_in_zone": ["lfw:5", "lfw:23", "lfw:64", "lfw:90", "lfw:120"],
        "parcel_visitor": ["cameraman"],
        "child_close": ["lfw:150"],
        "turn_away": ["astronaut"],
    },
}
SCENES = list(SPEC["cast"])
SKIMAGE_FILES = ["astronaut.png", "camera.png", "lfw_subset.npy", "brick.png", "gravel.png"]


def load_generator():
    """The shared generator as a module (it is a tool, not part of the product)."""
    spec = importlib.util.spec_from_file_location("make_clips", MAKE_CLIPS)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_clips"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def gather_sources(dest: Path) -> None:
    """Copy the images the spec names from the installed scikit-image data."""
    import skimage

    data = Path(skimage.__file__).parent / "data"
    for name in [*SKIMAGE_FILES, "grass.png"]:
        shutil.copy(data / name, dest / name)


def extend(mc) -> None:
    """Teach the renderer a carried parcel and a head that turns away."""
    body_polys = mc._body_polys
    head_transform = mc._head_transform

    def _body_polys(cx, chin, F, fw, t, moving, actor):
        neck, torso, arms, legs = body_polys(cx, chin, F, fw, t, moving, actor)
        if getattr(actor, "parcel", False):
            top, bottom = chin + 1.3 * F, chin + 2.5 * F
            arms = [*arms, [(cx - fw, top), (cx + fw, top), (cx + fw, bottom), (cx - fw, bottom)]]
        return neck, torso, arms, legs

    def _head_transform(actor, t, x, F, dy, moving):
        m, lvl = head_transform(actor, t, x, F, dy, moving)
        squash = 1.0
        for t0, t1 in getattr(actor, "turns", ()):
            if t0 <= t <= t1:
                # away and back: width follows |cos| of a half turn, at least a quarter
                squash = max(0.25, abs(math.cos(math.pi * (t - t0) / (t1 - t0))))
        if squash < 1.0:
            fb = lvl[3]
            centre = m @ np.array([fb[0] + fb[2] / 2, fb[1] + fb[3] / 2, 1.0])
            m = m.copy()
            m[0, :2] *= squash
            m[0, 2] = centre[0] - m[0, :2] @ np.array([fb[0] + fb[2] / 2, fb[1] + fb[3] / 2])
        return m, lvl

    mc._body_polys = _body_polys
    mc._head_transform = _head_transform


def scene(mc, name: str, cast, tex, rng):
    """(scene, actors, effects, duration, meta, street) of one extra scenario."""
    c = SPEC["cast"][name]
    W = mc.W
    fx = mc.Effects()
    fx.gain = lambda t: 1.0 + 0.04 * math.sin(2 * math.pi * t / 9.0)
    with_post = False

    def actor(aid, ref, role, keys, **kw):
        return mc.make_actor(cast, rng, aid, ref, role, keys, **kw)

    if name == "edge_runner":
        dur = 12.0
        crosser = actor(
            "p0",
            c[0],
            "visitor",
            [(1.5, -260.0, 115.0, 70.0), (3.0, W + 260.0, 115.0, 70.0)],
            blur_exposure=0.75,
        )
        burst = actor(
            "p1",
            c[1],
            "visitor",
            [
                (5.0, W + 180.0, 105.0, 50.0),
                (5.6, W - 40.0, 110.0, 50.0),
                (7.6, W - 40.0, 110.0, 50.0),
                (8.2, W + 180.0, 105.0, 50.0),
            ],
            blur_exposure=0.75,
        )
        actors = [crosser, burst]
        for a in actors:
            a.step_hz = 3.0
        notes = "Runners close to the camera enter at the frame edges with ~50 px motion blur."
    elif name == "legs_in_zone":
        dur = 16.0
        actors = []
        lanes = [(22.0, 30.0), (24.0, 40.0), (21.0, 48.0), (25.0, 36.0), (23.0, 52.0)]
        for j, ref in enumerate(c):
            F, dy = lanes[j]
            t0 = 0.3 + 2.7 * j
            speed = float(rng.uniform(80, 120))
            t1 = t0 + (W + 160) / speed
            xa, xb = (-80.0, W + 80.0) if j % 2 == 0 else (W + 80.0, -80.0)
            actors.append(actor(f"p{j}", ref, "passerby", [(t0, xa, F, dy), (t1, xb, F, dy)]))
        notes = "Passers-by on the near sidewalk whose legs reach over the motion zone's far edge."
    elif name == "parcel_visitor":
        dur = 18.0
        courier = actor(
            "p0", c[0], "visitor", mc._approach_keys(0.8, 600, 700, 170.0, 6.0, 3.5, 5.0)
        )
        courier.parcel = True
        actors = [courier]
        notes = "A visitor carries a parcel in front of the chest to the door and back."
    elif name == "child_close":
        dur = 12.0
        actors = [
            actor(
                "p0",
                c[0],
                "visitor",
                [
                    (1.0, -60.0, 31.0, 260.0),
                    (2.2, 260.0, 36.0, 270.0),
                    (6.5, 260.0, 36.0, 270.0),
                    (7.5, 420.0, 40.0, 280.0),
                    (9.0, -60.0, 31.0, 260.0),
                ],
                blur_exposure=0.5,
            )
        ]
        notes = (
            "A child's small face (31-40 px) enters at the left edge, low and close to the camera."
        )
    elif name == "turn_away":
        dur = 18.0
        visitor = actor(
            "p0", c[0], "visitor", mc._approach_keys(0.5, 620, 640, 185.0, 5.5, 7.0, 5.0)
        )
        visitor.turns = [(8.5, 10.0), (11.0, 12.5)]
        actors = [visitor]
        notes = "A visitor at the door turns the head away and back twice."
    else:
        raise ValueError(name)
    meta = {
        "scenario": name,
        "set": SPEC["name"],
        "actors": [{"id": a.aid, "identity": a.head.identity, "role": a.role} for a in actors],
        "actors_masked": {},
        "notes": notes,
        "crf": 18,
        "preset": "medium",
    }
    return mc.build_scene(tex, rng, with_post, "band"), actors, fx, dur, meta, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the clips")
    parser.add_argument("--only", nargs="*", choices=SCENES, help="scenes (default: all)")
    args = parser.parse_args(argv)
    if not MAKE_CLIPS.is_file():
        print(f"needs {MAKE_CLIPS}", file=sys.stderr)
        return 2
    mc = load_generator()
    extend(mc)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp)
        gather_sources(sources)
        tex = mc.Textures(SPEC, str(sources))
        cast = mc.Cast(SPEC, str(sources), tex)
        for name in args.only or SCENES:
            rng = np.random.default_rng(SPEC["seed"] ^ zlib.crc32(name.encode()))
            made = scene(mc, name, cast, tex, rng)
            gt = mc.render_clip(name, *made[:4], str(args.out), made[4], made[5], rng)
            faces = sum(len(f["faces"]) for f in gt["frames"])
            intervals = [(i["start"], i["end"]) for i in gt["visitor_intervals"]]
            print(f"{name}: {gt['n_frames']} frames, {faces} face-frames, visitors {intervals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
