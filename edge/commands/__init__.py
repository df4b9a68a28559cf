"""Subcommands of the `doorbell` CLI, one module per command group.

Each module exposes `register(subparsers)`, which adds its parser(s) and sets
`func(args) -> int` on them. Nothing below `edge.commands` knows about the CLI.
"""


class CommandError(Exception):
    """A failure the CLI reports as one line on stderr with a non-zero exit."""
