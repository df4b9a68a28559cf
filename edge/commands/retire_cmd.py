"""`doorbell retire`: take a doorbell off the broker for good. Clears every retained topic
it published (state, last clip, checkpoint) and its Home Assistant discovery configs, so
Home Assistant drops its entities. Runs with the doorbell's own config and broker account
(the ACL lets only that account write its topics); stop the daemon first."""

from __future__ import annotations

import argparse

from edge.commands import CommandError
from edge.commands.options import add_config_argument, load_device_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add `retire`."""
    parser = sub.add_parser(
        "retire", help="clear a retired doorbell's retained MQTT topics and its HA entities"
    )
    add_config_argument(parser)
    parser.set_defaults(func=_retire)


def _retire(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt

    from edge.core.mqtt import topics
    from edge.core.mqtt.connection import (
        MqttSetupError,
        broker_settings,
        connect_problem,
        make_client,
    )
    from edge.core.mqtt.topics import Topics
    from edge.device.events.discovery import discovery_messages

    config = load_device_config(args.config)
    if not config.mqtt.enabled:
        raise CommandError("mqtt.enabled is false in this config: nothing was published")
    names = Topics.from_config(config)
    cleared = [names.full(suffix) for suffix in sorted(topics.RETAINED_TOPICS)]
    cleared += [topic for topic, _payload in discovery_messages(config.device, names)]
    try:
        settings = broker_settings(config)
        client = make_client(settings)
        client.connect(settings.host, settings.port, settings.keepalive)
    except MqttSetupError as exc:
        raise CommandError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise CommandError(connect_problem(exc, settings)) from None
    client.loop_start()
    try:
        # An empty retained message deletes the retained one (MQTT 3.1.1, 3.3.1.3).
        infos = [client.publish(topic, b"", qos=1, retain=True) for topic in cleared]
        for info in infos:
            info.wait_for_publish(timeout=10)
        if not all(info.is_published() for info in infos):
            raise CommandError(f"the broker did not confirm every clear ({settings.host})")
        if any(info.rc != mqtt.MQTT_ERR_SUCCESS for info in infos):
            raise CommandError("the broker refused a clear; is this the doorbell's account?")
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"cleared {len(cleared)} retained topic(s) of {names.prefix} on {settings.host}")
    return 0
