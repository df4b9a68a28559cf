"""`doorbell mirror`: the home server's receiver of every doorbell's mirror.

Broker options as `doorbell watch` has them, or the same keys in `--config mirror.toml`
(command-line options win). Needs no camera, no OpenCV and no owner key: it stores
ciphertext it has checked against each device's signature.
"""

from __future__ import annotations

import argparse
import re
import signal
import socket
import threading
from pathlib import Path

from edge.commands import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `mirror` command."""
    parser = sub.add_parser(
        "mirror",
        help="home server: keep a verified copy of every doorbell's encrypted clips and ledger",
        description=(
            "Receive the mirror of every doorbell on a broker (segments, their signed "
            "records, the ledger) and store it in DIR in the device's layout, one folder "
            "per device id. Stops cleanly on Ctrl-C or SIGTERM."
        ),
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="mirror.toml with [mirror]")
    parser.add_argument("--host", help="broker host name or address")
    parser.add_argument("--port", type=int, help="broker port (default 1883, 8883 with TLS)")
    parser.add_argument("--tls", action="store_true", default=None, help="use TLS")
    parser.add_argument("--tls-ca", type=Path, metavar="FILE", help="use TLS with this CA file")
    parser.add_argument("--username", help="broker user name")
    parser.add_argument("--password-file", type=Path, metavar="FILE", help="broker password file")
    parser.add_argument("--dir", type=Path, metavar="DIR", help="mirror directory")
    parser.add_argument("--topic-root", help="receive ROOT/+/mirror/# (default: doorbell)")
    parser.add_argument("--client-id", help="MQTT client id (default: doorbell-mirror-<hostname>)")
    parser.add_argument(
        "--trust-new-devices",
        action="store_true",
        default=None,
        help="pin the key a new device id first presents (trust on first use)",
    )
    parser.add_argument(
        "--retention-days",
        type=float,
        help="delete mirrored clips older than this (default 0: keep everything)",
    )
    parser.set_defaults(func=_mirror, usage_error=parser.error)


def _mirror(args: argparse.Namespace) -> int:
    from edge.core.mqtt.connection import BrokerSettings, MqttSetupError, TlsSettings, read_password
    from edge.core.mqtt.session import LinkRefused
    from edge.home.mirror_config import MirrorConfigError, MirrorReceiverConfig, load_mirror_config
    from edge.home.mirror_receiver import MirrorReceiver
    from edge.home.mirror_service import serve

    try:
        file = load_mirror_config(args.config) if args.config else MirrorReceiverConfig()
    except MirrorConfigError as exc:
        raise CommandError(str(exc)) from None
    merged = file.model_dump()
    for key in merged:
        value = getattr(args, key, None)
        if value is not None:
            merged[key] = value
    try:
        settings = MirrorReceiverConfig.model_validate(merged)
    except ValueError as exc:
        args.usage_error(" ".join(str(exc).split())[:200])
    if settings.host is None:
        args.usage_error("no broker: give --host (or host in the [mirror] config)")
    if settings.dir is None:
        args.usage_error("no mirror directory: give --dir (or dir in the [mirror] config)")
    if settings.password_file is not None and settings.username is None:
        raise CommandError("--password-file needs --username")
    use_tls = settings.tls or settings.tls_ca is not None
    try:
        password = read_password(settings.password_file) if settings.password_file else None
    except MqttSetupError as exc:
        raise CommandError(str(exc)) from None
    broker = BrokerSettings(
        host=settings.host,
        port=settings.port or (8883 if use_tls else 1883),
        client_id=settings.client_id
        or "doorbell-mirror-" + re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()),
        username=settings.username,
        password=password,
        tls=TlsSettings(ca_file=settings.tls_ca) if use_tls else None,
        keepalive=30,
    )
    try:
        receiver = MirrorReceiver(
            settings.dir,
            trust_new_devices=settings.trust_new_devices,
            retention_days=settings.retention_days,
        )
    except OSError as exc:
        raise CommandError(f"cannot use mirror directory {settings.dir}: {exc}") from None
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _s, _f: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        serve(broker, settings.topic_root, receiver, stop)
    except (LinkRefused, MqttSetupError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        receiver.close()
    return 0
