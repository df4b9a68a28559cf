"""The one rule every command sent to a doorbell follows, whether it arrives live, retained,
or queued by the broker while the doorbell was offline: it says when it was sent, and it
counts only while it is fresh.

A command is a JSON object with a `time` (RFC 3339). The doorbell applies it when that time
is at most `MAX_AGE_S` old and at most `MAX_AHEAD_S` ahead of its own clock, and later than
the last command of the same kind it applied (so the same message cannot act twice).
Anything else is logged and dropped: a switch thrown an hour ago, while the doorbell was
offline, is not what anyone means now.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from edge.core.timestamps import rfc3339

TIME_KEY = "time"
MAX_AGE_S = 120.0
MAX_AHEAD_S = 60.0

# What Home Assistant sends for the privacy switch (`command_template` in discovery).
HA_PRIVACY_TEMPLATE = '{"state": "{{ value }}", "time": "{{ utcnow().isoformat() }}"}'


def command_payload(fields: dict[str, Any], sent: datetime) -> bytes:
    """A command's wire form: `fields` plus the time it is sent."""
    return json.dumps({**fields, TIME_KEY: rfc3339(sent)}).encode("utf-8")


def privacy_command(on: bool, sent: datetime) -> bytes:
    """`{"state": "ON"|"OFF", "time": ...}`."""
    return command_payload({"state": "ON" if on else "OFF"}, sent)
