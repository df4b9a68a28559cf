"""`doorbell config check|schema|example|acl`: validate a config, print its schema, an example,
or its block for the broker's ACL."""

from __future__ import annotations

import argparse
import json
import sys

from edge.commands.options import add_config_argument, load_device_config
from edge.core.config import ConfigError, load_config
from edge.core.config.example import render_example
from edge.core.config.models import Config
from edge.core.mqtt.acl import device_acl
from edge.core.mqtt.topics import Topics


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `config` command group."""
    parser = sub.add_parser("config", help="check a config file, print its schema or an example")
    actions = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)

    check = actions.add_parser("check", help="validate a config file and report every problem")
    add_config_argument(check)
    # The older positional form still works: `doorbell config check FILE`.
    check.add_argument("file", nargs="?", help=argparse.SUPPRESS)
    check.set_defaults(func=_check)

    schema = actions.add_parser("schema", help="print the JSON Schema of the config")
    schema.set_defaults(func=_schema)

    example = actions.add_parser("example", help="print a commented example config")
    example.set_defaults(func=_example)

    acl = actions.add_parser(
        "acl", help="print this doorbell's block for the broker's ACL file (mosquitto)"
    )
    add_config_argument(acl)
    acl.set_defaults(func=_acl)


def _check(args: argparse.Namespace) -> int:
    args.file = args.file or args.config
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    from edge.device.faces.model import face_model_problem

    problem = face_model_problem(config.faces.enabled)
    if problem is not None:
        print(f"{args.file}: {problem}", file=sys.stderr)
        return 1
    if config.camera.profile is not None:
        from edge.device.capture.camera_profile import CameraProfileError, load_camera_profile

        try:
            load_camera_profile(config.camera.profile)
        except CameraProfileError as exc:
            print(f"{args.file}: camera.profile: {exc}", file=sys.stderr)
            return 1
    if not config.owner.recipients:
        print(
            f"{args.file}: owner.recipients is empty: clips could not be encrypted to anyone "
            "(run `doorbell keygen` and paste the age1... recipient)",
            file=sys.stderr,
        )
        return 1
    print(f"{args.file}: ok")
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(Config.model_json_schema(), indent=2))
    return 0


def _example(args: argparse.Namespace) -> int:
    sys.stdout.write(render_example())
    return 0


def _acl(args: argparse.Namespace) -> int:
    config = load_device_config(args.config)
    username = config.mqtt.username or config.device.id
    print(f"# doorbell {config.device.id}: its own topics only (doorbell config acl)")
    print(device_acl(Topics.from_config(config), username, config.device.id), end="")
    return 0
