"""Inbound MQTT is hostile until proven otherwise: only good privacy commands and footage
requests reach the daemon, the network can only make the device more private, and no
message can crash anything."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from commands_support import privacy, request
from mosquitto import Mosquitto, Subscriber, device_config

from edge.core.mqtt.command_time import MAX_AGE_S, MAX_AHEAD_S, command_payload, privacy_command
from edge.core.mqtt.connection import Backoff
from edge.core.mqtt.topics import Topics
from edge.core.timestamps import rfc3339, utc_now
from edge.device.events.commands import MAX_INBOUND_BYTES, CommandRouter
from edge.device.events.publisher import Publisher
from edge.device.events.rate_limit import RateLimit

NAMES = Topics("doorbell/front")
PRIVACY_SET = "doorbell/front/privacy/set"
REQUEST_NEW = "doorbell/front/requests/new"
GOOD_REQUEST = {
    "requester": "Officer A. Example",
    "organisation": "Example Police",
    "contact": "a.example@police.example",
    "reason": "Burglary on the street",
    "case_ref": "2026-1234",
    "from": "2026-11-27T10:00:00Z",
    "to": "2026-11-27T11:00:00Z",
    "recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
}


class Daemon:
    """Records what the router lets through; thread-safe like the real daemon must be."""

    def __init__(self) -> None:
        self.privacy: list[tuple[bool, str]] = []
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def set_privacy_mode(self, on: bool, source: str) -> None:
        with self.lock:
            self.privacy.append((on, source))

    def on_footage_request(self, payload: dict[str, Any]) -> None:
        assert isinstance(payload, dict)
        with self.lock:
            self.requests.append(payload)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def router(daemon: Daemon, clock: Clock | None = None, **kwargs: Any) -> CommandRouter:
    return CommandRouter(
        NAMES,
        privacy=daemon,
        on_footage_request=daemon.on_footage_request,
        clock=clock or Clock(),
        **kwargs,
    )


def test_privacy_on_from_the_network_reaches_the_daemon() -> None:
    daemon = Daemon()
    verdict = router(daemon).handle(PRIVACY_SET, privacy(True))
    assert verdict.accepted
    assert daemon.privacy == [(True, "mqtt")]


def test_privacy_off_from_the_network_is_refused_unless_configured() -> None:
    daemon = Daemon()
    verdict = router(daemon).handle(PRIVACY_SET, privacy(False))
    assert not verdict.accepted
    assert "allow_remote_unpause" in verdict.reason
    assert daemon.privacy == []
    assert router(daemon, allow_remote_unpause=True).handle(PRIVACY_SET, privacy(False)).accepted
    assert daemon.privacy == [(False, "mqtt")]


def test_footage_request_is_handed_over_as_a_dict() -> None:
    daemon = Daemon()
    assert router(daemon).handle(REQUEST_NEW, request(GOOD_REQUEST)).accepted
    assert daemon.requests == [GOOD_REQUEST]


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        (PRIVACY_SET, b"on", "privacy command refused: invalid JSON"),
        (PRIVACY_SET, b"ON ", "privacy command refused: invalid JSON"),
        (PRIVACY_SET, b"ON", "privacy command refused: invalid JSON"),
        (PRIVACY_SET, b"true", "got a JSON bool"),
        (PRIVACY_SET, b'{"state": "ON"}', "must say when it was sent"),
        (PRIVACY_SET, b"\xff\xfeO\x00N\x00", "not UTF-8"),
        (PRIVACY_SET, b"O" * (MAX_INBOUND_BYTES + 1), "larger than"),
        (REQUEST_NEW, b"", "invalid JSON"),
        (REQUEST_NEW, b"[1, 2, 3]", "got a JSON list"),
        (REQUEST_NEW, b'"please send footage"', "got a JSON str"),
        (REQUEST_NEW, b"42", "got a JSON int"),
        (REQUEST_NEW, b"null", "got a JSON NoneType"),
        (REQUEST_NEW, b'{"a": NaN}', "NaN is not allowed"),
        (REQUEST_NEW, b'{"a": 1, "a": 2}', "duplicate key"),
        (REQUEST_NEW, b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (REQUEST_NEW, b'{"n": ' + b"9" * 5000 + b"}", "request command refused"),
        (REQUEST_NEW, b'{"caf\xc3": 1}', "not UTF-8"),
        (REQUEST_NEW, b'{"x": "' + b"A" * MAX_INBOUND_BYTES + b'"}', "larger than"),
        ("doorbell/front/redaction/set", b"OFF", "not a command topic"),
        ("doorbell/front/recipients/add", b"age1attacker", "not a command topic"),
        ("doorbell/front/clips/export", b'{"clip": "all"}', "not a command topic"),
        ("doorbell/front/faces/set", b"OFF", "not a command topic"),
        ("doorbell/front/#", b"ON", "not a command topic"),
    ],
)
def test_bad_inbound_message_is_dropped_with_its_reason(
    topic: str, payload: bytes, why: str
) -> None:
    daemon = Daemon()
    verdict = router(daemon).handle(topic, payload)
    assert not verdict.accepted
    assert why in verdict.reason
    assert daemon.privacy == [] and daemon.requests == []


@pytest.mark.parametrize(
    "payload",
    [
        b'{"state": "ON", "time": "yesterday"}',
        b'{"state": "ON", "time": "2026-12-04T10:00:00"}',
        b'{"state": "ON", "time": 1733356800}',
        b'{"state": "MAYBE", "time": "%s"}',
        b'{"state": "ON", "time": "%s", "redaction": "off"}',
    ],
)
def test_a_privacy_command_must_have_a_time_and_nothing_else(payload: bytes) -> None:
    daemon = Daemon()
    if b"%s" in payload:
        payload = payload.replace(b"%s", rfc3339(utc_now()).encode())
    assert not router(daemon).handle(PRIVACY_SET, payload).accepted
    assert daemon.privacy == []


def test_a_command_queued_while_the_doorbell_was_offline_is_refused_when_stale() -> None:
    # What a persistent session delivers after a reconnect: not retained, just late.
    daemon = Daemon()
    sent = utc_now()
    late = router(daemon, wall_clock=lambda: sent + timedelta(seconds=MAX_AGE_S + 1))
    verdict = late.handle(PRIVACY_SET, privacy_command(False, sent))
    assert not verdict.accepted and "too old" in verdict.reason
    verdict = late.handle(REQUEST_NEW, command_payload(GOOD_REQUEST, sent))
    assert not verdict.accepted and "too old" in verdict.reason
    assert daemon.privacy == [] and daemon.requests == []
    in_time = router(daemon, wall_clock=lambda: sent + timedelta(seconds=MAX_AGE_S - 1))
    assert in_time.handle(PRIVACY_SET, privacy_command(True, sent)).accepted


def test_a_command_from_the_future_is_refused() -> None:
    daemon = Daemon()
    ahead = utc_now() + timedelta(seconds=MAX_AHEAD_S + 5)
    verdict = router(daemon).handle(PRIVACY_SET, privacy_command(True, ahead))
    assert not verdict.accepted and "future" in verdict.reason


def test_the_same_command_cannot_act_twice() -> None:
    daemon = Daemon()
    inbound = router(daemon, allow_remote_unpause=True)
    off = privacy(False)
    assert inbound.handle(PRIVACY_SET, off).accepted
    assert inbound.handle(PRIVACY_SET, privacy(True)).accepted
    replayed = inbound.handle(PRIVACY_SET, off)
    assert not replayed.accepted and "replay" in replayed.reason
    assert daemon.privacy == [(False, "mqtt"), (True, "mqtt")]


def test_retained_command_is_ignored_so_it_cannot_replay_on_every_reconnect() -> None:
    daemon = Daemon()
    verdict = router(daemon).handle(PRIVACY_SET, privacy(True), retained=True)
    assert not verdict.accepted and "retained" in verdict.reason
    assert daemon.privacy == []


def test_flood_is_rate_limited_per_topic_and_recovers() -> None:
    daemon, clock = Daemon(), Clock()
    limits = {"privacy": RateLimit(burst=5, per_minute=60)}
    inbound = router(daemon, clock, limits=limits)
    verdicts = [inbound.handle(PRIVACY_SET, privacy(True)) for _ in range(1000)]
    assert sum(v.accepted for v in verdicts) == 5
    assert {v.reason for v in verdicts[5:]} == {"rate limited"}
    # Another topic has its own bucket.
    assert inbound.handle(REQUEST_NEW, request(GOOD_REQUEST)).accepted
    clock.now += 2.0  # 60 per minute: two more tokens
    assert [inbound.handle(PRIVACY_SET, privacy(True)).accepted for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert len(daemon.privacy) == 7


def test_a_failing_handler_is_reported_not_raised() -> None:
    def refuse(_payload: dict[str, Any]) -> None:
        raise ValueError("unknown field 'thumbnail'")

    class BrokenDaemon:
        def set_privacy_mode(self, on: bool, source: str) -> None:
            raise RuntimeError("camera busy")

    inbound = CommandRouter(NAMES, privacy=BrokenDaemon(), on_footage_request=refuse, clock=Clock())
    refused = inbound.handle(REQUEST_NEW, request({"thumbnail": "x"}))
    assert not refused.accepted and "unknown field 'thumbnail'" in refused.reason
    failed = inbound.handle(PRIVACY_SET, privacy(True))
    assert not failed.accepted and "RuntimeError" in failed.reason


def test_router_subscribes_to_exact_topics_only() -> None:
    subscriptions = router(Daemon()).subscriptions
    assert sorted(subscriptions) == sorted(
        [PRIVACY_SET, REQUEST_NEW, "doorbell/front/decisions/new", "homeassistant/status"]
    )
    assert not any("+" in topic or "#" in topic for topic in subscriptions)


def test_hostile_broker_traffic_never_reaches_the_daemon_or_stops_the_link(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    daemon = Daemon()
    config = device_config(mosquitto, tmp_path / "state", discovery=False)
    publisher = Publisher(
        config,
        privacy=daemon,
        on_footage_request=daemon.on_footage_request,
        backoff=Backoff(0.05, 0.3),
    )
    publisher.publish_privacy_mode(False)
    publisher.start()
    attacker = Subscriber(mosquitto, ["doorbell/front/privacy"])
    try:
        assert publisher.wait_connected(5)
        time.sleep(0.2)  # subscriptions are in place
        hostile = [
            (PRIVACY_SET, b"OFF"),
            (PRIVACY_SET, b"\xc3\x28"),
            (PRIVACY_SET, b"X" * (MAX_INBOUND_BYTES + 1)),
            (REQUEST_NEW, b"[" * 10_000),
            (REQUEST_NEW, b'{"a": 1, "a": 2}'),
            (REQUEST_NEW, b"\xff" * 100),
            ("doorbell/front/redaction/set", b"OFF"),
            ("doorbell/front/recipients/add", b"age1attacker"),
            ("homeassistant/status", b"\x00\x01"),
        ]
        attacker.publish(REQUEST_NEW, request(GOOD_REQUEST))
        for topic, payload in hostile:
            attacker.publish(topic, payload)
        for _ in range(200):
            attacker.publish(PRIVACY_SET, privacy(True))
        deadline = time.monotonic() + 5
        while not daemon.privacy and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the rest of the flood arrive and be dropped
        with daemon.lock:
            assert daemon.requests == [GOOD_REQUEST]
            # OFF refused, then the flood: the burst of the rate limit gets through.
            assert daemon.privacy == [(True, "mqtt")] * len(daemon.privacy)
            assert 1 <= len(daemon.privacy) <= 5
        # The refused OFF was answered with the real state, so a switch flips back; the
        # rate-limited flood was not answered at all (no amplification).
        assert attacker.wait_for(lambda m: any(x.payload == b"OFF" and not x.retain for x in m))
        assert len(attacker.messages) <= 10
        assert publisher.status.connected
        publisher.publish_motion(True)
        late = Subscriber(mosquitto, ["doorbell/front/motion"])
        assert late.wait_for(lambda m: m and m[-1].payload == b"ON")
        late.close()
    finally:
        publisher.stop()
        attacker.close()
