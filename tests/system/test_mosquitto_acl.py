"""The home server's mosquitto config and ACL (firmware_configs/mosquitto/), run for real:
TLS, passwords, and each doorbell limited to its own topics.

The shipped files are used as they are, with only paths and the port swapped for
temporary ones. A message that must not arrive is checked with a sentinel: the same
client publishes an allowed message right after it, and messages from one client arrive
in order, so once the sentinel is there the forbidden one would have been too.
"""

from __future__ import annotations

import getpass
import re
import shutil
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from commands_support import privacy
from mosquitto import HOST, MOSQUITTO, Mosquitto, Subscriber, TlsFiles, password_line
from paho.mqtt.enums import CallbackAPIVersion

from edge.core.config.models import Config
from edge.core.mqtt import topics
from edge.core.mqtt.acl import device_acl
from edge.core.mqtt.connection import Backoff
from edge.core.mqtt.topics import Topics
from edge.device.events.publisher import Publisher

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "firmware_configs" / "mosquitto" / "doorbell.conf"
ACL = REPO / "firmware_configs" / "mosquitto" / "doorbell.acl.example"
USERS = ("front-door", "back-door", "homeassistant", "watcher", "requests", "mirror")


def password(user: str) -> str:
    return f"{user} password"


class ShippedBroker(Mosquitto):
    """mosquitto running firmware_configs/mosquitto/doorbell.conf and the example ACL."""

    def _config(self) -> str:
        assert self.tls is not None
        passwords = self.workdir / "passwords"
        passwords.write_text("".join(password_line(u, password(u)) + "\n" for u in USERS))
        passwords.chmod(0o600)
        text = CONF.read_text()
        for old, new in {
            "listener 8883\n": f"listener {self.port} {HOST}\n",
            "/etc/mosquitto/doorbell.passwd": str(passwords),
            "/etc/mosquitto/doorbell.acl": str(ACL),
            "/etc/mosquitto/certs/ca.crt": str(self.tls.ca_cert),
            "/etc/mosquitto/certs/server.crt": str(self.tls.server_cert),
            "/etc/mosquitto/certs/server.key": str(self.tls.server_key),
        }.items():
            assert old in text, f"{CONF.name} no longer has {old!r}"
            text = text.replace(old, new)
        # Started as root, mosquitto would switch to the `mosquitto` user otherwise.
        return text + f"user {getpass.getuser()}\n"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, tls_files: TlsFiles) -> Iterator[Mosquitto]:
    if not shutil.which(MOSQUITTO):
        pytest.skip("mosquitto is not installed")
    server = ShippedBroker(tmp_path_factory.mktemp("acl-broker"), tls=tls_files, users={})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def connect(broker: Mosquitto, tls_files: TlsFiles) -> Iterator:
    clients: list[Subscriber] = []

    def make(user: str, subscriptions: list[str]) -> Subscriber:
        def configure(client: mqtt.Client) -> None:
            client.username_pw_set(user, password(user))
            client.tls_set(ca_certs=str(tls_files.ca_cert))

        client = Subscriber(broker, subscriptions, configure=configure)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def topic(device: str, suffix: str) -> str:
    return f"doorbell/{device}/{suffix}"


def test_a_doorbell_publishes_all_its_topics_under_its_own_prefix(connect) -> None:
    watcher = connect("watcher", ["doorbell/#"])
    door = connect("front-door", [])
    for suffix in sorted(topics.PUBLISHED_TOPICS):
        door.publish(topic("front-door", suffix), b"x")
    expected = {topic("front-door", s) for s in topics.PUBLISHED_TOPICS}
    assert watcher.wait_for(lambda got: {m.topic for m in got} >= expected)


def test_the_mirror_user_reads_only_mirror_topics_and_a_doorbell_writes_only_its_own(
    connect,
) -> None:
    mirror = connect("mirror", ["doorbell/#"])
    door = connect("front-door", [])
    door.publish(topic("back-door", topics.MIRROR_SEGMENT), b"forged")
    door.publish(topic("front-door", topics.HEALTH), b"not for the mirror")
    door.publish(topic("front-door", topics.MIRROR_LEDGER), b"sentinel")
    assert mirror.wait_for(lambda got: any(m.payload == b"sentinel" for m in got))
    assert {m.topic for m in mirror.messages} == {topic("front-door", topics.MIRROR_LEDGER)}


