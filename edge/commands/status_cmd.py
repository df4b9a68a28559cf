"""`doorbell status [--json]`: on the device, is it recording, is privacy mode on, how full
is the disk, what was the last clip, how many frames failed closed. Exit 0 when the daemon
is running and can record, 1 otherwise (for scripts and monitoring)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.commands import CommandError
from edge.commands.options import add_config_argument, load_device_config
from edge.core.store.errors import StorageError
from edge.core.store.reading import read_clips
from edge.core.store.status_file import STATUS_INTERVAL_S, read_status


def register(sub: argparse._SubParsersAction) -> None:
    """Add `status`."""
    parser = sub.add_parser("status", help="on the device: recording, privacy, disk, last clip")
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(func=_status)


def _status(args: argparse.Namespace) -> int:
    from edge.device.privacy_state import load_privacy_mode

    config = load_device_config(args.config)
    state = Path(config.storage.path)
    if not state.is_dir():
        raise CommandError(f"no state directory {state} (has the daemon run with this config?)")
    try:
        clips = read_clips(state)
    except StorageError:
        clips = []
    daemon = read_status(state)
    running = (
        daemon is not None
        and time.time() - daemon.time <= 2 * STATUS_INTERVAL_S
        and _alive(daemon.pid)
    )
    disk = shutil.disk_usage(state)
    last = clips[-1] if clips else None
    report: dict[str, Any] = {
        "running": running,
        "last_seen": _when(daemon.time) if daemon else None,
        "source": daemon.source if daemon else config.camera.source,
        "recorder": daemon.recorder if running and daemon else None,
        "fps": daemon.fps if running and daemon else None,
        "frames_dropped": daemon.frames_dropped if daemon else None,
        "fail_closed_frames": daemon.fail_closed_frames if daemon else None,
        "privacy_mode": daemon.privacy_mode if running and daemon else load_privacy_mode(state),
        "recording_stopped": daemon.recording_stopped if running and daemon else None,
        "disk": {
            "path": str(state),
            "clips_bytes": sum(c.bytes for c in clips),
            "free_bytes": disk.free,
            "total_bytes": disk.total,
        },
        "last_clip": None
        if last is None
        else {
            "id": last.id,
            "start": _when(last.started_at),
            "duration_s": last.duration_s,
            "status": last.status,
        },
    }
    ok = running and not report["recording_stopped"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0 if ok else 1


def _print(report: dict[str, Any]) -> None:
    if report["running"]:
        state = f"running, {report['recorder']}, {report['fps']} fps from {report['source']}"
    elif report["last_seen"]:
        state = f"NOT RUNNING (last seen {report['last_seen']})"
    else:
        state = "NOT RUNNING (never seen)"
    print(f"daemon:       {state}")
    if report["recording_stopped"]:
        print(f"recording:    STOPPED: {report['recording_stopped']}")
    print(f"privacy mode: {'ON (not recording)' if report['privacy_mode'] else 'off'}")
    if report["fail_closed_frames"] is not None:
        print(f"fail-closed:  {report['fail_closed_frames']} frame(s) stored fully obscured")
    disk = report["disk"]
    print(
        f"disk:         {disk['clips_bytes'] / 1e6:.1f} MB of clips, "
        f"{disk['free_bytes'] / 1e9:.1f} GB free of {disk['total_bytes'] / 1e9:.1f} GB"
    )
    last = report["last_clip"]
    if last is None:
        print("last clip:    none")
    else:
        print(f"last clip:    {last['id']} at {last['start']}, {last['status']}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user (the service user)
    return True


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
