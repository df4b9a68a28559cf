"""Fresh commands for tests: each says when it was sent, a millisecond after the one before,
as a sender that follows `edge.core.mqtt.command_time` would."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from edge.core.mqtt.command_time import command_payload, privacy_command
from edge.core.timestamps import utc_now

_SENT = itertools.count()


def _now() -> Any:
    return utc_now() + timedelta(milliseconds=next(_SENT))


def privacy(on: bool) -> bytes:
    """A fresh privacy command."""
    return privacy_command(on, _now())


def request(fields: dict[str, Any]) -> bytes:
    """A fresh footage request."""
    return command_payload(fields, _now())