def test_a_doorbell_cannot_publish_under_another_doorbells_prefix(connect) -> None:
    watcher = connect("watcher", ["doorbell/#"])
    door = connect("front-door", [])
    door.publish(topic("back-door", topics.MOTION), b"ON")
    door.publish(topic("front-door", topics.HEALTH), b"sentinel")
    assert watcher.wait_for(lambda got: any(m.payload == b"sentinel" for m in got))
    assert watcher.on(topic("back-door", topics.MOTION)) == []


def test_a_doorbell_cannot_send_commands_to_itself(connect) -> None:
    door = connect("front-door", [topic("front-door", topics.PRIVACY_SET)])
    watcher = connect("watcher", ["doorbell/#"])
    door.publish(topic("front-door", topics.PRIVACY_SET), privacy(False))
    door.publish(topic("front-door", topics.REQUEST_NEW), b"{}")
    door.publish(topic("front-door", topics.HEALTH), b"sentinel")
    assert watcher.wait_for(lambda got: any(m.payload == b"sentinel" for m in got))
    assert watcher.on(topic("front-door", topics.PRIVACY_SET)) == []
    assert watcher.on(topic("front-door", topics.REQUEST_NEW)) == []
    assert door.on(topic("front-door", topics.PRIVACY_SET)) == []


def test_a_doorbell_receives_its_own_commands_and_no_one_elses(connect) -> None:
    own = [topic("front-door", s) for s in sorted(topics.INBOUND_TOPICS)]
    door = connect("front-door", [*own, "homeassistant/status", "doorbell/+/privacy/set"])
    home_assistant = connect("homeassistant", [])
    requests = connect("requests", [])
    home_assistant.publish(topic("back-door", topics.PRIVACY_SET), privacy(True))
    requests.publish(topic("back-door", topics.REQUEST_NEW), b"{}")
    home_assistant.publish(topic("front-door", topics.PRIVACY_SET), privacy(True))
    requests.publish(topic("front-door", topics.REQUEST_NEW), b"{}")
    mirror = connect("mirror", [])
    mirror.publish(topic("back-door", topics.DECISION_NEW), b"{}")
    mirror.publish(topic("front-door", topics.DECISION_NEW), b"{}")
    home_assistant.publish("homeassistant/status", b"online")
    assert door.wait_for(
        lambda got: {m.topic for m in got} >= {*own, "homeassistant/status"}, timeout=5
    )
    assert not [m for m in door.messages if "/back-door/" in m.topic]


def test_home_assistant_may_switch_privacy_but_not_fake_doorbell_state(connect) -> None:
    watcher = connect("watcher", ["doorbell/#"])
    home_assistant = connect("homeassistant", [])
    home_assistant.publish(topic("front-door", topics.MOTION), b"ON")
    home_assistant.publish(topic("front-door", topics.CLIP_STORED), b"{}")
    home_assistant.publish(topic("front-door", topics.PRIVACY_SET), privacy(True))
    assert watcher.wait_for(lambda got: any(m.topic.endswith("/privacy/set") for m in got))
    assert [m.topic for m in watcher.messages] == [topic("front-door", topics.PRIVACY_SET)]


def test_a_doorbell_announces_discovery_only_for_itself(connect) -> None:
    home_assistant = connect("homeassistant", ["homeassistant/#"])
    door = connect("front-door", [])
    door.publish("homeassistant/binary_sensor/back-door/motion/config", b"{}")
    door.publish("homeassistant/binary_sensor/front-door/motion/config", b"{}")
    assert home_assistant.wait_for(lambda got: len(got) >= 1)
    assert [m.topic for m in home_assistant.messages] == [
        "homeassistant/binary_sensor/front-door/motion/config"
    ]


def test_the_requests_user_sees_request_status_but_no_other_state(connect) -> None:
    requests = connect("requests", ["doorbell/#", "doorbell/+/requests/status"])
    door = connect("front-door", [])
    door.publish(topic("front-door", topics.MOTION), b"ON")
    door.publish(topic("front-door", topics.REQUEST_STATUS), b"{}")
    assert requests.wait_for(lambda got: len(got) >= 1)
    assert {m.topic for m in requests.messages} == {topic("front-door", topics.REQUEST_STATUS)}


