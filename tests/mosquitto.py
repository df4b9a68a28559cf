"""A real mosquitto for tests: generated config, free port on 127.0.0.1, stopped by PID.

Also makes a throw-away CA and server certificate with `cryptography` and a password
file, for the TLS + password broker, and a small subscriber that records what arrives.
"""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from paho.mqtt.enums import CallbackAPIVersion

from edge.core.config.models import Config

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
HOST = "127.0.0.1"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a server certificate for `localhost` / 127.0.0.1 signed by it."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Create a CA and a server certificate in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "doorbell test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.server_key.chmod(0o600)
    return files


def password_line(username: str, password: str) -> str:
    """A mosquitto password-file line (`$6$`: SHA-512 of password + salt)."""
    salt = os.urandom(12)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"{username}:$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class PortTakenError(RuntimeError):
    """Another process bound the port between `free_port()` and mosquitto's start."""


class Mosquitto:
    """One mosquitto process; `restart()` brings it back on the same port."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TlsFiles | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.tls = tls
        self.users = users
        self.proc: subprocess.Popen[bytes] | None = None
        self._started_before = False
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"
        self.config_path.write_text(self._config())

    def _config(self) -> str:
        lines = [
            f"listener {self.port} {HOST}",
            # Persistent sessions survive a restart, as on a real home server.
            "persistence true",
            f"persistence_location {self.workdir}/",
            "max_queued_messages 100000",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"user {getpass.getuser()}",
        ]
        if self.users is None:
            lines.append("allow_anonymous true")
        else:
            passwords = self.workdir / "passwords"
            passwords.write_text("".join(password_line(u, p) + "\n" for u, p in self.users.items()))
            passwords.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_cert}",
                f"certfile {self.tls.server_cert}",
                f"keyfile {self.tls.server_key}",
            ]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 10.0) -> None:
        """Start the broker and wait until it accepts TCP connections.

        The first start moves to another free port if someone took this one meanwhile;
        a restart keeps the port (that is what outage tests need).
        """
        for _attempt in range(3):
            try:
                self._start_once(timeout)
                return
            except PortTakenError:
                if self._started_before:
                    raise
                self.port = free_port()
                self.config_path.write_text(self._config())
        raise RuntimeError("no free port for mosquitto")

    def _start_once(self, timeout: float) -> None:
        assert self.proc is None, "already running"
        log_offset = len(self.log_text())
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                output = self.log_text()[log_offset:]
                if "Address already in use" in output:
                    raise PortTakenError(self.port)
                raise RuntimeError(f"mosquitto exited at start:\n{output}")
            # "running" is logged once the listener is open; the TCP check then proves it is
            # this mosquitto that answers on the port, not some other process.
            if " running" not in self.log_text()[log_offset:]:
                time.sleep(0.02)
                continue
            try:
                with socket.create_connection((HOST, self.port), timeout=0.2):
                    self._started_before = True
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen within {timeout} s")

    def stop(self) -> None:
        """SIGTERM by PID (mosquitto saves its sessions), SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc = None

    def restart(self) -> None:
        """Stop and start again on the same port."""
        self.stop()
        self.start()

    def log_text(self) -> str:
        """What the broker logged (for failure messages)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Received:
    """One message as a subscriber saw it."""

    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A test-side MQTT client that records every message on its subscriptions.

    With a fixed `client_id` it keeps a persistent session, so the broker queues for it
    while it is disconnected (a broker restart included).
    """

    def __init__(
        self,
        broker: Mosquitto,
        topics: list[str],
        client_id: str = "",
        configure: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._topics = topics
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not client_id,
            protocol=mqtt.MQTTv311,
        )
        if configure is not None:
            configure(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect(HOST, broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("subscriber did not subscribe")

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            return
        if self._topics:
            client.subscribe([(topic, 1) for topic in self._topics])
        else:
            self._subscribed.set()  # publish-only

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(message.topic, bytes(message.payload), message.retain))
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0) -> bool:
        """Wait until `predicate(messages)` holds."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.messages), timeout)

    def on(self, topic: str) -> list[Received]:
        """Messages received on one topic, in arrival order."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def clear(self) -> None:
        """Forget what was received so far."""
        with self._cond:
            self.messages.clear()

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish with QoS 1 and wait for the PUBACK."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def device_config(broker: Mosquitto, state_dir: Path, **mqtt_settings: Any) -> Config:
    """A doorbell config (device `front`) that publishes to `broker`."""
    return Config.model_validate(
        {
            "device": {"id": "front", "name": "Front door"},
            "storage": {"path": str(state_dir)},
            "mqtt": {"enabled": True, "host": HOST, "port": broker.port, **mqtt_settings},
        }
    )
