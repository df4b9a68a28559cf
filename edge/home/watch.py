"""`doorbell watch`'s service: every doorbell's events into the witness, a line per event,
a warning when one goes offline or falls silent, cosignatures and alarms back out."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt

from edge.core.mqtt.connection import BrokerSettings
from edge.core.mqtt.session import Periodic, run_session
from edge.core.mqtt.topics import split_device_topic
from edge.core.timestamps import rfc3339, utc_now
from edge.home.witness import Notice, Witness

log = logging.getLogger(__name__)

SILENCE_CHECK_S = 5.0


def default_db() -> Path:
    """`$XDG_STATE_HOME/doorbell/watch.sqlite` (default `~/.local/state/...`)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "doorbell" / "watch.sqlite"


def watch(
    settings: BrokerSettings,
    subscription: str,
    witness: Witness,
    stop: threading.Event,
    db: Path,
) -> None:
    """Watch until `stop` is set; `edge.core.mqtt.session.LinkRefused` when the first
    connection fails."""

    def on_message(sender: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        split = split_device_topic(message.topic)
        if split is None:
            return  # not a doorbell topic (commands, discovery, other devices' traffic)
        device, suffix = split
        try:
            notices = witness.observe(device, suffix, bytes(message.payload))
        except Exception:
            log.exception("could not record a message on %s", message.topic)
            return
        print_notices(notices)
        for prefix, out_suffix, payload in witness.take_outgoing():
            sender.publish(f"{prefix}/{out_suffix}", payload.encode(), qos=1, retain=True)

    def announce() -> None:
        print(
            f"watching {subscription} on {settings.host}:{settings.port}; recording to {db}",
            flush=True,
        )

    run_session(
        settings,
        subscription,
        on_message,
        stop,
        periodic=[Periodic(SILENCE_CHECK_S, lambda _c: print_notices(witness.check_silence()))],
        on_ready=announce,
    )


def print_notices(notices: list[Notice]) -> None:
    """Events on stdout, warnings on stderr, each one line with its time."""
    for notice in notices:
        if notice.kind == "warning":
            print(
                f"{rfc3339(utc_now())} WARNING {notice.device}: {notice.text}",
                file=sys.stderr,
                flush=True,
            )
        else:
            print(f"{rfc3339(utc_now())} {notice.device}: {notice.text}", flush=True)
