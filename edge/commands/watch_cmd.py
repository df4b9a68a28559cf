"""`doorbell watch`: the home server's subscriber and witness of every doorbell on a broker.

Needs no camera and no owner key. It keeps every event in SQLite, prints a line per event,
warns when a doorbell goes offline or falls silent, and witnesses every doorbell's audit
log: each signed checkpoint is cosigned with the witness key when it extends the last
one, and refused with an alarm (MQTT, Home Assistant, evidence files) when it does not.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from edge.commands import CommandError
from edge.core.log.note import NoteError, check_key_name
from edge.core.mqtt.connection import (
    Backoff,
    BrokerSettings,
    MqttSetupError,
    TlsSettings,
    connack_problem,
    connect_problem,
    make_client,
    read_password,
)
from edge.core.mqtt.topics import split_device_topic
from edge.core.timestamps import rfc3339, utc_now
from edge.home.log_witness import LogWitness
from edge.home.witness import Notice, Witness
from edge.home.witness_key import WitnessKeyError, load_or_create_witness_key

log = logging.getLogger(__name__)

SILENCE_CHECK_S = 5.0


def default_db() -> Path:
    """`$XDG_STATE_HOME/doorbell/watch.sqlite` (default `~/.local/state/...`)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "doorbell" / "watch.sqlite"


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `watch` command."""
    parser = sub.add_parser(
        "watch",
        help="home server: record every doorbell's events and check their ledger heads",
        description=(
            "Subscribe to every doorbell on a broker, keep their events in SQLite, print a "
            "line per event, warn when one goes offline and when a published ledger head "
            "does not extend the one before. Stops cleanly on Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument("--host", required=True, help="broker host name or address")
    parser.add_argument("--port", type=int, help="broker port (default 1883, 8883 with TLS)")
    parser.add_argument("--tls", action="store_true", help="use TLS with the system's CAs")
    parser.add_argument("--tls-ca", type=Path, metavar="FILE", help="use TLS with this CA file")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-file", type=Path, metavar="FILE", help="broker password file")
    parser.add_argument("--db", type=Path, default=None, help=f"SQLite file ({default_db()})")
    parser.add_argument(
        "--topic-root", default="doorbell", help="subscribe to ROOT/# (default: doorbell)"
    )
    parser.add_argument(
        "--client-id",
        help="MQTT client id; a fixed id keeps a persistent session, so the broker queues "
        "events while the watcher is down (default: doorbell-watch-<hostname>)",
    )
    parser.add_argument(
        "--witness-key",
        type=Path,
        metavar="FILE",
        help="the witness's Ed25519 key, made on first start (default: witness.key next to --db)",
    )
    parser.add_argument(
        "--witness-name",
        help="key name in cosignatures (default: doorbell-witness.local/<hostname>)",
    )
    parser.add_argument(
        "--mirror",
        type=Path,
        metavar="DIR",
        help="the home server's mirror (one folder per device id): its ledgers fill gaps "
        "in the proofs, and cosignatures and evidence are also written there",
    )
    parser.set_defaults(func=_watch)


def _settings(args: argparse.Namespace) -> BrokerSettings:
    if args.password_file is not None and args.username is None:
        raise CommandError("--password-file needs --username")
    tls = TlsSettings(ca_file=args.tls_ca) if (args.tls or args.tls_ca) else None
    client_id = args.client_id or "doorbell-watch-" + re.sub(
        r"[^A-Za-z0-9_-]", "-", socket.gethostname()
    )
    try:
        password = read_password(args.password_file) if args.password_file else None
    except MqttSetupError as exc:
        raise CommandError(str(exc)) from None
    return BrokerSettings(
        host=args.host,
        port=args.port or (8883 if tls else 1883),
        client_id=client_id,
        username=args.username,
        password=password,
        tls=tls,
        keepalive=30,
    )


def _watch(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = args.db or default_db()
    key_path = args.witness_key or db.parent / "witness.key"
    name = args.witness_name or "doorbell-witness.local/" + re.sub(
        r"[^A-Za-z0-9_.-]", "-", socket.gethostname()
    )
    try:
        check_key_name(name)
        key = load_or_create_witness_key(key_path)
    except (NoteError, WitnessKeyError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"cannot make the witness key {key_path}: {exc.strerror}") from None
    witness = Witness(
        db,
        log_witness=lambda conn: LogWitness(
            conn, key, name, db.parent / "evidence", mirror=args.mirror
        ),
    )
    print(f"witness {name} key {key.signing_public}", flush=True)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _s, _f: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        return _run(settings, f"{args.topic_root}/#", witness, stop, db)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        witness.close()


@dataclass
class _LinkState:
    """What the paho callbacks learnt about the connection."""

    connected: bool = False
    refused: str | None = None
    was_connected: bool = False


def _run(
    settings: BrokerSettings, subscription: str, witness: Witness, stop: threading.Event, db: Path
) -> int:
    state = _LinkState()

    def on_connect(client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            if state.refused is None and state.was_connected:
                _warn("-", connack_problem(reason))
            state.refused = connack_problem(reason)
            return
        state.refused = None
        state.was_connected = True
        state.connected = True
        client.subscribe(subscription, qos=1)

    def on_disconnect(*_args: Any) -> None:
        state.connected = False

    def on_message(sender: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        split = split_device_topic(message.topic)
        if split is None:
            return  # not a doorbell topic (commands, discovery, other devices' traffic)
        device, suffix = split
        try:
            notices = witness.observe(device, suffix, bytes(message.payload))
        except Exception:
            log.exception("could not record a message on %s", message.topic)
            return
        _print(notices)
        for prefix, out_suffix, payload in witness.take_outgoing():
            sender.publish(f"{prefix}/{out_suffix}", payload.encode(), qos=1, retain=True)

    try:
        client = make_client(settings)
    except MqttSetupError as exc:
        raise CommandError(str(exc)) from None
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    try:
        client.connect(settings.host, settings.port, settings.keepalive)
    except (OSError, ValueError) as exc:
        raise CommandError(connect_problem(exc, settings)) from None
    while not state.connected and not stop.is_set():
        rc = client.loop(timeout=0.2)
        if state.refused:
            raise CommandError(state.refused)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise CommandError(f"connection to {settings.host}:{settings.port} closed at once")
    print(
        f"watching {subscription} on {settings.host}:{settings.port}; recording to {db}",
        flush=True,
    )
    backoff = Backoff(initial=1.0, maximum=30.0)
    next_check = time.monotonic() + SILENCE_CHECK_S
    while not stop.is_set():
        rc = client.loop(timeout=0.5)
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + SILENCE_CHECK_S
            _print(witness.check_silence())
        if rc == mqtt.MQTT_ERR_SUCCESS:
            continue
        _warn("-", f"lost the connection to {settings.host}:{settings.port}; reconnecting")
        while not stop.is_set():
            stop.wait(backoff.next_delay())
            try:
                client.reconnect()
                backoff.reset()
                break
            except (OSError, ValueError) as exc:
                log.warning("%s", connect_problem(exc, settings))
    if state.connected:
        client.disconnect()
        client.loop(timeout=0.2)
    return 0


def _print(notices: list[Notice]) -> None:
    for notice in notices:
        if notice.kind == "warning":
            _warn(notice.device, notice.text)
        else:
            print(f"{rfc3339(utc_now())} {notice.device}: {notice.text}", flush=True)


def _warn(device: str, text: str) -> None:
    print(f"{rfc3339(utc_now())} WARNING {device}: {text}", file=sys.stderr, flush=True)
