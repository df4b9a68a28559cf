"""The ledger as a Merkle tree: checkpoints after appends, conversion of an old ledger,
inclusion proofs, and the audit of a ledger against its signed and witnessed checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from log_support import make_log_device, rewrite

from edge.core.log import entries, merkle
from edge.core.log.checkpoint import cosign, open_checkpoint
from edge.core.log.inclusion import InclusionError, check_inclusion, load_inclusion, prove_inclusion
from edge.core.log.tree import leaf_hashes, origin_for_key, read_checkpoint_note, update_checkpoint
from edge.core.log.tree_audit import audit_tree
from edge.home.witness_key import load_or_create_witness_key


def test_a_checkpoint_covers_every_line_and_proves_it_extends_the_one_before(
    tmp_path: Path,
) -> None:
    device = make_log_device(tmp_path)
    first = device.device_entry(1)
    assert (first.checkpoint.size, first.previous_size, first.consistency) == (1, None, ())
    device.device_entry(2)
    device.owner_share()
    last = device.device_entry(3)
    leaves = leaf_hashes(device.ledger.lines())
    assert last.checkpoint.size == 4 and last.checkpoint.root == merkle.root(leaves)
    assert last.checkpoint.origin == origin_for_key(device.key.signing_public)
    assert last.previous_size == 3
    assert merkle.verify_consistency(
        3, 4, merkle.root(leaves[:3]), last.checkpoint.root, last.consistency
    )
    assert read_checkpoint_note(device.ledger) == last.note
    assert update_checkpoint(device.ledger, device.key) is None  # nothing new: nothing signed


def test_an_old_hash_chained_ledger_converts_in_place(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    for n in range(3):  # appended as before checkpoints existed
        device.ledger.append(
            device.key, entries.PRIVACY_CHANGED, entries.privacy_changed(True, f"{n}")
        )
    before = device.ledger.path.read_bytes()
    signed = device.checkpoint()
    assert device.ledger.path.read_bytes() == before  # not a byte rewritten
    lines = before.splitlines()
    assert signed.checkpoint.size == 3
    assert signed.checkpoint.root == merkle.root([merkle.leaf_hash(line) for line in lines])
    report = audit_tree(device.ledger, device.key.signing_public, signed.note)
    assert report.problems == () and report.checkpoint == signed.checkpoint


def test_an_empty_or_missing_ledger_gets_no_checkpoint(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    assert update_checkpoint(device.ledger, device.key) is None
    assert not device.ledger.path.exists()
    device.ledger.path.touch()
    assert update_checkpoint(device.ledger, device.key) is None
    assert read_checkpoint_note(device.ledger) is None


def test_a_torn_last_line_is_not_a_leaf(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    device.device_entry(1)
    with device.ledger.path.open("ab") as file:
        file.write(b'{"seq":2,"half a line')
    assert update_checkpoint(device.ledger, device.key) is None
    assert len(leaf_hashes(device.ledger.lines())) == 1


def test_inclusion_proof_of_an_owner_entry(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    device.device_entry(1)
    device.owner_share()
    device.device_entry(2)
    line = list(device.ledger.lines())[1][1][:-1]
    proof = prove_inclusion(device.ledger, line, device.key.signing_public)
    loaded = load_inclusion(proof.to_json())
    assert loaded == proof and loaded.index == 1
    assert check_inclusion(loaded, device.key.signing_public).size == 3
    other = make_log_device(tmp_path, "other")
    with pytest.raises(InclusionError, match="not signed by the pinned device key"):
        check_inclusion(loaded, other.key.signing_public)
    moved = type(loaded)(loaded.entry, 0, loaded.proof, loaded.checkpoint_note)
    with pytest.raises(InclusionError, match="proof does not verify"):
        check_inclusion(moved, device.key.signing_public)
    edited = type(loaded)(
        loaded.entry.replace(b"age1x", b"age1y"), 1, loaded.proof, loaded.checkpoint_note
    )
    with pytest.raises(InclusionError):
        check_inclusion(edited, device.key.signing_public)
    for junk in (b"{}", b"not json", json.dumps({"format": "doorbell-inclusion/1"}).encode()):
        with pytest.raises(InclusionError):
            load_inclusion(junk)


def cosigned_at(tmp_path: Path, note: str) -> tuple[str, str]:
    witness = load_or_create_witness_key(tmp_path / "witness.key")
    return cosign(note, "home.example/w", witness, 1_800_000_000), witness.signing_public


def test_audit_catches_what_the_device_key_holder_can_do_against_the_witnessed_checkpoint(
    tmp_path: Path,
) -> None:
    device = make_log_device(tmp_path)
    device.device_entry(1)
    device.device_entry(2)
    device.owner_share()
    witnessed = device.device_entry(3)
    cosigned, witness_key = cosigned_at(tmp_path, witnessed.note)
    key = device.key.signing_public
    ok = audit_tree(
        device.ledger, key, read_checkpoint_note(device.ledger), cosigned, [witness_key]
    )
    assert ok.problems == () and ok.witnessed == witnessed.checkpoint

    original = device.ledger.path.read_bytes(), read_checkpoint_note(device.ledger)

    def restore() -> None:
        device.ledger.path.write_bytes(original[0])
        (device.state / "ledger.checkpoint").write_text(original[1])

    def delete_owner_entry() -> None:
        rewrite(device.ledger, device.key, [0, 1, 3])
        device.device_entry(5)

    def truncate() -> None:
        rewrite(device.ledger, device.key, [0, 1])
        device.checkpoint()

    def reorder() -> None:
        rewrite(device.ledger, device.key, [1, 0, 2, 3])
        device.checkpoint()

    for attack, expected in ((delete_owner_entry, "rewritten"), (truncate, "removed"),
                             (reorder, "rewritten")):  # fmt: skip
        attack()
        report = audit_tree(device.ledger, key, read_checkpoint_note(device.ledger), cosigned)
        assert any(expected in p for p in report.problems), (attack, report.problems)
        restore()

    # An old checkpoint replayed next to a truncated ledger: older than the witnessed one.
    rewrite(device.ledger, device.key, [0, 1])
    old = update_checkpoint(device.ledger, device.key)
    report = audit_tree(device.ledger, key, old.note, cosigned)
    assert any("rolled back or replayed" in p for p in report.problems)
    restore()

    stranger = load_or_create_witness_key(tmp_path / "stranger.key").signing_public
    report = audit_tree(device.ledger, key, original[1], cosigned, [stranger])
    assert report.problems == (f"the witnessed checkpoint has no cosignature by {stranger}",)
    report = audit_tree(device.ledger, key, original[1], None, [witness_key])
    assert "a witness cosignature is required" in report.problems[0]


def test_owner_entries_count_as_recorded_once_witnessed(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    witnessed = device.device_entry(1)
    cosigned, _ = cosigned_at(tmp_path, witnessed.note)
    device.owner_share()
    latest = device.device_entry(2)
    report = audit_tree(device.ledger, device.key.signing_public, latest.note, cosigned)
    assert report.problems == ()
    assert "1 owner entries are not yet inside a witnessed checkpoint" in report.notes
    assert open_checkpoint(latest.note, device.key.signing_public).size == 3
