"""The audit ledger: appends chain and sign, and any edit, deletion, reorder or forgery is named."""

from __future__ import annotations

import base64
import json
import logging
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.core.log import entries
from edge.core.log.audit import ChainReport, verify_lines
from edge.core.log.canonical import canonical_json
from edge.core.log.ledger import GENESIS, Head, Ledger, line_hash
from edge.device.store.device_key import DeviceKey
from edge.owner.owner_key import OwnerKey


def device_key() -> DeviceKey:
    return DeviceKey(Ed25519PrivateKey.generate())


DEVICE = device_key()
OWNER = OwnerKey.generate()


def verify(ledger: Ledger, owner_keys: tuple[str, ...] = (OWNER.signing_public,)) -> ChainReport:
    return verify_lines(ledger.lines(), DEVICE.signing_public, owner_keys)


def five_entry_ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.append(DEVICE, entries.PRIVACY_CHANGED, entries.privacy_changed(True, "mqtt"))
    ledger.append(
        DEVICE,
        entries.CLIP_STORED,
        entries.clip_stored(
            "20260101T120000Z-abcd",
            "2026-01-01T12:00:00.000Z",
            "2026-01-01T12:00:04.000Z",
            "complete",
            [entries.SegmentHash(0, "a" * 64, 1000, "stored")],
        ),
    )
    ledger.append(OWNER, entries.CLIP_EXPORTED, entries.clip_exported(["c1"], "insurance"))
    ledger.append(DEVICE, entries.CLIP_DELETED, entries.clip_deleted("c1", "retention_days"))
    ledger.append(DEVICE, entries.PRIVACY_CHANGED, entries.privacy_changed(False, "button"))
    return ledger


def rewrite(ledger: Ledger, lines: list[bytes]) -> None:
    ledger.path.write_bytes(b"".join(lines))


