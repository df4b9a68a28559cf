"""`doorbell demo`: the whole job on a machine with no camera and no broker, in under a minute.

It makes a throwaway owner key, records a generated scene with a visitor and a passer-by
(real face photographs when scikit-image is installed), lists the clips, exports one
with the owner key, prints the metadata that would go over MQTT, and verifies the ledger.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from edge.commands import CommandError
from edge.core.config import parse_config
from edge.core.mqtt.topics import Topics
from edge.core.store.outbox import Outbox
from edge.core.store.reading import read_clips, read_segments, segment_file
from edge.owner.export import export_segments
from edge.owner.export_log import record_export
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import audit_state_dir


def register(sub: argparse._SubParsersAction) -> None:
    """Add `demo`."""
    parser = sub.add_parser(
        "demo", help="record, redact, encrypt and export a generated scene (no camera needed)"
    )
    parser.add_argument(
        "--dir", type=Path, help="where to put the demo's files (default: a new temp folder)"
    )
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    # Device code (OpenCV, PyAV) loads only for the commands that run it.
    from edge.device.daemon.daemon import Daemon, DaemonError
    from edge.device.demo_scene import MOTION_ZONE, PUBLIC_AREA, scene_frames
    from edge.device.faces.model import face_model_problem

    problem = face_model_problem(faces_enabled=True)
    if problem is not None:
        raise CommandError(problem)
    root = args.dir or Path(tempfile.mkdtemp(prefix="doorbell-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise CommandError(f"{root} is not empty; give an empty or new --dir")
    logging.getLogger("edge").setLevel(logging.WARNING)

    _step("1. A throwaway owner key (keep yours off the device; it holds only the public half)")
    owner = OwnerKey.generate()
    owner.save(root / "owner.key", None)
    print(f"   {root / 'owner.key'}\n   recipient {owner.recipient}")

    _step("2. A device config: the street band is a public area, the walkway the motion zone")
    config_text = (
        f'[device]\nid = "demo"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\nsigning_keys = ["{owner.signing_public}"]\n'
        f'[storage]\npath = "{root / "state"}"\n'
        f"[privacy]\npublic_areas = [{json.dumps(PUBLIC_AREA)}]\n"
        f"[motion]\nzones = [{json.dumps(MOTION_ZONE)}]\n"
    )
    (root / "doorbell.toml").write_text(config_text)
    config = parse_config(config_text, source=str(root / "doorbell.toml"))
    print(f"   {root / 'doorbell.toml'}")

    _step("3. Recording a 14 s scene: motion -> redaction -> pre-roll -> H.264 -> age -> disk")
    try:
        summary = Daemon(config, frames=scene_frames()).run()
    except DaemonError as exc:
        raise CommandError(str(exc)) from None
    stats = summary.stats
    print(
        f"   {stats.frames_processed} frames at {stats.fps:.1f} fps, "
        f"{summary.faces_redacted} face boxes obscured, "
        f"{summary.fail_closed} frames failed closed (fully obscured)"
    )

    _step("4. Clips on the device (only ciphertext on disk)")
    state = config.storage.path
    clips = read_clips(state)
    for clip in clips:
        print(
            f"   {clip.id}  {clip.duration_s or 0:.1f} s  {clip.segments} segments  "
            f"{clip.bytes} bytes  {clip.status}"
        )
    if not clips:
        raise CommandError("the demo recorded no clip")

    _step("5. The owner exports a clip with the owner key (logged in the signed ledger)")
    clip = clips[0]
    files = [(s, segment_file(state, s)) for s in read_segments(state, clip.id)]
    result = export_segments(
        files,
        [owner.identity],
        root / "export.mp4",
        before_publish=lambda: record_export(state, owner, [clip.id], "demo"),
    )
    print(f"   {result.path}: {result.frames} frames, {result.duration_s:.1f} s")
    print(f"   (or with plain age: age -d -i {root / 'owner.key'} SEGMENT.mp4.age > seg.mp4)")

    _step("6. What would go over MQTT: metadata only, never an image")
    topics = Topics.from_config(config)
    outbox = Outbox(state)
    try:
        for row in outbox.pending(1000):
            print(f"   {topics.full(row.topic)}  {row.payload}")
    finally:
        outbox.close()

    _step("7. The audit ledger verifies (chain, device and owner signatures, every clip)")
    audit = audit_state_dir(state, config.owner.signing_keys)
    print(f"   {'ok' if audit.ok else 'PROBLEM'}: {audit.chain.entries} entries")
    print(f"\nThe demo's files are in {root}: owner.key, doorbell.toml, state/ (the ciphertext,")
    print("index and ledger) and export.mp4 (a decrypted copy of a generated scene).")
    if args.dir is None:
        print(f"Remove them when done: rm -r {root}")
    return 0 if audit.ok else 1


def _step(text: str) -> None:
    print(f"\n{text}")
