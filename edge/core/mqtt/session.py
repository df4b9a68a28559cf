"""One long-lived subscriber connection for the home server's services (`doorbell watch`,
`doorbell mirror`): connect, subscribe, hand every message on, run periodic work, and
reconnect with back-off until stopped.

The first connection must succeed (a refusal or an unreachable broker is `LinkRefused`,
one line saying why); after that every loss is logged and retried. A service can ask for
a pause (`pause_requested`, e.g. its disk is full): the link then drops without
acknowledging, and reconnects after at least `pause_s`, when the broker delivers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt

from edge.core.mqtt.connection import (
    Backoff,
    BrokerSettings,
    connack_problem,
    connect_problem,
    make_client,
)

log = logging.getLogger(__name__)

MessageHandler = Callable[[mqtt.Client, mqtt.MQTTMessage], None]


class LinkRefused(Exception):
    """The first connection failed (refused, unreachable); the message says why."""


@dataclass
class Periodic:
    """Work run from the connection's thread every `interval_s` (first at once)."""

    interval_s: float
    run: Callable[[mqtt.Client], None]
    only_connected: bool = False
    next_at: float = field(default=0.0)


@dataclass
class _State:
    connected: bool = False
    refused: str | None = None


def run_session(
    settings: BrokerSettings,
    subscription: str,
    on_message: MessageHandler,
    stop: threading.Event,
    *,
    periodic: Sequence[Periodic] = (),
    on_ready: Callable[[], None] = lambda: None,
    manual_ack: bool = False,
    pause_requested: Callable[[], bool] = lambda: False,
    pause_s: float = 5.0,
    backoff: Backoff | None = None,
) -> None:
    """Serve until `stop` is set. `on_message` runs on the connection's thread; with
    `manual_ack` it acknowledges each message itself (`client.ack`)."""
    state = _State()
    backoff = backoff or Backoff(initial=1.0, maximum=30.0)

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            problem = connack_problem(reason)
            if state.refused != problem:
                log.warning("%s", problem)
            state.refused = problem
            return
        state.refused = None
        state.connected = True
        client.subscribe(subscription, qos=1)

    def on_disconnect(*_args: Any) -> None:
        state.connected = False

    client = make_client(settings)
    client.manual_ack_set(manual_ack)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = lambda c, _u, message: on_message(c, message)
    try:
        client.connect(settings.host, settings.port, settings.keepalive)
    except (OSError, ValueError) as exc:
        raise LinkRefused(connect_problem(exc, settings)) from None
    while not state.connected and not stop.is_set():
        rc = client.loop(timeout=0.2)
        if state.refused:
            raise LinkRefused(state.refused)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise LinkRefused(f"connection to {settings.host}:{settings.port} closed at once")
    on_ready()
    while not stop.is_set():
        rc = client.loop(timeout=0.2)
        now = time.monotonic()
        for work in periodic:
            if now >= work.next_at and (state.connected or not work.only_connected):
                work.next_at = now + work.interval_s
                work.run(client)
        paused = pause_requested()
        if paused:
            log.warning("pausing the link to %s:%d; receiving again later", settings.host,
                        settings.port)  # fmt: skip
            client.disconnect()
            client.loop(timeout=0.2)
        elif rc == mqtt.MQTT_ERR_SUCCESS:
            continue
        else:
            log.warning("lost the connection to %s:%d; reconnecting", settings.host, settings.port)
        _reconnect(client, settings, stop, backoff, pause_s if paused else 0.0)
    if state.connected:
        client.disconnect()
        client.loop(timeout=0.2)


def _reconnect(
    client: mqtt.Client,
    settings: BrokerSettings,
    stop: threading.Event,
    backoff: Backoff,
    at_least_s: float,
) -> None:
    while not stop.is_set():
        stop.wait(max(backoff.next_delay(), at_least_s))
        try:
            client.reconnect()
            backoff.reset()
            return
        except (OSError, ValueError) as exc:
            log.warning("%s", connect_problem(exc, settings))
