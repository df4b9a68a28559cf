"""The witness against an attacker who holds the doorbell's files and its device key.

Each attack from issue 13 is made the way that attacker can make it (rewrite the ledger,
re-sign every device entry, let the device checkpoint), and the witness must refuse the
next checkpoint, keep both signed checkpoints as evidence and raise the alarm.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from log_support import (
    DEVICE_PREFIX,
    LogDevice,
    make_log_device,
    make_witness,
    mirror_of,
    payload,
    rewrite,
)

from edge.core.log.checkpoint import cosignature_time, open_checkpoint
from edge.core.mqtt import topics


def history(tmp_path: Path) -> LogDevice:
    """Two device entries, an owner share, a device entry: four entries."""
    device = make_log_device(tmp_path)
    device.device_entry(1)
    device.device_entry(2)
    device.owner_share()
    device.device_entry(3)
    return device


def witnessed(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A device whose every checkpoint a witness saw and cosigned (sizes 1..4)."""
    device = make_log_device(tmp_path)
    witness = make_witness(tmp_path)
    for step in (
        lambda: device.device_entry(1),
        lambda: device.device_entry(2),
        device.owner_share,
        lambda: device.device_entry(3),
    ):
        outcome = witness.see(device, step())
        assert not outcome.warning, outcome.text
        assert outcome.publish[0][0] == topics.LEDGER_COSIGNED
    return device, witness


def assert_alarm(outcome, witness, kind: str) -> None:  # type: ignore[no-untyped-def]
    assert outcome.warning
    ((suffix, text),) = outcome.publish
    alarm = json.loads(text)
    assert suffix == topics.LEDGER_ALARM and alarm["state"] == "ON" and alarm["kind"] == kind
    (folder,) = (witness.evidence / DEVICE_PREFIX.replace("/", "_")).iterdir()
    assert folder.name.endswith(kind)
    notes = sorted(p.name for p in folder.glob("*.note"))
    assert notes == ["cosigned-4.note", "offending.note"]


