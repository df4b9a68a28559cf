"""Owner decisions made off the device reach its log: appended once, only when the owner's
signature verifies, and checked again by anyone who audits the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Subscriber, device_config
from share_support import Device, make_device

from edge.core.log import entries
from edge.core.log.canonical import canonical_json
from edge.core.log.decision import sign_decision
from edge.core.log.ledger import LEDGER_FILENAME, Ledger
from edge.core.mqtt.connection import Backoff
from edge.core.store.outbox import Outbox
from edge.device.consent.decisions import DecisionIntake
from edge.device.events.publisher import Publisher
from edge.home.decision_relay import DecisionRelay
from edge.owner.mirror_dir import record_decision
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import audit_state_dir


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


def intake(device: Device, device_id: str = "front-door") -> DecisionIntake:
    return DecisionIntake(device.audit, device_id, [device.owner.signing_public])


def decisions_in_log(device: Device) -> list[dict]:
    return [
        e.body["decision"]
        for e in Ledger.in_state_dir(device.state).entries()
        if e.type == entries.OWNER_DECISION
    ]


def export_decision(owner: OwnerKey, device: str = "front-door") -> dict:
    return sign_decision(owner, device, entries.CLIP_EXPORTED, entries.clip_exported(["c1"], "x"))


def test_a_signed_decision_is_appended_once_and_the_log_verifies(device: Device) -> None:
    decision = export_decision(device.owner)
    assert intake(device).on_decision(dict(decision)) is True
    assert intake(device).on_decision(dict(decision)) is False  # sent again: no second entry
    assert decisions_in_log(device) == [decision]
    result = audit_state_dir(device.state, [device.owner.signing_public])
    assert result.chain.problem is None, result.chain.problem


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda d: {**d, "body": {"clips": ["every clip"], "purpose": None}}, "signature"),
        (lambda d: {**d, "device": "back-door"}, "not 'front-door'"),
        (lambda d: {**d, "type": "privacy.changed"}, "not an owner decision"),
        (lambda d: {k: v for k, v in d.items() if k != "sig"}, "exactly the fields"),
    ],
)
def test_an_altered_or_misdirected_decision_is_refused(device: Device, change, why) -> None:
    with pytest.raises(ValueError, match=why):
        intake(device).on_decision(change(export_decision(device.owner)))
    assert decisions_in_log(device) == []


def test_a_decision_signed_by_a_key_the_device_does_not_trust_is_refused(device) -> None:
    with pytest.raises(ValueError, match="not a pinned owner key"):
        intake(device).on_decision(export_decision(OwnerKey.generate()))
    # Nor by the device's own key, which a thief holds.
    with pytest.raises(ValueError, match="not a pinned owner key"):
        intake(device).on_decision(export_decision(device.store.device_key))


def test_a_decision_rewritten_in_the_log_by_the_device_key_fails_the_audit(device) -> None:
    intake(device).on_decision(export_decision(device.owner))
    path = device.state / LEDGER_FILENAME
    lines = path.read_bytes().splitlines()
    entry = json.loads(lines[-1])
    entry["body"]["decision"]["body"]["purpose"] = "anything the thief likes"
    unsigned = {k: v for k, v in entry.items() if k != "sig"}
    from edge.core.log.signing import encode_signature

    entry["sig"] = encode_signature(device.store.device_key.sign(canonical_json(unsigned)))
    path.write_bytes(b"\n".join([*lines[:-1], canonical_json(entry)]) + b"\n")
    result = audit_state_dir(device.state, [device.owner.signing_public])
    assert result.chain.problem is not None
    assert "owner decision inside is not valid" in str(result.chain.problem)


def test_the_relay_sends_pending_decisions_until_the_mirrored_log_holds_them(
    device: Device, tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    folder = mirror / "front-door"
    folder.mkdir(parents=True)
    path = record_decision(
        folder, device.owner, entries.CLIP_EXPORTED, {"clips": [], "purpose": None}
    )
    relay = DecisionRelay(mirror, "doorbell")
    ((topic, payload),) = relay.due()
    assert topic == "doorbell/front-door/decisions/new"
    assert list(relay.due()) == [(topic, payload)]  # again, until the log has it
    assert intake(device).on_decision(json.loads(payload))
    # The device's log comes back to the mirror (the mirror's ledger copy).
    (folder / LEDGER_FILENAME).write_bytes((device.state / LEDGER_FILENAME).read_bytes())
    assert list(relay.due()) == []
    assert not path.exists()
    assert (folder / "decisions" / "delivered" / path.name).is_file()


def test_a_decision_sent_over_the_broker_lands_in_the_log(
    mosquitto: Mosquitto, device: Device, tmp_path: Path
) -> None:
    config = device_config(mosquitto, device.state, discovery=False)
    publisher = Publisher(
        config,
        lambda: Outbox(device.state),
        on_owner_decision=intake(device, "front").on_decision,
        backoff=Backoff(0.05, 0.3),
        poll_interval_s=0.05,
    )
    publisher.start()
    home = Subscriber(mosquitto, [])
    try:
        assert publisher.wait_connected(5)
        time.sleep(0.2)
        decision = export_decision(device.owner, "front")
        home.publish(f"{publisher.topics.prefix}/decisions/new", json.dumps(decision))
        deadline = time.monotonic() + 5
        while not decisions_in_log(device) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert decisions_in_log(device) == [decision]
    finally:
        publisher.stop()
        home.close()
