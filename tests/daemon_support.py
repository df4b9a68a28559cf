"""Helpers for daemon tests: a device config with a fresh owner key, and a scene video file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2

from edge.core.config import Config, parse_config
from edge.device.demo_scene import FPS, MOTION_ZONE, PUBLIC_AREA, scene_frames
from edge.owner.owner_key import OwnerKey


@dataclass(frozen=True)
class Device:
    """A device config on disk, its state directory and the owner key that can read it."""

    config_path: Path
    config: Config
    state: Path
    owner: OwnerKey
    owner_key_path: Path


def make_device(root: Path, extra: str = "") -> Device:
    """Write an owner key and a config whose state directory is under `root`."""
    owner = OwnerKey.generate()
    key_path = root / "owner.key"
    owner.save(key_path, None)
    text = (
        f'[device]\nid = "test"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\nsigning_keys = ["{owner.signing_public}"]\n'
        f'[storage]\npath = "{root / "state"}"\n'
        f"[privacy]\npublic_areas = [{json.dumps(PUBLIC_AREA)}]\n"
        f"[motion]\nzones = [{json.dumps(MOTION_ZONE)}]\n" + extra
    )
    path = root / "doorbell.toml"
    path.write_text(text)
    return Device(path, parse_config(text), root / "state", owner, key_path)


def write_scene_video(path: Path, seconds: float = 14.0) -> Path:
    """Encode the demo scene to an H.264 file that stands in for a camera recording."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for frame in scene_frames(seconds):
            rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode(None))
    return path
