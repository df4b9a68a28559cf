"""`doorbell mirror`'s MQTT link: subscribe to every doorbell's mirror topics and hand
each message to the receiver; relay the owner's pending decisions; keep its retention.

The session is persistent (a fixed client id, clean_session off), so the broker queues
mirror messages while the receiver is down. Acknowledgements are manual: a message is
acknowledged once it is stored or rejected as bad input, never when our own storage
failed (a full disk); then the link pauses (`edge.core.mqtt.session`) and the broker
delivers every unacknowledged message again after the reconnect.
"""

from __future__ import annotations

import logging
import threading

import paho.mqtt.client as mqtt

from edge.core.mqtt.connection import BrokerSettings
from edge.core.mqtt.session import Periodic, run_session
from edge.home.decision_relay import RELAY_INTERVAL_S, DecisionRelay
from edge.home.mirror_receiver import MirrorReceiver, StoreFailed

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 3600.0


def serve(
    settings: BrokerSettings,
    topic_root: str,
    receiver: MirrorReceiver,
    stop: threading.Event,
    ready: threading.Event | None = None,
    relay_interval_s: float = RELAY_INTERVAL_S,
) -> None:
    """Receive until `stop` is set; `edge.core.mqtt.session.LinkRefused` when the first
    connection fails."""
    failed = threading.Event()
    subscription = f"{topic_root}/+/mirror/#"
    relay = DecisionRelay(receiver.root, topic_root)

    def on_message(client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
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

    def relay_decisions(client: mqtt.Client) -> None:
        for topic, payload in relay.due():
            client.publish(topic, payload, qos=1)

    def take_failure() -> bool:
        if not failed.is_set():
            return False
        failed.clear()
        log.warning("mirror: storage failed; receiving again after a pause")
        return True

    def announce() -> None:
        log.info(
            "mirror: receiving %s on %s:%d into %s",
            subscription,
            settings.host,
            settings.port,
            receiver.root,
        )
        if ready is not None:
            ready.set()

    run_session(
        settings,
        subscription,
        on_message,
        stop,
        periodic=[
            Periodic(RETENTION_INTERVAL_S, lambda _c: receiver.enforce_retention()),
            Periodic(relay_interval_s, relay_decisions, only_connected=True),
        ],
        on_ready=announce,
        manual_ack=True,
        pause_requested=take_failure,
    )
