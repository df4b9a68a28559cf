"""How to reach the broker: settings, a configured paho client, back-off, and clear words
for why a connection failed.

Shared by the doorbell's publisher and the home server's `doorbell watch`, so both
speak TLS and passwords the same way and report a wrong password the same way.
"""

from __future__ import annotations

import random
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.core.config.models import Config

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH.
_HOSTNAME_MISMATCH = 62


class MqttSetupError(Exception):
    """The MQTT settings cannot be used (unreadable password file, bad TLS files)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS towards the broker; the certificate chain is always verified."""

    ca_file: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Everything needed to open one MQTT connection."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = None
    tls: TlsSettings | None = None
    keepalive: int = 60
    # A persistent session makes the broker keep our subscriptions and queue QoS 1
    # messages for us while we are away (a footage request sent during an outage).
    clean_session: bool = False


def read_password(path: Path) -> str:
    """Return the first line of a password file; raise `MqttSetupError` if unreadable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MqttSetupError(f"cannot read MQTT password file {path}: {exc}") from None
    if not lines or not lines[0]:
        raise MqttSetupError(f"MQTT password file {path} is empty")
    return lines[0]


def broker_settings(config: Config) -> BrokerSettings:
    """Resolve the `[mqtt]` section (defaults, password file) into connection settings."""
    section = config.mqtt
    tls = None
    if section.tls:
        tls = TlsSettings(
            ca_file=section.tls_ca_file,
            certfile=section.tls_certfile,
            keyfile=section.tls_keyfile,
            insecure=section.tls_insecure,
        )
    return BrokerSettings(
        host=section.host,
        port=section.port,
        client_id=section.client_id or f"doorbell-{config.device.id}",
        username=section.username,
        password=read_password(section.password_file) if section.password_file else None,
        tls=tls,
        keepalive=section.keepalive,
    )


def make_client(settings: BrokerSettings) -> mqtt.Client:
    """Return a paho client (MQTT 3.1.1, callback API v2) with credentials and TLS set.

    The caller sets callbacks and the last will, then calls `connect`.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=settings.client_id,
        clean_session=settings.clean_session,
        protocol=mqtt.MQTTv311,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls is not None:
        try:
            context = ssl.create_default_context(
                cafile=str(settings.tls.ca_file) if settings.tls.ca_file else None
            )
            if settings.tls.certfile is not None:
                context.load_cert_chain(
                    str(settings.tls.certfile),
                    str(settings.tls.keyfile) if settings.tls.keyfile else None,
                )
        except (OSError, ssl.SSLError) as exc:
            raise MqttSetupError(f"cannot load MQTT TLS files: {exc}") from None
        context.check_hostname = not settings.tls.insecure
        client.tls_set_context(context)
        client.tls_insecure_set(settings.tls.insecure)
    return client


def connect_problem(exc: BaseException, settings: BrokerSettings) -> str:
    """Describe an exception from `client.connect` as one line a user can act on."""
    where = f"{settings.host}:{settings.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _HOSTNAME_MISMATCH:
            return (
                f"TLS certificate of {where} does not name {settings.host!r} (use a host "
                "name the certificate lists, or set tls_insecure)"
            )
        return f"TLS certificate of {where} not trusted: {exc.verify_message} (check the CA file)"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake with {where} failed: {exc.reason or exc}"
    if isinstance(exc, ssl.CertificateError):
        return f"TLS certificate of {where} does not match the host name: {exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"connection to {where} refused (is the broker running on that port?)"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve broker host {settings.host!r}: {exc.strerror}"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"connection to {where} timed out"
    return f"cannot connect to {where}: {exc}"


def connack_problem(reason: ReasonCode) -> str:
    """Describe a refused CONNACK; bad credentials are named as such."""
    name = str(reason).lower()
    if "password" in name or "not authori" in name:
        return (
            f"broker refused the connection: {reason}: wrong user name or password, or the "
            "user may not connect (check the user name and the password file)"
        )
    return f"broker refused the connection: {reason}"


class Backoff:
    """Exponential back-off with jitter between reconnect attempts."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0) -> None:
        self._initial = initial
        self._maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        """Return the delay before the next attempt and double it for the one after."""
        delay = self._next
        self._next = min(self._next * 2.0, self._maximum)
        # Jitter spreads reconnects of many doorbells after a broker restart.
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        """Start again from the initial delay (after a connection succeeded)."""
        self._next = self._initial
