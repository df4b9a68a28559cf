"""The mirror receiver against bad input: every forged, corrupted, duplicated, reordered
or truncated message is rejected with one log line, nothing stored is overwritten, and
the receiver keeps going (it stores the genuine segment after all of them)."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mirror_support import Device

from edge.core.mirror import wire
from edge.core.store.layout import clip_dir, segment_name
from edge.core.store.reading import read_clips, read_segments
from edge.core.store.segment_signature import segment_message
from edge.home.mirror_receiver import MirrorReceiver

CLIP = "20261204T101500Z-ab12"
TOPIC = "doorbell/front/mirror/"


def send(receiver: MirrorReceiver, message: wire.Message, device: str = "front") -> bool:
    kind = {wire.SegmentChunk: "segment", wire.ClipUpdate: "clip", wire.LedgerLines: "ledger"}
    return receiver.handle(
        f"doorbell/{device}/mirror/{kind[type(message)]}", wire.encode_message(message)
    )


def stored(root: Path, n: int = 0, clip: str = CLIP, device: str = "front") -> Path:
    return clip_dir(root / device, clip) / segment_name(n)


@pytest.fixture
def receiver(tmp_path: Path):
    receiver = MirrorReceiver(tmp_path / "mirror", trust_new_devices=True)
    yield receiver
    receiver.close()


def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "rejected" in r.getMessage()
    ]


def test_chunks_in_any_order_and_repeated_store_one_verified_segment(receiver, tmp_path) -> None:
    device = Device()
    data, sig = device.segment()
    chunks = device.chunks(data, sig)
    assert len(chunks) == 3
    for chunk in [chunks[2], chunks[0], chunks[2], chunks[1], chunks[0]]:
        assert send(receiver, chunk)
    assert stored(tmp_path / "mirror").read_bytes() == data
    [segment] = read_segments(tmp_path / "mirror" / "front", CLIP)
    assert segment.signature == sig and segment.bytes == len(data)
    assert read_clips(tmp_path / "mirror" / "front")[0].id == CLIP
    # The whole segment again (a resend after a lost PUBACK): nothing changes.
    for chunk in chunks:
        assert send(receiver, chunk)
    assert receiver.stored_segments == 1


def test_a_bad_signature_is_rejected_and_nothing_stored(receiver, tmp_path, caplog) -> None:
    device = Device()
    data, _sig = device.segment()
    forged = (
        Ed25519PrivateKey.generate()
        .sign(segment_message(CLIP, 0, hashlib.sha256(data).hexdigest()))
        .hex()
    )
    results = [send(receiver, c) for c in device.chunks(data, forged)]
    assert results[-1] is False
    assert not stored(tmp_path / "mirror").exists()
    assert rejections(caplog) == [
        f"mirror: rejected a message on {TOPIC}segment: segment 0 of clip {CLIP}: "
        "the device signature does not verify"
    ]


def test_corrupted_chunk_fails_the_hash_then_the_genuine_resend_is_stored(
    receiver, tmp_path, caplog
) -> None:
    device = Device()
    data, sig = device.segment()
    chunks = device.chunks(data, sig)
    bad = wire.SegmentChunk(**{**chunks[1].__dict__, "data": b"\0" * len(chunks[1].data)})
    for chunk in [chunks[0], bad, chunks[2]]:
        send(receiver, chunk)
    assert not stored(tmp_path / "mirror").exists()
    assert len(rejections(caplog)) == 1
    assert "do not hash to the recorded SHA-256" in rejections(caplog)[0]
    for chunk in chunks:
        send(receiver, chunk)
    assert stored(tmp_path / "mirror").read_bytes() == data


def test_truncated_and_malformed_messages_are_rejected(receiver, tmp_path, caplog) -> None:
    device = Device()
    data, sig = device.segment()
    chunk = device.chunks(data, sig)[0]
    payload = wire.encode_message(chunk)
    cases = {
        "truncated body": payload[:-100],
        "no header": b"\x00" * 50,
        "not json": b"{nope\n",
        "duplicate key": b'{"v":1,"v":1}\n',
    }
    for _name, bad in cases.items():
        assert not receiver.handle(TOPIC + "segment", bad)
    # A chunk whose offset and data run past the segment.
    past = wire.segment_header(chunk) | {"offset": chunk.size - 10}
    assert not receiver.handle(TOPIC + "segment", wire.encode(past, chunk.data))
    # Path-like clip ids and device ids never reach the file system.
    for clip in ("../../etc", "20261204T101500Z-ab12/../../x", "/etc/passwd"):
        header = wire.segment_header(chunk) | {"clip": clip}
        assert not receiver.handle(TOPIC + "segment", wire.encode(header, chunk.data))
    header = wire.segment_header(chunk) | {"device": ".."}
    assert not receiver.handle("doorbell/../mirror/segment", wire.encode(header, chunk.data))
    # A message for another device on this device's topic.
    header = wire.segment_header(chunk) | {"device": "back"}
    assert not receiver.handle(TOPIC + "segment", wire.encode(header, chunk.data))
    assert len(rejections(caplog)) == 10
    assert all(line.count("\n") == 0 for line in rejections(caplog))
    assert list((tmp_path / "mirror").iterdir()) == []
    # ...and the receiver keeps going: the genuine segment is stored after all that.
    for good in device.chunks(data, sig):
        assert send(receiver, good)
    assert stored(tmp_path / "mirror").read_bytes() == data


def test_unknown_device_is_rejected_without_trust_on_first_use(tmp_path, caplog) -> None:
    receiver = MirrorReceiver(tmp_path / "mirror")
    device = Device()
    data, sig = device.segment()
    assert not send(receiver, device.chunks(data, sig)[0])
    assert "unknown device front" in rejections(caplog)[0]
    assert not (tmp_path / "mirror" / "front").exists()
    # Pinned by the owner: accepted.
    (tmp_path / "mirror" / "front").mkdir()
    (tmp_path / "mirror" / "front" / "device.pub").write_text(device.key + "\n")
    for chunk in device.chunks(data, sig):
        assert send(receiver, chunk)
    assert stored(tmp_path / "mirror").read_bytes() == data
    receiver.close()


def test_a_new_key_for_a_pinned_device_raises_an_alarm_and_stores_nothing(
    receiver, tmp_path, caplog
) -> None:
    device = Device()
    data, sig = device.segment()
    for chunk in device.chunks(data, sig):
        send(receiver, chunk)
    impostor = Device()
    other, other_sig = impostor.segment(n=1)
    assert not send(receiver, impostor.chunks(other, other_sig, n=1)[0])
    assert any("ALARM front" in r.getMessage() for r in caplog.records)
    assert "key" in (tmp_path / "mirror" / "front" / "alarms.log").read_text()
    assert not stored(tmp_path / "mirror", n=1).exists()
    # A fresh receiver (restart) still refuses it: the pin is on disk.
    again = MirrorReceiver(tmp_path / "mirror", trust_new_devices=True)
    assert not send(again, impostor.chunks(other, other_sig, n=1)[0])
    again.close()


def test_different_bytes_for_a_stored_segment_are_kept_beside_it_with_an_alarm(
    receiver, tmp_path, caplog
) -> None:
    device = Device()
    data, sig = device.segment()
    for chunk in device.chunks(data, sig):
        send(receiver, chunk)
    # The device (same key) signs other bytes for the same clip and number: kept both.
    other, other_sig = device.segment()
    for chunk in device.chunks(other, other_sig):
        send(receiver, chunk)
    path = stored(tmp_path / "mirror")
    assert path.read_bytes() == data
    conflicts = list(path.parent.glob("0.mp4.age.conflict-*"))
    assert [c.read_bytes() for c in conflicts] == [other]
    assert any(
        "kept both" in r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL
    )


def test_ledger_lines_are_copied_verbatim_and_a_rewrite_is_kept_apart(
    receiver, tmp_path, caplog
) -> None:
    device = Device()
    lines = [b'{"seq":%d}\n' % i for i in range(1, 6)]

    def batch(first: int, chunk: list[bytes]) -> wire.LedgerLines:
        return wire.LedgerLines(device.id, device.key, first, chunk)

    assert send(receiver, batch(0, lines[:2]))
    assert not send(receiver, batch(3, lines[3:]))  # a gap: out of order
    assert send(receiver, batch(1, lines[1:4]))  # overlaps what is there: only the new
    assert send(receiver, batch(0, lines[:2]))  # a duplicate
    assert send(receiver, batch(4, lines[4:]))
    ledger = tmp_path / "mirror" / "front" / "ledger.jsonl"
    assert ledger.read_bytes() == b"".join(lines)
    assert send(receiver, batch(2, [b'{"seq":3,"rewritten":true}\n']))
    assert ledger.read_bytes() == b"".join(lines)
    assert list(ledger.parent.glob("ledger.conflict-*"))
    assert any("history rewritten" in r.getMessage() for r in caplog.records)


def test_mirror_retention_deletes_old_clips_only(tmp_path) -> None:
    device = Device()
    now = [1_893_456_000.0 + 86_400]  # a day after 2030-01-01
    receiver = MirrorReceiver(
        tmp_path / "mirror", trust_new_devices=True, retention_days=30, clock=lambda: now[0]
    )
    old, new = "20260101T000000Z-0001", "20300101T000000Z-0002"
    for clip in (old, new):
        data, sig = device.segment(clip=clip)
        for chunk in device.chunks(data, sig, clip=clip):
            send(receiver, chunk)
    assert receiver.enforce_retention() == [old]
    assert not stored(tmp_path / "mirror", clip=old).exists()
    assert stored(tmp_path / "mirror", clip=new).exists()
    receiver.close()
