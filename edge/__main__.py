"""Lets `python -m edge` run the owner CLI."""

from edge.cli import main

raise SystemExit(main())
