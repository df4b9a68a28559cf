"""Footage requests: strictly validated, stored as pending, decided only by the owner's key."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from share_support import Device, make_device, record_clip

from edge.cli import main
from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.store.outbox import Outbox
from edge.core.store.requests import InvalidRequestError, open_book, parse_request
from edge.device.consent.intake import RequestIntake, RequestRefusedError
from edge.owner.owner_key import OwnerKey
from edge.owner.state_audit import audit_state_dir

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def request(**changes: Any) -> dict[str, Any]:
    data = {
        "requester": "PC A. Jones",
        "organisation": "Metropolitan Police",
        "contact": "a.jones@example.police.uk",
        "reason": "Burglary at number 12; looking for a person walking past",
        "case_ref": "CR-2026-0042",
        "from": "2026-05-01T18:00:00Z",
        "to": "2026-05-01T20:30:00+01:00",
        "recipient": RECIPIENT,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


def test_a_complete_request_is_accepted_with_times_normalised_to_utc() -> None:
    parsed = parse_request(request())
    assert parsed.payload()["from"] == "2026-05-01T18:00:00.000Z"
    assert parsed.payload()["to"] == "2026-05-01T19:30:00.000Z"
    assert parsed.request_id().startswith("req-")


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"image": "/9j/4AAQ"}, "image: unknown field"),
        ({"case_ref": None}, "case_ref: Field required"),
        ({"to": "2026-05-01T17:00:00Z"}, "'to' must be after 'from'"),
        ({"to": "2026-06-15T18:00:00Z"}, "at most 31 days"),
        ({"from": "2026-05-01 18:00"}, "from: must be an RFC 3339 time"),
        ({"from": "2026-05-01T18:00:00"}, "from: must be an RFC 3339 time"),
        ({"from": 1777658400}, "from: must be an RFC 3339 time"),
        ({"from": "2026-05-01T18:00:00Z\n"}, "from: must be an RFC 3339 time"),
        ({"case_ref": 42}, "case_ref: Input should be a valid string"),
        ({"requester": ""}, "requester: String should have at least 1 character"),
        ({"reason": "line one\nline two"}, "reason: must be one line"),
        ({"contact": "x" * 201}, "contact: String should have at most 200 characters"),
        ({"recipient": RECIPIENT[:-1] + "q"}, "recipient: not an age X25519 recipient"),
        ({"recipient": "ssh-ed25519 AAAA"}, "recipient: String should match pattern"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(
    changes: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_request(request(**changes))
    assert problem in str(info.value)


def test_received_request_is_pending_in_the_ledger_and_announced_without_details(
    device: Device,
) -> None:
    intake = RequestIntake(device.state, device.audit, clock=lambda: 1_780_000_000.0)
    stored = intake.on_footage_request(request())
    assert (stored.status, stored.source) == ("pending", "mqtt")

    last = list(Ledger.in_state_dir(device.state).entries())[-1]
    assert (last.type, last.actor) == (entries.REQUEST_RECEIVED, "device")
    assert last.body["request"] == stored.id
    assert last.body["payload"]["case_ref"] == "CR-2026-0042"

    with Outbox(device.state) as outbox:
        rows = [row for row in outbox.pending(100) if row.topic == "requests/status"]
    assert len(rows) == 1
    assert json.loads(rows[0].payload) == {
        "schema": 1,
        "id": stored.id,
        "status": "pending",
        "time": "2026-05-28T20:26:40.000Z",
    }


def test_the_same_request_delivered_twice_is_stored_once(device: Device) -> None:
    intake = RequestIntake(device.state, device.audit)
    first = intake.on_footage_request(request())
    again = intake.on_footage_request(request())
    assert again.id == first.id
    with open_book(device.state) as book:
        assert len(book.list()) == 1
    received = [
        e for e in Ledger.in_state_dir(device.state).entries() if e.type == entries.REQUEST_RECEIVED
    ]
    assert len(received) == 1


def test_a_flood_of_requests_is_capped(device: Device) -> None:
    intake = RequestIntake(device.state, device.audit, max_pending=3)
    for n in range(3):
        intake.on_footage_request(request(case_ref=f"CR-{n}"))
    with pytest.raises(RequestRefusedError, match="3 requests are already pending"):
        intake.on_footage_request(request(case_ref="CR-flood"))


def cli(device: Device, *args: str) -> int:
    return main([*args, "--config", str(device.config)])


def owner_args(device: Device) -> list[str]:
    return ["--identity", str(device.owner_key_file)]


def test_owner_adds_lists_and_shows_a_request(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request()))
    assert cli(device, "requests", "add", "--from-file", str(path)) == 0
    request_id = capsys.readouterr().out.split()[0]

    assert cli(device, "requests", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"], r["source"]) for r in listed] == [
        (request_id, "pending", "owner")
    ]
    assert cli(device, "requests", "show", request_id) == 0
    assert "Metropolitan Police" in capsys.readouterr().out


def test_owner_add_with_options_goes_through_the_same_checks(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    options = [
        f"--{'until' if key == 'to' else key.replace('_', '-')}={value}"
        for key, value in request(to="2026-04-01T00:00:00Z").items()
    ]
    assert cli(device, "requests", "add", *options) == 1
    assert "'to' must be after 'from'" in capsys.readouterr().err


def test_deny_is_an_owner_signed_decision_with_its_reason(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = RequestIntake(device.state, device.audit).submit(request(), "owner")
    code = cli(device, "requests", "deny", stored.id, *owner_args(device), "--reason", "no warrant")
    assert code == 0
    with open_book(device.state) as book:
        denied = book.get(stored.id)
    assert denied is not None
    assert (denied.status, denied.decision_reason) == ("denied", "no warrant")
    last = list(Ledger.in_state_dir(device.state).entries())[-1]
    assert (last.type, last.actor, last.key) == (
        entries.REQUEST_DENIED,
        "owner",
        device.owner.signing_public,
    )
    assert last.body["payload_sha256"] == stored.request.payload_sha256()
    assert last.body["reason"] == "no warrant"
    with Outbox(device.state) as outbox:
        statuses = [
            json.loads(r.payload)["status"]
            for r in outbox.pending(100)
            if r.topic == "requests/status"
        ]
    assert statuses == ["pending", "denied"]

    capsys.readouterr()
    assert cli(device, "requests", "approve", stored.id, *owner_args(device), "--out", "x") == 1
    assert "already denied" in capsys.readouterr().err


def test_approve_shares_exactly_the_clips_in_the_window(device: Device, tmp_path: Path) -> None:
    now = time.time()
    before = record_clip(device, now - 7200)
    inside = record_clip(device, now - 1800)
    after = record_clip(device, now - 60)
    window = {
        "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 3600)),
        "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 600)),
    }
    stored = RequestIntake(device.state, device.audit).submit(request(**window), "mqtt")
    out = tmp_path / "for-police"
    assert (
        cli(device, "requests", "approve", stored.id, *owner_args(device), "--out", str(out)) == 0
    )

    manifest = json.loads((out / "manifest.json").read_text())
    assert [clip["id"] for clip in manifest["clips"]] == [inside]
    assert manifest["request"] == stored.id and manifest["recipient"] == RECIPIENT
    assert not (out / before).exists() and not (out / after).exists()
    types = [e.type for e in Ledger.in_state_dir(device.state).entries()][-2:]
    assert types == [entries.CLIP_SHARED, entries.REQUEST_APPROVED]
    assert audit_state_dir(device.state, [device.owner.signing_public]).ok


def test_a_decision_needs_an_owner_key_from_the_config(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = RequestIntake(device.state, device.audit).submit(request(), "mqtt")
    stranger = tmp_path / "stranger.key"
    OwnerKey.generate().save(stranger, None)
    assert cli(device, "requests", "deny", stored.id, "--identity", str(stranger)) == 1
    assert "not in owner.signing_keys" in capsys.readouterr().err
    with open_book(device.state) as book:
        assert book.get(stored.id).status == "pending"
