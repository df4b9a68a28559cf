"""The `doorbell` console script: parses arguments and dispatches to `edge.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edge import __version__
from edge.commands import CommandError

# Command groups, in the order `doorbell --help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "edge.commands.config_cmd",
    "edge.commands.run_cmd",
    "edge.commands.export_cmd",
    "edge.commands.demo_cmd",
    "edge.commands.clips_cmd",
    "edge.commands.keys_cmd",
    "edge.commands.decrypt_cmd",
    "edge.commands.share_cmd",
    "edge.commands.requests_cmd",
    "edge.commands.audit_cmd",
    "edge.commands.watch_cmd",
    "edge.commands.mirror_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="doorbell",
        description="Privacy-first doorbell camera: redacted, encrypted, local clips.",
    )
    parser.add_argument("--version", action="version", version=f"doorbell-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `doorbell` command and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"doorbell: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
