"""The owner's orders about stored clips: `clips delete` has the daemon delete them, `clips
keep` protects them from retention, and only orders the owner signed count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from daemon_support import Device, make_device

from edge.cli import main
from edge.core.log import entries
from edge.core.log.decision import owner_decision_body, sign_decision
from edge.core.log.ledger import Ledger
from edge.core.log.owner_orders import owner_orders
from edge.core.store.reading import read_clips
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import scene_frames
from edge.device.store.device_key import load_or_create
from edge.owner.owner_key import OwnerKey


def recorded(tmp_path: Path, extra: str = "") -> tuple[Device, str]:
    device = make_device(tmp_path, extra)
    Daemon(device.config, frames=scene_frames(14.0)).run()
    (clip,) = read_clips(device.state)
    return device, clip.id


def order(device: Device, action: str, clip_id: str) -> int:
    key, config = str(device.owner_key_path), str(device.config_path)
    return main(["clips", action, clip_id, "-i", key, "-c", config, "--reason", "test"])


def statuses(device: Device) -> dict[str, tuple[str, str | None]]:
    return {c.id: (c.status, c.delete_reason) for c in read_clips(device.state, True)}


def test_a_delete_order_is_carried_out_by_the_daemon_and_logged(tmp_path) -> None:
    device, clip_id = recorded(tmp_path)
    assert order(device, "delete", clip_id) == 0
    assert statuses(device)[clip_id][0] == "complete"  # the order, not yet the deed
    Daemon(device.config, frames=scene_frames(1.0)).run()  # the next start
    assert statuses(device)[clip_id] == ("deleted", "owner")
    assert not list(device.state.glob(f"clips/*/*/*/{clip_id}/*.age"))
    log = [json.loads(x) for x in (device.state / "ledger.jsonl").read_text().splitlines()]
    assert [e["body"]["reason"] for e in log if e["type"] == "clip.deleted"] == ["owner"]


def test_a_kept_clip_outlives_the_retention_that_takes_the_others(tmp_path) -> None:
    device, kept = recorded(tmp_path)
    Daemon(device.config, frames=scene_frames(14.0)).run()
    other = next(c for c in statuses(device) if c != kept)
    assert order(device, "keep", kept) == 0
    # A quota smaller than the two clips: the oldest goes first, unless it is kept.
    assert sum(c.bytes for c in read_clips(device.state)) > 1024**2
    config = device.config.model_copy(
        update={"storage": device.config.storage.model_copy(update={"max_bytes": 1024**2})}
    )
    Daemon(config, frames=scene_frames(1.0)).run()
    now = statuses(device)
    assert now[kept][0] == "complete"
    assert now[other] == ("deleted", "quota")
    assert owner_orders(
        Ledger.in_state_dir(device.state).entries(), [device.owner.signing_public]
    ).keep == {kept}


def test_an_order_the_owner_did_not_sign_is_no_order(tmp_path) -> None:
    device, clip_id = recorded(tmp_path)
    forger = OwnerKey.generate()
    ledger = Ledger.in_state_dir(device.state)
    ledger.append(forger, entries.CLIP_DELETE, entries.clip_order([clip_id], "forged"))
    # Nor an owner decision whose signature is not the owner's, even device-appended.
    decision = sign_decision(
        forger, "test", entries.CLIP_DELETE, entries.clip_order([clip_id], "x")
    )
    ledger.append(
        load_or_create(device.state), entries.OWNER_DECISION, owner_decision_body(decision)
    )
    Daemon(device.config, frames=scene_frames(1.0)).run()
    assert statuses(device)[clip_id][0] == "complete"


def test_a_delete_decided_on_the_mirror_counts_once_the_device_has_it(tmp_path) -> None:
    device, clip_id = recorded(tmp_path)
    decision = sign_decision(
        device.owner, "test", entries.CLIP_DELETE, entries.clip_order([clip_id], None)
    )
    Ledger.in_state_dir(device.state).append(
        load_or_create(device.state), entries.OWNER_DECISION, owner_decision_body(decision)
    )
    Daemon(device.config, frames=scene_frames(1.0)).run()
    assert statuses(device)[clip_id] == ("deleted", "owner")


def test_an_order_for_an_unknown_clip_is_refused(tmp_path, capsys) -> None:
    device, _clip_id = recorded(tmp_path)
    assert order(device, "delete", "20990101T000000Z-beef") == 1
    assert "no clip 20990101T000000Z-beef" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["keep", "delete"])
def test_on_the_mirror_an_order_is_a_pending_signed_decision(tmp_path, action, capsys) -> None:
    device, clip_id = recorded(tmp_path)
    mirror = tmp_path / "mirror"
    (mirror / "test").mkdir(parents=True)
    for name in ("index.sqlite", "device.pub"):
        (mirror / "test" / name).write_bytes((device.state / name).read_bytes())
    key = str(device.owner_key_path)
    assert main(["clips", action, clip_id, "-i", key, "--mirror", str(mirror)]) == 0
    (pending,) = (mirror / "test" / "decisions" / "pending").glob("*.json")
    decision = json.loads(pending.read_text())
    assert decision["type"] == f"clip.{'kept' if action == 'keep' else 'delete'}"
    assert decision["body"]["clips"] == [clip_id]