def test_every_honest_checkpoint_is_cosigned(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    cosigned = witness.log.last_cosigned(DEVICE_PREFIX)[2]
    assert open_checkpoint(cosigned, device.key.signing_public).size == 4
    assert cosignature_time(cosigned, witness.key.signing_public) is not None
    # A repeat of an old checkpoint (QoS 1 delivers at least once) is no alarm.
    assert witness.log.on_cosigned(DEVICE_PREFIX, cosigned).text is None


def test_deleting_an_owner_entry_and_re_signing_is_caught_at_the_next_checkpoint(
    tmp_path: Path,
) -> None:
    device, witness = witnessed(tmp_path)
    rewrite(device.ledger, device.key, keep=[0, 1, 3])  # the owner's share is gone
    device.device_entry(4)
    outcome = witness.see(device, device.device_entry(5))  # size 5 again, as the attack wants
    assert "LOG REWRITTEN" in outcome.text
    assert_alarm(outcome, witness, "inconsistent")


def test_the_same_rewrite_with_the_checkpoint_file_deleted_is_caught_too(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    rewrite(device.ledger, device.key, keep=[0, 1, 3])
    (device.state / "ledger.checkpoint").unlink()  # no proof from the cosigned size at all
    first = witness.see(device, device.device_entry(4))  # size 4, no previous checkpoint
    assert "LOG FORKED" in first.text
    outcome = witness.see(device, device.device_entry(5))  # proof from the forged size 4
    assert "LOG REWRITTEN" in outcome.text and outcome.warning


def test_a_checkpoint_without_a_proof_from_the_cosigned_size_waits(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    device.device_entry(5)  # the witness misses this one (size 5)
    outcome = witness.see(device, device.device_entry(6))  # proof from 5, not from 4
    assert "no consistency proof from 4" in outcome.text and outcome.warning
    assert not outcome.publish  # nothing cosigned, no alarm: without a mirror it waits


def test_a_witness_with_the_mirror_fills_a_missed_checkpoint_from_the_ledger(
    tmp_path: Path,
) -> None:
    mirror = tmp_path / "mirror"
    device = make_log_device(tmp_path)
    witness = make_witness(tmp_path, mirror=mirror)
    witness.see(device, device.device_entry(1))
    device.device_entry(2)  # missed
    mirror_of(device, mirror)
    signed = device.device_entry(3)
    mirror_of(device, mirror)
    outcome = witness.see(device, signed)
    assert outcome.text == "cosigned the audit log at 3 entries (extends 1)"
    assert (mirror / "front-door" / "ledger.cosigned").read_text() == outcome.publish[0][1]
    # A rewritten log, missed checkpoints: the mirrored ledger shows it is no extension.
    rewrite(device.ledger, device.key, keep=[1, 0, 2])
    device.device_entry(4)
    signed = device.device_entry(5)
    outcome = witness.see(device, signed)
    assert "no consistency proof from 3" in outcome.text  # the mirror is behind: it waits
    mirror_of(device, mirror)
    outcome = witness.see(device, signed)
    assert "LOG REWRITTEN" in outcome.text


def test_truncation_is_a_rollback(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    rewrite(device.ledger, device.key, keep=[0, 1])
    outcome = witness.see(device, device.checkpoint())
    assert "ROLLED BACK" in outcome.text
    assert_alarm(outcome, witness, "rollback")


def test_truncating_then_appending_to_the_same_size_is_a_fork(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    rewrite(device.ledger, device.key, keep=[0, 1, 2])
    outcome = witness.see(device, device.device_entry(9))
    assert "FORKED" in outcome.text
    assert_alarm(outcome, witness, "fork")


def test_reordering_is_caught(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    rewrite(device.ledger, device.key, keep=[1, 0, 2, 3])  # swap the first two device entries
    outcome = witness.see(device, device.device_entry(5))
    assert "LOG REWRITTEN" in outcome.text
    assert_alarm(outcome, witness, "inconsistent")


def test_a_fork_shown_to_two_witnesses_is_caught_by_each_from_the_other(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    first, second = make_witness(tmp_path, "w1"), make_witness(tmp_path, "w2")
    for n in range(3):
        signed = device.device_entry(n)
        assert not first.see(device, signed).warning and not second.see(device, signed).warning
    saved = device.ledger.path.read_bytes(), (device.state / "ledger.checkpoint").read_text()
    real = first.see(device, device.device_entry(10))  # witness 1 sees one history
    device.ledger.path.write_bytes(saved[0])
    (device.state / "ledger.checkpoint").write_text(saved[1])
    forged = second.see(device, device.owner_share())  # witness 2 another, same size
    assert not real.warning and not forged.warning  # each alone sees a consistent log
    ((_, note_1),) = real.publish
    ((_, note_2),) = forged.publish
    caught_by_1 = first.log.on_cosigned(DEVICE_PREFIX, note_2)
    caught_by_2 = second.log.on_cosigned(DEVICE_PREFIX, note_1)
    for outcome in (caught_by_1, caught_by_2):
        assert "another witness cosigned 4 entries with a different root" in outcome.text
        assert json.loads(outcome.publish[0][1])["kind"] == "fork"
    (folder,) = (first.evidence / DEVICE_PREFIX.replace("/", "_")).iterdir()
    assert (folder / "offending.note").read_text() == note_2
    assert (folder / "cosigned-4.note").read_text() == note_1


def test_an_old_checkpoint_replayed_moves_nothing_back(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    witness = make_witness(tmp_path)
    old = payload(device, device.device_entry(1))
    assert witness.log.on_checkpoint(DEVICE_PREFIX, old).publish
    witness.see(device, device.device_entry(2))
    witness.see(device, device.device_entry(3))
    # The same message again (a QoS 1 repeat, or an attacker replaying it) changes nothing.
    assert witness.log.on_checkpoint(DEVICE_PREFIX, old).text is None
    assert witness.log.last_cosigned(DEVICE_PREFIX)[0] == 3
    # The attacker rolls the device back and has it publish the old checkpoint afresh:
    rewrite(device.ledger, device.key, keep=[0])
    replayed = old.model_copy(update={"time": datetime.now(UTC)})
    outcome = witness.log.on_checkpoint(DEVICE_PREFIX, replayed)
    assert "ROLLED BACK" in outcome.text and outcome.warning
    # ... and every checkpoint the rolled-back device signs next is refused as well.
    outcome = witness.see(device, device.device_entry(7))
    assert "ROLLED BACK" in outcome.text and outcome.warning


def test_a_new_device_key_is_refused(tmp_path: Path) -> None:
    _device, witness = witnessed(tmp_path)
    stranger = make_log_device(tmp_path, "other")
    stranger.device_entry(1)
    outcome = witness.see(stranger, stranger.device_entry(2))
    assert "now signed by" in outcome.text and outcome.warning


def test_a_checkpoint_whose_signature_does_not_verify_is_refused(tmp_path: Path) -> None:
    device, witness = witnessed(tmp_path)
    message = payload(device, device.device_entry(5))
    bigger = message.model_copy(update={"size": 6})
    outcome = witness.log.on_checkpoint(DEVICE_PREFIX, bigger)
    assert "does not verify" in outcome.text and not outcome.publish
