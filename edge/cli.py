"""The `doorbell` console script: parses arguments and dispatches to `edge.commands`."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edge import __version__
from edge.commands import CommandError
from edge.logs import configure_logging

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
    """Run one `doorbell` command and return its exit status: 0 ok, 1 failed, 2 usage."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"doorbell: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`doorbell audit show --json | head`): nothing left to say.
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        # A defect, not bad input: one line for the user, the traceback with -v.
        logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
        print(
            f"doorbell: error: unexpected {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return 1
