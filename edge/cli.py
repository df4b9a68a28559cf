"""The `doorbell` console script: parses arguments and dispatches to `edge.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from edge import __version__
from edge.commands import CommandError

# Each command and the module that registers it, in the order `doorbell --help` lists
# them. Only the module of the command being run is imported: `doorbell decrypt` must not
# pay for the config models, MQTT or SQLite of the others.
COMMANDS: dict[str, str] = {
    "config": "edge.commands.config_cmd",
    "run": "edge.commands.run_cmd",
    "replay": "edge.commands.run_cmd",
    "export": "edge.commands.export_cmd",
    "demo": "edge.commands.demo_cmd",
    "clips": "edge.commands.clips_cmd",
    "status": "edge.commands.status_cmd",
    "keygen": "edge.commands.keys_cmd",
    "decrypt": "edge.commands.decrypt_cmd",
    "share": "edge.commands.share_cmd",
    "verify": "edge.commands.share_cmd",
    "prove": "edge.commands.share_cmd",
    "requests": "edge.commands.requests_cmd",
    "audit": "edge.commands.audit_cmd",
    "watch": "edge.commands.watch_cmd",
    "mirror": "edge.commands.mirror_cmd",
    "models": "edge.commands.models_cmd",
    "retire": "edge.commands.retire_cmd",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser with every command registered, or only the module of `command`."""
    parser = argparse.ArgumentParser(
        prog="doorbell",
        description="Privacy-first doorbell camera: redacted, encrypted, local clips.",
    )
    parser.add_argument("--version", action="version", version=f"doorbell-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command word of `argv` (the first argument that is not an option)."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _configure_logging(verbose: bool) -> None:
    # Imported here: `logging` costs a few ms of start-up that `decrypt` does not need.
    from edge.logs import configure_logging

    configure_logging(verbose)


def _log_defect(args: argparse.Namespace) -> None:
    """The traceback of the exception being handled, at debug level (shown with -v)."""
    import logging

    if not getattr(args, "logs", True):
        _configure_logging(args.verbose)
    logging.getLogger(__name__).debug("unexpected failure", exc_info=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `doorbell` command and return its exit status: 0 ok, 1 failed, 2 usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    # A command that never logs (`decrypt`: set_defaults(logs=False)) does not pay for
    # importing `logging`; it is set up only if such a command fails unexpectedly.
    if getattr(args, "logs", True):
        _configure_logging(args.verbose)
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
        _log_defect(args)
        print(
            f"doorbell: error: unexpected {type(exc).__name__}: {exc} (run with -v for details)",
            file=sys.stderr,
        )
        return 1
