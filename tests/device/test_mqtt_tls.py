"""TLS and passwords: a verified, authenticated connection works; a wrong password or an
untrusted certificate is reported in words a user can act on."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from conftest import BROKER_PASSWORD, BROKER_USER
from mosquitto import Mosquitto, Subscriber, TlsFiles, device_config, make_tls_files

from edge.core.config.models import Config
from edge.core.mqtt.connection import Backoff
from edge.device.events.publisher import Publisher


def tls_config(
    broker: Mosquitto, tmp_path: Path, ca: Path, password: str, **extra: object
) -> Config:
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return device_config(
        broker,
        tmp_path / "state",
        username=BROKER_USER,
        password_file=str(password_file),
        tls=True,
        tls_ca_file=str(ca),
        discovery=False,
        **extra,
    )


def wait_for_error(publisher: Publisher, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        error = publisher.status.last_error
        if error:
            return error
        time.sleep(0.02)
    raise AssertionError("no error reported")


def test_tls_and_password_connection_publishes(
    mosquitto_tls: Mosquitto, tls_files: TlsFiles, tmp_path: Path
) -> None:
    config = tls_config(mosquitto_tls, tmp_path, tls_files.ca_cert, BROKER_PASSWORD)

    def secure(client: mqtt.Client) -> None:
        client.tls_set(ca_certs=str(tls_files.ca_cert))
        client.username_pw_set(BROKER_USER, BROKER_PASSWORD)

    subscriber = Subscriber(mosquitto_tls, ["doorbell/front/motion"], configure=secure)
    publisher = Publisher(config, backoff=Backoff(0.05, 0.3))
    publisher.start()
    try:
        assert publisher.wait_connected(5), publisher.status.last_error
        publisher.publish_motion(True)
        # OFF at connect (no stale ON survives a restart), then the motion.
        assert subscriber.wait_for(lambda m: [x.payload for x in m] == [b"OFF", b"ON"])
    finally:
        publisher.stop()
        subscriber.close()


def test_wrong_password_is_reported_clearly_and_once(
    mosquitto_tls: Mosquitto,
    tls_files: TlsFiles,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = tls_config(mosquitto_tls, tmp_path, tls_files.ca_cert, "wrong password")
    publisher = Publisher(config, backoff=Backoff(0.05, 0.1))
    with caplog.at_level(logging.ERROR, logger="edge.device.events.publisher"):
        publisher.start()
        try:
            error = wait_for_error(publisher)
            time.sleep(0.5)  # several more attempts
            assert not publisher.status.connected
        finally:
            publisher.stop()
    assert "refused" in error and "wrong user name or password" in error
    assert caplog.text.count("broker refused the connection") == 1


def test_untrusted_broker_certificate_is_reported(mosquitto_tls: Mosquitto, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca"
    config = tls_config(mosquitto_tls, tmp_path, make_tls_files(other_ca).ca_cert, BROKER_PASSWORD)
    publisher = Publisher(config, backoff=Backoff(0.05, 0.1))
    publisher.start()
    try:
        error = wait_for_error(publisher)
    finally:
        publisher.stop()
    assert "not trusted" in error and "CA file" in error


def test_certificate_for_another_host_name_is_refused_unless_insecure(
    mosquitto_tls: Mosquitto, tls_files: TlsFiles, tmp_path: Path
) -> None:
    # The certificate names localhost and 127.0.0.1; "127.1" is the same address
    # written in a way the certificate does not name.
    config = tls_config(mosquitto_tls, tmp_path, tls_files.ca_cert, BROKER_PASSWORD)
    config.mqtt.host = "127.1"
    publisher = Publisher(config, backoff=Backoff(0.05, 0.1))
    publisher.start()
    try:
        error = wait_for_error(publisher)
    finally:
        publisher.stop()
    assert "does not name '127.1'" in error
    config.mqtt.tls_insecure = True  # the chain is still verified, the name is not
    publisher = Publisher(config, backoff=Backoff(0.05, 0.1))
    publisher.start()
    try:
        assert publisher.wait_connected(5), publisher.status.last_error
    finally:
        publisher.stop()
