"""`doorbell run` (the daemon) and `doorbell replay VIDEO` (the daemon with a file as camera)."""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from edge.commands import CommandError
from edge.commands.options import add_config_argument, load_device_config

if TYPE_CHECKING:
    from edge.device.daemon.daemon import Daemon, RunSummary

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    """Add `run` and `replay`."""
    run = sub.add_parser("run", help="run the doorbell daemon (camera, until SIGTERM)")
    add_config_argument(run)
    run.set_defaults(func=_run)

    replay = sub.add_parser(
        "replay",
        help="run the whole daemon with a video file as the camera; print a JSON summary",
    )
    replay.add_argument("video", type=Path, help="video file to use as the camera")
    add_config_argument(replay)
    replay.add_argument(
        "--realtime", action="store_true", help="pace the file at its recorded speed"
    )
    replay.set_defaults(func=_replay)


def _run(args: argparse.Namespace) -> int:
    from edge.device.daemon.daemon import Daemon

    config = load_device_config(args.config)
    summary = _run_daemon(lambda: Daemon(config))
    log.info(
        "stopped: %d frames, %d clip(s), %d dropped",
        summary.stats.frames_read,
        len(summary.clips),
        summary.stats.frames_dropped,
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    from edge.device.daemon.daemon import Daemon
    from edge.device.faces.model import face_model_problem

    if not args.video.is_file():
        raise CommandError(f"{args.video}: no such file")
    config = load_device_config(args.config)
    # A replay is a check of what the product stores: without the model every frame would
    # be one full-frame mosaic. (`run` keeps recording fail-closed, and says so.)
    problem = face_model_problem(config.faces.enabled)
    if problem is not None:
        raise CommandError(problem)
    summary = _run_daemon(
        lambda: Daemon(config, source=f"file:{args.video}", realtime=args.realtime, replay=True)
    )
    print(json.dumps(summary.to_json(), indent=2))
    return 0


def _run_daemon(make: Callable[[], Daemon]) -> RunSummary:
    # Device code (OpenCV, PyAV) loads only for the commands that run it: `doorbell --help`
    # and the owner and home-server commands must not pay for it.
    from edge.device.daemon.daemon import DaemonError

    try:
        return make().run()
    except DaemonError as exc:
        raise CommandError(str(exc)) from None
