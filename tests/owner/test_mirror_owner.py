"""Owner commands on the home server's mirror, with the owner key on the owner's machine:
list, share and export read the mirror; decisions are kept there owner-signed; the
device's retention does not take clips away from the mirror."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.core.config.models import StorageConfig
from edge.core.log.canonical import canonical_json
from edge.core.log.ledger import Ledger
from edge.core.log.signing import signature_is_valid
from edge.core.mirror import wire
from edge.core.store.layout import clip_dir, segment_name
from edge.device.consent.decisions import DecisionIntake
from edge.device.consent.device_audit import DeviceAudit
from edge.device.store.clip_store import ClipStore
from edge.device.store.device_key import load_or_create
from edge.device.store.events import StoreEvents
from edge.home.mirror_receiver import MirrorReceiver
from edge.owner.owner_key import OwnerKey


def _mirror_store(store: ClipStore, receiver: MirrorReceiver, device: str = "front") -> None:
    """Send every finished segment and clip row of `store` to `receiver`, as the sender does."""
    key = store.device_key.public_text
    for clip in store.clips():
        for segment in store.segments(clip.id):
            data = store.segment_path(segment).read_bytes()
            chunk = wire.SegmentChunk(
                device, key, clip.id, segment.n, segment.sha256, segment.signature or "",
                segment.started_at, segment.duration_s, segment.state, len(data), 0, 1, 0, data,
            )  # fmt: skip
            assert receiver.handle(f"doorbell/{device}/mirror/segment", wire.encode_message(chunk))
        update = wire.ClipUpdate(
            device, key, clip.id, clip.started_at, clip.ended_at, clip.duration_s, clip.status, 0
        )
        assert receiver.handle(f"doorbell/{device}/mirror/clip", wire.encode_message(update))


@pytest.fixture
def owner(tmp_path: Path) -> tuple[OwnerKey, Path]:
    key = OwnerKey.generate()
    path = tmp_path / "owner.key"
    key.save(path, None)
    return key, path


def _store(root: Path, owner: OwnerKey) -> ClipStore:
    return ClipStore.open(StorageConfig(path=root), [owner.recipient], events=StoreEvents())


def _clip(store: ClipStore) -> str:
    clip_id = store.start_clip()
    writer = store.open_segment(clip_id)
    writer.write(b"video " * 5000)
    writer.close(duration_s=2.0)
    store.finish_clip(clip_id)
    return clip_id


def test_clips_on_the_mirror_outlive_the_devices_retention(tmp_path, owner, capsys) -> None:
    key, _path = owner
    mirror = tmp_path / "mirror"
    receiver = MirrorReceiver(mirror, trust_new_devices=True)
    with _store(tmp_path / "state", key) as store:
        kept, removed = _clip(store), _clip(store)
        _mirror_store(store, receiver)
        store.delete_clip(removed, "quota")
    receiver.close()
    assert main(["clips", "--mirror", str(mirror), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted((c["id"], c["status"]) for c in listed) == sorted(
        [(kept, "complete"), (removed, "complete")]
    )
    assert (clip_dir(mirror / "front", removed) / segment_name(0)).exists()


def test_share_from_the_mirror_keeps_an_owner_signed_pending_decision(
    tmp_path, owner, capsys
) -> None:
    key, key_path = owner
    mirror = tmp_path / "mirror"
    receiver = MirrorReceiver(mirror, trust_new_devices=True)
    with _store(tmp_path / "state", key) as store:
        clip = _clip(store)
        _mirror_store(store, receiver)
    receiver.close()
    recipient = OwnerKey.generate()
    out = tmp_path / "package"
    code = main(
        ["share", clip, "--mirror", str(mirror), "--to", recipient.recipient, "--out",
         str(out), "--identity", str(key_path), "--purpose", "insurance"]
    )  # fmt: skip
    assert code == 0
    assert "pending on the mirror" in capsys.readouterr().out
    [decision] = (mirror / "front" / "decisions" / "pending").glob("*.json")
    assert decision.stat().st_mode & 0o777 == 0o600
    signed = json.loads(decision.read_text())
    assert signed["type"] == "clip.shared" and signed["body"]["clips"] == [clip]
    assert signed["key"] == key.signing_public
    unsigned = {k: v for k, v in signed.items() if k != "sig"}
    assert signature_is_valid(key.signing_public, canonical_json(unsigned), signed["sig"])
    device_key = (mirror / "front" / "device.pub").read_text().strip()
    pinned = ["--owner-key", key.signing_public, "--device-key", device_key]
    # The share is an owner-signed decision pending on the mirror, not yet an entry in the
    # device's log: a recipient's verify must not accept it as recorded.
    capsys.readouterr()
    assert main(["verify", str(out), *pinned]) == 1
    assert "nothing shows the share was recorded in the log" in capsys.readouterr().err
    assert main(["prove", str(out), "--mirror", str(mirror)]) == 1
    assert "does not hold this share yet" in capsys.readouterr().err

    # The mirror relays the decision, the device appends it and signs a checkpoint, and its
    # log comes back to the mirror (as `doorbell mirror` and `doorbell watch` do).
    state = tmp_path / "state"
    audit = DeviceAudit(Ledger.in_state_dir(state), load_or_create(state))
    assert DecisionIntake(audit, "front", [key.signing_public]).on_decision(signed)
    for name in ("ledger.jsonl", "ledger.checkpoint"):
        (mirror / "front" / name).write_bytes((state / name).read_bytes())
    assert main(["prove", str(out), "--mirror", str(mirror)]) == 0
    assert main(["verify", str(out), *pinned]) == 0
    # A proof cannot be made to say another package was recorded.
    other = json.loads((out / "inclusion.json").read_text())
    other["entry"] = other["entry"].replace('"insurance"', '"anything"')
    (out / "inclusion.json").write_text(json.dumps(other))
    assert main(["verify", str(out), *pinned]) == 1


def test_bad_mirror_arguments_fail_with_one_line(tmp_path, owner, capsys) -> None:
    key, key_path = owner
    mirror = tmp_path / "mirror"
    assert main(["clips", "--mirror", str(mirror)]) == 1
    assert "no mirror directory" in capsys.readouterr().err
    receiver = MirrorReceiver(mirror, trust_new_devices=True)
    for device in ("front", "back"):
        with _store(tmp_path / device, key) as store:
            _clip(store)
            _mirror_store(store, receiver, device)
    receiver.close()
    assert main(["clips", "--mirror", str(mirror)]) == 1
    assert "give --device" in capsys.readouterr().err
    assert main(["clips", "--mirror", str(mirror), "--device", "back"]) == 0
    capsys.readouterr()
    assert main(["clips", "--mirror", str(mirror), "--device", "../x"]) == 1
    assert "no device '../x'" in capsys.readouterr().err
    args = ["export", "../../etc", "--mirror", str(mirror), "--device", "front"]
    assert main([*args, "--identity", str(key_path), "--out", str(tmp_path / "o.mp4")]) == 1
    err = capsys.readouterr().err
    assert "no clip ../../etc" in err and err.count("\n") == 1


def _ledger_to_mirror(state: Path, receiver: MirrorReceiver, key: str) -> None:
    lines = (state / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    batch = wire.LedgerLines("front", key, 0, lines)
    assert receiver.handle("doorbell/front/mirror/ledger", wire.encode_message(batch))


def test_requests_are_answered_on_the_mirror_once(tmp_path, owner, capsys) -> None:
    from edge.device.consent.device_audit import DeviceAudit
    from edge.device.consent.intake import RequestIntake

    key, key_path = owner
    mirror = tmp_path / "mirror"
    receiver = MirrorReceiver(mirror, trust_new_devices=True)
    requester = OwnerKey.generate()
    with _store(tmp_path / "state", key) as store:
        clip = _clip(store)
        intake = RequestIntake(store.state_dir, DeviceAudit.for_store(store))
        ids = []
        for case in ("CR-1", "CR-2"):
            ids.append(
                intake.submit(
                    {
                        "requester": "PC Jones", "organisation": "Police", "contact": "a@b.c",
                        "reason": "burglary", "case_ref": case, "from": "2020-01-01T00:00:00Z",
                        "to": "2020-01-02T00:00:00Z", "recipient": requester.recipient,
                    },
                    "mqtt",
                ).id
            )  # fmt: skip
        _mirror_store(store, receiver)
        _ledger_to_mirror(store.state_dir, receiver, store.device_key.public_text)
    receiver.close()
    base = ["--mirror", str(mirror)]
    assert main(["requests", "list", *base, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["id"], r["status"]) for r in listed] == [(i, "pending") for i in ids]
    assert main(["requests", "deny", ids[0], *base, "-i", str(key_path), "--reason", "no"]) == 0
    out = tmp_path / "pkg"
    approve = ["requests", "approve", ids[1], *base, "-i", str(key_path), "--out", str(out)]
    assert main(approve) == 0
    capsys.readouterr()
    # The window holds no clip of ours (2020): a signed, empty package, as on the device.
    assert clip not in (out / "manifest.json").read_text()
    assert main(["requests", "show", ids[1], *base, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "approved" and shown["decision_recorded"] == "mirror (pending)"
    assert main(["requests", "deny", ids[1], *base, "-i", str(key_path)]) == 1
    assert "already approved" in capsys.readouterr().err
    kinds = sorted(
        json.loads(p.read_text())["type"]
        for p in (mirror / "front" / "decisions" / "pending").glob("*.json")
    )
    assert kinds == ["clip.shared", "request.approved", "request.denied"]
