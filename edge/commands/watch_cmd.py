"""`doorbell watch`: the home server's subscriber and witness of every doorbell on a broker.

Needs no camera and no owner key. It keeps every event in SQLite, prints a line per event,
warns when a doorbell goes offline or falls silent, and witnesses every doorbell's audit
log: each signed checkpoint is cosigned with the witness key when it extends the last
one, and refused with an alarm (MQTT, Home Assistant, evidence files) when it does not.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import socket
import threading
from pathlib import Path

from edge.commands import CommandError
from edge.core.log.note import NoteError, check_key_name
from edge.core.mqtt.connection import (
    BrokerSettings,
    MqttSetupError,
    TlsSettings,
    read_password,
)
from edge.core.mqtt.session import LinkRefused
from edge.home.log_witness import LogWitness
from edge.home.watch import default_db, watch
from edge.home.witness import Witness
from edge.home.witness_key import WitnessKeyError, load_or_create_witness_key

log = logging.getLogger(__name__)


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
        watch(settings, f"{args.topic_root}/#", witness, stop, db)
    except (LinkRefused, MqttSetupError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        witness.close()
    return 0