def test_no_anonymous_clients_and_no_plaintext(broker: Mosquitto, tls_files: TlsFiles) -> None:
    anonymous = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    anonymous.tls_set(ca_certs=str(tls_files.ca_cert))
    assert connack(anonymous, broker.port) == "Not authorized"
    plaintext = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    plaintext.username_pw_set("watcher", password("watcher"))
    assert connack(plaintext, broker.port) == "no CONNACK"


def connack(client: mqtt.Client, port: int) -> str:
    """The broker's answer to a connection attempt, or "no CONNACK" if it hung up."""
    answers: list[str] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(str(reason))
    try:
        client.connect(HOST, port, keepalive=5)
        for _ in range(50):
            if answers or client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (OSError, ssl.SSLError):
        pass
    finally:
        client.disconnect()
    return answers[0] if answers else "no CONNACK"


class PrivacySwitch:
    def __init__(self) -> None:
        self.calls: list[tuple[bool, str]] = []

    def set_privacy_mode(self, on: bool, source: str) -> None:
        self.calls.append((on, source))


def test_the_real_publisher_works_within_the_acl(
    broker: Mosquitto, tls_files: TlsFiles, tmp_path: Path, connect
) -> None:
    """The daemon's own MQTT code, named front-door: state, discovery and a command."""
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(password("front-door") + "\n")
    config = Config.model_validate(
        {
            "device": {"id": "front-door"},
            "storage": {"path": str(tmp_path / "state")},
            "mqtt": {
                "enabled": True,
                "host": HOST,
                "port": broker.port,
                "username": "front-door",
                "password_file": str(password_file),
                "tls": True,
                "tls_ca_file": str(tls_files.ca_cert),
            },
        }
    )
    home_assistant = connect("homeassistant", ["doorbell/#", "homeassistant/+/+/+/config"])
    switch = PrivacySwitch()
    publisher = Publisher(config, privacy=switch, backoff=Backoff(0.05, 0.3))
    publisher.start()
    try:
        assert publisher.wait_connected(5), publisher.status.last_error
        publisher.publish_motion(True)
        publisher.publish_doorbell_press()
        assert home_assistant.wait_for(
            lambda got: (
                {m.topic for m in got}
                >= {
                    topic("front-door", s) for s in (topics.AVAILABILITY, topics.MOTION, "doorbell")
                }
            )
        )
        assert home_assistant.wait_for(
            lambda got: len([m for m in got if m.topic.endswith("/config")]) >= 5
        )
        home_assistant.publish(topic("front-door", topics.PRIVACY_SET), privacy(True))
        deadline = time.monotonic() + 5
        while not switch.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert switch.calls == [(True, "mqtt")]
    finally:
        publisher.stop()


def test_acl_gives_each_doorbell_exactly_what_doorbell_config_acl_prints() -> None:
    text = ACL.read_text()
    assert not re.search(r"^pattern\b", text, re.MULTILINE)  # patterns apply to every user
    for device in ("front-door", "back-door"):
        names = Topics(prefix=f"doorbell/{device}")
        assert device_acl(names, device, device) in text


@pytest.mark.parametrize("role", ["requests", "watcher", "homeassistant"])
def test_no_other_account_can_pass_for_a_doorbell(connect, role: str) -> None:
    home_assistant = connect("homeassistant", ["homeassistant/#"])
    watcher = connect("watcher", ["doorbell/#"])
    impostor = connect(role, [])
    # Under its own name (what `pattern %u` lines allowed) and under a real doorbell's.
    for device in (role, "front-door"):
        impostor.publish(f"homeassistant/switch/{device}/privacy/config", b'{"name": "fake"}')
        impostor.publish(topic(device, topics.HEALTH), b'{"fake": true}')
        impostor.publish(topic(device, topics.AVAILABILITY), b"online")
    door = connect("front-door", [])
    door.publish("homeassistant/binary_sensor/front-door/motion/config", b"{}")
    door.publish(topic("front-door", topics.HEALTH), b"sentinel")
    assert watcher.wait_for(lambda got: any(m.payload == b"sentinel" for m in got))
    assert home_assistant.wait_for(lambda got: any(m.topic.endswith("/config") for m in got))
    fakes = (b'{"name": "fake"}', b'{"fake": true}')
    arrived = [*home_assistant.messages, *watcher.messages]
    assert not [m.topic for m in arrived if m.payload in fakes or f"/{role}/" in m.topic]
    assert not [m for m in watcher.messages if m.payload == b"online" and not m.retain]
