"""`doorbell audit`: the ledger of a real device state directory against its index and files."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from share_support import Device, make_device, record_clip

from edge.cli import main
from edge.core.config.models import StorageConfig
from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.mqtt.schemas import LedgerHead
from edge.device.consent.device_audit import DeviceAudit
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.export_log import record_export


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


def audit(device: Device, *args: str) -> int:
    return main(["audit", *args, "--config", str(device.config)])


def test_a_device_with_recorded_clips_verifies(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    record_clip(device, time.time() - 120)
    record_clip(device, time.time() - 60)
    device.audit.privacy_changed(True, "mqtt")
    assert audit(device, "verify", "--files") == 0
    head = device.audit.head()
    assert f"3 entries, chain and signatures ok; head seq 3 {head.hash}" in capsys.readouterr().out


def test_the_head_fits_the_health_payload(device: Device) -> None:
    record_clip(device, time.time() - 60)
    head = device.audit.head()
    assert LedgerHead(seq=head.seq, hash=head.hash).seq == 1


def test_a_clip_the_ledger_missed_is_reported_until_catch_up_records_it(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = record_clip(device, time.time() - 120)
    missed = device.store.start_clip(time.time() - 60)
    device.store.finish_clip(missed)  # a crash before the ledger append
    assert audit(device, "verify") == 1
    assert f"clip {missed} is stored but not in the ledger" in capsys.readouterr().err

    added = device.audit.catch_up(device.store)
    assert [e.body["clip"] for e in added] == [missed]
    assert device.audit.catch_up(device.store) == []
    assert audit(device, "verify") == 0
    assert recorded != missed


def test_a_retention_deletion_must_be_in_the_ledger(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    deletion = device.store.delete_clip(clip_id, "retention_days")
    assert audit(device, "verify") == 1
    assert f"clip {clip_id} was deleted without a clip.deleted entry" in capsys.readouterr().err
    entry = device.audit.clip_deleted(deletion)
    assert entry.body == {"clip": clip_id, "reason": "retention_days"}
    assert audit(device, "verify") == 0


def test_a_clip_file_changed_on_disk_is_found_with_files(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    path = device.store.segment_path(device.store.segments(clip_id)[0])
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    assert audit(device, "verify") == 0
    assert audit(device, "verify", "--files") == 1
    assert f"clip {clip_id} segment 0:" in capsys.readouterr().err


def test_an_edited_line_fails_naming_it(device: Device, capsys: pytest.CaptureFixture[str]) -> None:
    record_clip(device, time.time() - 120)
    record_clip(device, time.time() - 60)
    ledger = Ledger.in_state_dir(device.state)
    text = ledger.path.read_text()
    ledger.path.write_text(text.replace('"status":"complete"', '"status":"truncated"', 1))
    assert audit(device, "verify") == 1
    err = capsys.readouterr().err
    assert "line 1 (seq 1): signature does not verify (entry edited or forged)" in err


def test_a_torn_last_line_exits_2_and_the_next_device_append_repairs_it(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    record_clip(device, time.time() - 60)
    ledger = Ledger.in_state_dir(device.state)
    with ledger.path.open("ab") as file:
        file.write(b'{"actor":"device","bo')
    assert audit(device, "verify") == 2
    assert "incomplete last line (21 bytes" in capsys.readouterr().err
    device.audit.privacy_changed(False, "button")
    assert audit(device, "verify") == 0


def test_show_prints_every_entry(device: Device, capsys: pytest.CaptureFixture[str]) -> None:
    clip_id = record_clip(device, time.time() - 60)
    device.audit.privacy_changed(True, "mqtt")
    assert audit(device, "show", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(e["seq"], e["type"]) for e in shown] == [
        (1, entries.CLIP_STORED),
        (2, entries.PRIVACY_CHANGED),
    ]
    assert audit(device, "show") == 0
    table = capsys.readouterr().out
    assert f"clip={clip_id}" in table and "segments=2" in table


def test_a_clip_closed_by_repair_after_a_crash_is_recorded_by_catch_up(device: Device) -> None:
    clip_id = device.store.start_clip(time.time() - 30)
    writer = device.store.open_segment(clip_id)
    writer.write(b"\x00" * 1000)
    writer.close(duration_s=2.0)
    device.store.close()  # the power goes here, the clip still in progress

    with ClipStore.open(
        StorageConfig(path=device.state), [device.owner.recipient], events=StoreEvents()
    ) as store:
        added = DeviceAudit.for_store(store).catch_up(store)
    assert [(e.body["clip"], e.body["status"]) for e in added] == [(clip_id, "truncated")]
    assert audit(device, "verify", "--files") == 0


def test_an_owner_export_is_an_owner_signed_entry(device: Device) -> None:
    clip_id = record_clip(device, time.time() - 60)
    entry = record_export(device.state, device.owner, [clip_id], "for my own records")
    assert (entry.type, entry.actor, entry.key) == (
        entries.CLIP_EXPORTED,
        "owner",
        device.owner.signing_public,
    )
    assert audit(device, "verify") == 0
