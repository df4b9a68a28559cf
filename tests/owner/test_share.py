"""Sharing: clips re-encrypted to a recipient play with the stock age CLI, and the package
carries provenance that `doorbell verify` checks and that catches any change."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from share_support import (
    Device,
    make_device,
    pin_args,
    pins,
    recipient_key,
    record_clip,
    share,
)

from edge.cli import main
from edge.core.keytext import verify
from edge.core.log import entries
from edge.core.log.canonical import canonical_json, sha256_hex
from edge.core.log.ledger import Ledger
from edge.core.store.segment_signature import segment_message
from edge.core.vault import parse_identities
from edge.owner.manifest import sign_manifest
from edge.owner.owner_key import OwnerKey
from edge.owner.package_verify import verify_package
from edge.owner.state_audit import audit_state_dir

pytestmark = pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("ffprobe") is None,
    reason="needs the age CLI and ffprobe",
)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


def test_recipient_decrypts_each_segment_with_the_age_cli_into_a_playable_mp4(
    device: Device, tmp_path: Path
) -> None:
    clip_id = record_clip(device, time.time() - 60, segments=2, frames=5)
    key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out, "--purpose", "insurance claim 7") == 0

    for n in (0, 1):
        encrypted = out / clip_id / f"{n}.mp4.age"
        decrypted = subprocess.run(
            ["age", "-d", "-i", str(key), str(encrypted)], check=True, capture_output=True
        ).stdout
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", "-i", "-"],
            input=decrypted,
            check=True,
            capture_output=True,
        )
        stream = json.loads(probe.stdout)["streams"][0]
        assert (stream["codec_name"], stream["nb_read_frames"]) == ("h264", "5")


def test_verify_with_the_recipient_key_decodes_every_frame(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = record_clip(device, time.time() - 120, segments=2, frames=5)
    second = record_clip(device, time.time() - 60, segments=1, frames=4)
    key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [first, second], public, out, "--expires", "2999-01-01") == 0
    capsys.readouterr()

    assert main(["verify", str(out), "--identity", str(key), *pin_args(device)]) == 0
    printed = capsys.readouterr().out
    assert "decrypted and decoded 14 frame(s)" in printed
    assert "the owner shared this until 2999-01-01" in printed
    assert device.owner.signing_public in printed


def test_manifest_carries_device_provenance_and_the_owner_signature(
    device: Device, tmp_path: Path
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out, "--purpose", "police case 12") == 0

    manifest = json.loads((out / "manifest.json").read_text())
    device_key = (device.state / "device.pub").read_text().strip()
    assert manifest["device"] == {
        "id": "front-door",
        "signing_key": device_key,
        "segment_signature": "doorbell-edge segment v1",
    }
    assert manifest["owner_signing_key"] == device.owner.signing_public
    assert manifest["purpose"] == "police case 12" and manifest["recipient"] == public
    stored = {s.n: s for s in device.store.segments(clip_id)}
    for segment in manifest["clips"][0]["segments"]:
        original = stored[segment["n"]]
        assert segment["original_sha256"] == original.sha256
        assert segment["device_signature"] == original.signature
        message = segment_message(clip_id, segment["n"], segment["original_sha256"])
        assert verify(device_key, message, bytes.fromhex(segment["device_signature"]))
        assert segment["sha256"] != original.sha256  # re-encrypted, not copied


def test_share_is_an_owner_signed_ledger_entry_that_pins_the_manifest(
    device: Device, tmp_path: Path
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 0

    last = list(Ledger.in_state_dir(device.state).entries())[-1]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (last.type, last.actor, last.key) == (
        entries.CLIP_SHARED,
        "owner",
        device.owner.signing_public,
    )
    assert last.body["clips"] == [clip_id] and last.body["recipient"] == public
    assert last.body["manifest_sha256"] == sha256_hex(canonical_json(manifest))
    assert audit_state_dir(device.state, [device.owner.signing_public]).ok


def test_any_change_to_the_package_fails_verification(device: Device, tmp_path: Path) -> None:
    clip_id = record_clip(device, time.time() - 60)
    key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out, "--purpose", "neighbour's bike") == 0
    identities = parse_identities(key.read_text())
    assert verify_package(out, identities, **pins(device)).ok

    segment = out / clip_id / "1.mp4.age"
    original = segment.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0x01
    segment.write_bytes(bytes(damaged))
    report = verify_package(out, **pins(device))
    assert report.problems == (
        f"clip {clip_id} segment 1: 1.mp4.age does not match its hash in the manifest "
        "(file changed)",
    )
    segment.write_bytes(original)

    manifest_path = out / "manifest.json"
    manifest_text = manifest_path.read_text()
    manifest_path.write_text(manifest_text.replace("neighbour's bike", "anything we like"))
    assert verify_package(out, **pins(device)).problems == (
        "the owner signature over the manifest does not verify (manifest edited)",
    )
    manifest_path.write_text(manifest_text)

    segment.unlink()
    assert "cannot read 1.mp4.age" in verify_package(out, **pins(device)).problems[0]


def test_a_package_re_signed_by_someone_else_fails_against_the_owner_key(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["signature"], manifest["owner_signing_key"]
    forged = sign_manifest(manifest, OwnerKey.generate())
    (out / "manifest.json").write_text(json.dumps(forged))

    capsys.readouterr()
    assert main(["verify", str(out)]) == 1  # nothing pinned: self-consistent is not enough
    assert "the keys are not pinned" in capsys.readouterr().err
    assert main(["verify", str(out), *pin_args(device)]) == 1
    assert "not the pinned" in capsys.readouterr().err


def test_someone_else_s_key_cannot_open_the_package(device: Device, tmp_path: Path) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    other, _ = recipient_key(tmp_path, "other.txt")
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 0
    report = verify_package(out, parse_identities(other.read_text()), **pins(device))
    assert report.problems[0].startswith(f"clip {clip_id} segment 0: cannot decrypt")


def test_a_stored_segment_changed_on_disk_is_not_shared(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    stored = device.store.segment_path(device.store.segments(clip_id)[1])
    with stored.open("ab") as file:
        file.write(b"extra")
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    ledger_before = Ledger.in_state_dir(device.state).head()

    assert share(device, [clip_id], public, out) == 1
    assert "segment 1" in capsys.readouterr().err
    assert list(out.iterdir()) == []
    assert Ledger.in_state_dir(device.state).head() == ledger_before


def test_the_package_holds_no_plaintext_video(device: Device, tmp_path: Path) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 0
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"ftyp" not in data and b"mdat" not in data, path


def test_an_owner_key_missing_from_the_config_cannot_share(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    stranger = tmp_path / "stranger.key"
    OwnerKey.generate().save(stranger, None)
    _key, public = recipient_key(tmp_path)
    code = main(
        [
            "share",
            clip_id,
            "--to",
            public,
            "--out",
            str(tmp_path / "p"),
            "--identity",
            str(stranger),
            "--config",
            str(device.config),
        ]
    )
    assert code == 1
    assert "not in owner.signing_keys" in capsys.readouterr().err


def test_passphrase_protected_owner_key_shares_with_a_passphrase_file(
    device: Device, tmp_path: Path
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    protected = tmp_path / "owner-protected.key"
    device.owner.save(protected, b"open sesame", work_factor=10)
    passphrase = tmp_path / "pass.txt"
    passphrase.write_text("open sesame\n")
    device.owner_key_file = protected
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out, "--passphrase-file", str(passphrase)) == 0
    assert verify_package(out, **pins(device)).ok


def test_share_refuses_a_non_empty_folder_and_unknown_clips(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"x")
    assert share(device, [clip_id], public, busy) == 1
    assert "not empty" in capsys.readouterr().err
    assert share(device, ["20200101T000000Z-0000"], public, tmp_path / "new") == 1
    assert "not in the index" in capsys.readouterr().err


def test_a_share_that_cannot_be_logged_leaves_no_package(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    with Ledger.in_state_dir(device.state).path.open("ab") as file:
        file.write(b"this is not an entry\n")
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 1
    assert "last ledger line is not an entry" in capsys.readouterr().err
    assert list(out.iterdir()) == []
