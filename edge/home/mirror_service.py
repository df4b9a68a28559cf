"""`doorbell mirror`'s MQTT link: subscribe to every doorbell's mirror topics and hand
each message to the receiver, reconnecting with back-off until stopped.

The session is persistent (a fixed client id, clean_session off), so the broker queues
mirror messages while the receiver is down. Acknowledgements are manual: a message is
acknowledged once it is stored or rejected as bad input, never when our own storage
failed (a full disk); then the link drops and reconnects after a pause, and the broker
delivers every unacknowledged message again.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from edge.core.mqtt.connection import (
    Backoff,
    BrokerSettings,
    connack_problem,
    connect_problem,
    make_client,
)
from edge.home.decision_relay import RELAY_INTERVAL_S, DecisionRelay
from edge.home.mirror_receiver import MirrorReceiver, StoreFailed

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0


class MirrorLinkError(Exception):
    """The first connection failed (refused, unreachable); one line says why."""


@dataclass
class _Link:
    connected: bool = False
    refused: str | None = None


def serve(
    settings: BrokerSettings,
    topic_root: str,
    receiver: MirrorReceiver,
    stop: threading.Event,
    ready: threading.Event | None = None,
    relay_interval_s: float = RELAY_INTERVAL_S,
) -> None:
    """Receive until `stop` is set; raises MirrorLinkError when the first connect fails."""
    link = _Link()
    failed = threading.Event()
    subscription = f"{topic_root}/+/mirror/#"

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            link.refused = connack_problem(reason)
            return
        link.refused = None
        link.connected = True
        client.subscribe(subscription, qos=1)

    def on_disconnect(*_args: Any) -> None:
        link.connected = False

    def on_message(client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if failed.is_set():
            return  # not acknowledged: delivered again after the reconnect
        try:
            receiver.handle(message.topic, bytes(message.payload))
        except StoreFailed:
            failed.set()
            return
        except Exception:
            # A bug must not stop the receiver; the message is logged and dropped.
            log.exception("mirror: could not handle a message on %s", message.topic[:120])
        client.ack(message.mid, message.qos)

    client = make_client(settings)
    client.manual_ack_set(True)
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    try:
        client.connect(settings.host, settings.port, settings.keepalive)
    except (OSError, ValueError) as exc:
        raise MirrorLinkError(connect_problem(exc, settings)) from None
    while not link.connected and not stop.is_set():
        rc = client.loop(timeout=0.2)
        if link.refused:
            raise MirrorLinkError(link.refused)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise MirrorLinkError(f"connection to {settings.host}:{settings.port} closed at once")
    log.info(
        "mirror: receiving %s on %s:%d into %s",
        subscription,
        settings.host,
        settings.port,
        receiver.root,
    )
    if ready is not None:
        ready.set()
    backoff = Backoff(initial=0.5, maximum=30.0)
    next_retention = next_relay = time.monotonic()
    relay = DecisionRelay(receiver.root, topic_root)
    while not stop.is_set():
        rc = client.loop(timeout=0.2)
        if time.monotonic() >= next_retention:
            next_retention = time.monotonic() + RETENTION_INTERVAL_S
            receiver.enforce_retention()
        if link.connected and time.monotonic() >= next_relay:
            next_relay = time.monotonic() + relay_interval_s
            for topic, payload in relay.due():
                client.publish(topic, payload, qos=1)
        if failed.is_set():
            # Leave without acknowledging; after a pause the broker sends it all again.
            log.warning("mirror: storage failed; receiving again after a pause")
            client.disconnect()
            client.loop(timeout=0.2)
            rc = mqtt.MQTT_ERR_NO_CONN
        if rc == mqtt.MQTT_ERR_SUCCESS:
            continue
        if not failed.is_set():
            log.warning(
                "mirror: lost the connection to %s:%d; reconnecting", settings.host, settings.port
            )
        while not stop.is_set():
            stop.wait(max(backoff.next_delay(), 5.0 if failed.is_set() else 0.0))
            try:
                failed.clear()
                client.reconnect()
                backoff.reset()
                break
            except (OSError, ValueError) as exc:
                log.warning("mirror: %s", connect_problem(exc, settings))
    if link.connected:
        client.disconnect()
        client.loop(timeout=0.2)