def test_appended_entries_are_chained_signed_and_verify(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    report = verify(ledger)
    assert report.problem is None
    assert report.entries == 5
    assert report.torn_tail_bytes == 0
    lines = ledger.path.read_bytes().splitlines()
    first = json.loads(lines[0])
    assert first["seq"] == 1 and first["prev"] == GENESIS
    assert first["actor"] == "device" and first["key"] == DEVICE.signing_public
    assert json.loads(lines[1])["prev"] == line_hash(lines[0])
    assert json.loads(lines[2])["actor"] == "owner"


def test_each_line_is_canonical_json_with_an_rfc3339_utc_time(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    when = datetime(2026, 3, 1, 8, 30, 5, 123456, tzinfo=UTC)
    body = {"source": "bouton ü", "enabled": True}
    ledger.append(DEVICE, entries.PRIVACY_CHANGED, body, now=when)
    line = ledger.path.read_bytes()
    data = json.loads(line)
    assert line == canonical_json(data) + b"\n"
    assert "ü".encode() in line
    assert data["time"] == "2026-03-01T08:30:05.123Z"
    assert list(data) == sorted(data)


def test_head_is_seq_and_hash_of_the_last_line(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    assert ledger.head() == Head(0, GENESIS)
    ledger = five_entry_ledger(tmp_path)
    last = ledger.path.read_bytes().splitlines()[-1]
    assert ledger.head() == Head(5, line_hash(last))
    assert verify(ledger).head == ledger.head()


def test_flipping_any_byte_of_a_line_names_that_line(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    original = ledger.path.read_bytes()
    lines = original.splitlines(keepends=True)
    start = len(lines[0]) + len(lines[1])
    for offset in range(start, start + len(lines[2])):
        damaged = bytearray(original)
        damaged[offset] ^= 0x01
        ledger.path.write_bytes(bytes(damaged))
        report = verify(ledger)
        assert report.problem is not None, f"flip at byte {offset} went unnoticed"
        assert report.problem.line == 3, (offset, str(report.problem))


def test_dropping_a_line_names_the_line_after_the_gap(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    rewrite(ledger, lines[:1] + lines[2:])
    report = verify(ledger)
    assert report.problem is not None
    assert (report.problem.line, report.problem.seq) == (2, 3)
    assert "deleted, inserted or reordered" in report.problem.reason


def test_reordering_two_lines_is_named(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    lines[2], lines[3] = lines[3], lines[2]
    rewrite(ledger, lines)
    report = verify(ledger)
    assert report.problem is not None
    assert str(report.problem).startswith("line 3 (seq 4): seq 4 where 3 was expected")


def test_truncating_whole_lines_is_seen_only_against_the_published_head(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    published = ledger.head()
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    rewrite(ledger, lines[:-1])
    report = verify(ledger)
    assert report.problem is None
    assert report.head != published
    assert report.head.seq == published.seq - 1


def test_owner_entry_signed_by_a_key_not_in_the_config_fails(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    stranger = OwnerKey.generate()
    ledger.append(stranger, entries.CLIP_SHARED, {"clips": ["c1"]})
    report = verify(ledger)
    assert report.problem is not None
    assert report.problem.line == 6
    assert "not in owner.signing_keys" in report.problem.reason


def test_device_entry_forged_with_another_key_fails(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    forger = device_key()
    ledger.append(forger, entries.CLIP_DELETED, entries.clip_deleted("c2", "retention_days"))
    report = verify(ledger)
    assert report.problem is not None
    assert "not this device's key" in report.problem.reason


def test_signature_copied_onto_an_edited_entry_fails(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[3])
    entry["body"]["reason"] = "owner"
    lines[3] = canonical_json(entry) + b"\n"
    rewrite(ledger, lines)
    report = verify(ledger)
    assert report.problem is not None
    assert str(report.problem) == (
        "line 4 (seq 4): signature does not verify (entry edited or forged)"
    )


def test_entry_re_signed_with_the_device_key_breaks_the_chain_at_the_next_line(
    tmp_path: Path,
) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[3])
    forged_ledger = Ledger(tmp_path / "forged.jsonl")
    rewrite(forged_ledger, lines[:3])
    forged_ledger.append(DEVICE, entry["type"], {"clip": "c1", "reason": "owner"})
    rewrite(ledger, forged_ledger.path.read_bytes().splitlines(keepends=True) + lines[4:])
    report = verify(ledger)
    assert report.problem is not None
    assert report.problem.line == 5
    assert "prev is not the hash of the line before" in report.problem.reason


def test_owner_entry_type_signed_by_the_device_is_refused(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[2])
    entry["actor"] = "device"
    entry["key"] = DEVICE.signing_public
    del entry["sig"]
    entry["sig"] = base64.b64encode(DEVICE.sign(canonical_json(entry))).decode()
    lines[2] = canonical_json(entry) + b"\n"
    rewrite(ledger, lines)
    report = verify(ledger)
    assert report.problem is not None
    assert report.problem.line == 3
    assert "must come from the owner" in report.problem.reason


def test_whitespace_added_to_a_line_counts_as_an_edit(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    lines[1] = json.dumps(json.loads(lines[1]), sort_keys=True).encode() + b"\n"
    rewrite(ledger, lines)
    report = verify(ledger)
    assert report.problem is not None
    assert str(report.problem).startswith("line 2 (seq 2): not in canonical JSON form")


def test_torn_last_line_is_an_incomplete_tail_not_tampering(tmp_path: Path) -> None:
    ledger = five_entry_ledger(tmp_path)
    head = ledger.head()
    with ledger.path.open("ab") as file:
        file.write(b'{"actor":"device","body":{"ena')
    report = verify(ledger)
    assert report.problem is None
    assert report.torn_tail_bytes == 30
    assert report.entries == 5
    assert ledger.head() == head


def test_next_append_drops_a_torn_tail_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = five_entry_ledger(tmp_path)
    with ledger.path.open("ab") as file:
        file.write(b'{"actor":"dev')
    with caplog.at_level(logging.WARNING, logger="edge.core.log.ledger"):
        entry = ledger.append(DEVICE, entries.PRIVACY_CHANGED, entries.privacy_changed(True, "x"))
    assert entry.seq == 6
    assert "dropped a torn last line of 13 bytes" in caplog.text
    report = verify(ledger)
    assert (report.problem, report.torn_tail_bytes, report.entries) == (None, 0, 6)


def test_unknown_entry_types_cannot_be_appended(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ledger entry type"):
        Ledger(tmp_path / "l.jsonl").append(DEVICE, "clip.teleported", {})


def test_floats_have_no_canonical_form() -> None:
    with pytest.raises(TypeError, match="floats"):
        canonical_json({"duration": 2.5})
    assert canonical_json({"b": [1, None], "a": "é"}) == '{"a":"é","b":[1,null]}'.encode()


def _append_many(path: str, count: int, source: str) -> None:
    ledger = Ledger(path)
    for _ in range(count):
        ledger.append(DEVICE, entries.PRIVACY_CHANGED, entries.privacy_changed(True, source))


def test_daemon_and_owner_cli_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = str(tmp_path / "ledger.jsonl")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(path, 40, f"p{i}")) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    report = verify(Ledger(path))
    assert report.problem is None
    assert report.entries == 120
