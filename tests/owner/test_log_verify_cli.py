"""`doorbell audit verify` with pinned keys and `--mirror DIR`, `keygen`'s trust file, and
`doorbell verify` of a package forged with fresh keys: the command line as an auditor
and a recipient use it."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from log_support import (
    DEVICE_PREFIX,
    make_log_device,
    make_witness,
    mirror_of,
    payload,
    rewrite,
)
from share_support import Device, make_device, pin_args, recipient_key, record_clip, share

from edge.cli import main
from edge.core.log import entries
from edge.core.log.ledger import Ledger
from edge.core.log.tree import COSIGNED_FILENAME, origin_for_key
from edge.core.store.segment_signature import segment_message
from edge.device.store.device_key import load_or_create
from edge.home.witness_key import WitnessKey, load_or_create_witness_key
from edge.owner.manifest import sign_manifest
from edge.owner.owner_key import OwnerKey


def witnessed_mirror(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A device with four witnessed entries, mirrored with the witness writing into it."""
    mirror = tmp_path / "mirror"
    device = make_log_device(tmp_path)
    folder = mirror_of(device, mirror)
    witness = make_witness(tmp_path, mirror=mirror)
    for step in (
        lambda: device.device_entry(1),
        device.owner_share,
        lambda: device.device_entry(2),
    ):
        outcome = witness.see(device, step())
        assert not outcome.warning
        mirror_of(device, mirror)
    assert (folder / COSIGNED_FILENAME).is_file()
    return device, witness, mirror


def mirror_verify(mirror: Path, *keys: str) -> int:
    return main(["audit", "verify", "--mirror", str(mirror), *keys])


def test_mirror_of_an_honest_device_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device, witness, mirror = witnessed_mirror(tmp_path)
    owner = ["--owner-key", device.owner.signing_public]
    assert mirror_verify(mirror, *owner, "--witness-key", witness.key.signing_public) == 0
    assert (
        "matches its signed checkpoint of 3 entries, witnessed up to 3" in capsys.readouterr().out
    )
    assert mirror_verify(mirror) == 1  # nothing pinned
    assert "owner keys are not pinned" in capsys.readouterr().err


def test_mirror_of_a_rewritten_ledger_fails_and_the_witness_alarm_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device, witness, mirror = witnessed_mirror(tmp_path)
    rewrite(device.ledger, device.key, keep=[0, 2])  # the owner's share deleted, re-signed
    device.device_entry(3)
    outcome = witness.see(device, device.device_entry(4))
    assert outcome.warning
    mirror_of(device, mirror)
    capsys.readouterr()
    assert mirror_verify(mirror, "--owner-key", device.owner.signing_public) == 1
    err = capsys.readouterr().err
    assert "do not hash to the root of the witnessed checkpoint" in err
    assert "the witness raised an alarm" in err and "LOG REWRITTEN" in err


def test_mirror_truncated_after_the_witness_saw_it_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device, _witness, mirror = witnessed_mirror(tmp_path)
    folder = mirror / "front-door"
    lines = (folder / "ledger.jsonl").read_bytes().splitlines(keepends=True)
    (folder / "ledger.jsonl").write_bytes(b"".join(lines[:2]))
    assert mirror_verify(mirror, "--owner-key", device.owner.signing_public) == 1
    assert "entries were removed" in capsys.readouterr().err


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


def test_audit_takes_pinned_owner_keys_over_the_device_config(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record_clip(device, time.time() - 60)
    # Whoever holds the device adds their own "owner" key to the config and approves.
    forger = OwnerKey.generate()
    text = device.config.read_text()
    device.config.write_text(
        text.replace(
            f'signing_keys = ["{device.owner.signing_public}"]',
            f'signing_keys = ["{device.owner.signing_public}", "{forger.signing_public}"]',
        )
    )
    ledger = Ledger.in_state_dir(device.state)
    body = entries.request_decided("r1", "b" * 64, None, "c" * 64)
    ledger.append(forger, entries.REQUEST_APPROVED, body)
    config = ["--config", str(device.config)]
    assert main(["audit", "verify", *config]) == 0  # the config vouches for the forger
    assert "warning: owner keys taken from the device config" in capsys.readouterr().err
    pinned = ["--owner-key", device.owner.signing_public]
    assert main(["audit", "verify", *config, *pinned]) == 1
    assert "not in owner.signing_keys" in capsys.readouterr().err


def test_the_device_key_is_never_an_owner_key(
    device: Device, capsys: pytest.CaptureFixture[str]
) -> None:
    device_key = (device.state / "device.pub").read_text().strip()
    config = ["--config", str(device.config)]
    assert main(["audit", "verify", *config, "--owner-key", device_key]) == 1
    assert "is listed as an owner key" in capsys.readouterr().err
    device.config.write_text(
        device.config.read_text().replace(device.owner.signing_public, device_key)
    )
    assert main(["config", "check", str(device.config)]) == 1
    assert "is this device's own key" in capsys.readouterr().err


def test_keygen_writes_a_trust_file_that_verify_uses(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = tmp_path / "new-owner.key"
    assert main(["keygen", "--out", str(key), "--no-passphrase"]) == 0
    trust = tmp_path / "new-owner.key.trust"
    owner_line = [line for line in trust.read_text().splitlines() if line.startswith("owner ")]
    assert len(owner_line) == 1
    with trust.open("a") as file:
        file.write(f"device {(device.state / 'device.pub').read_text().strip()}\n")
    record_clip(device, time.time() - 60)
    config = ["--config", str(device.config)]
    # The trust file's owner is the new key, not the config's: the config owner's entries fail.
    assert main(["audit", "verify", *config, "--trust", str(trust)]) == 0  # device entries only
    trust.write_text(trust.read_text() + f"owner {device.owner.signing_public}\n")
    assert main(["audit", "verify", *config, "--trust", str(trust)]) == 0
    (tmp_path / "bad.trust").write_text("owner not-a-key\n")
    assert main(["audit", "verify", *config, "--trust", str(tmp_path / "bad.trust")]) == 1
    assert "bad.trust line 1" in capsys.readouterr().err


def test_a_share_package_forged_with_fresh_keys_fails_against_the_pinned_keys(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out, "--purpose", "insurance") == 0
    assert main(["verify", str(out), *pin_args(device)]) == 0

    # The forger edits purpose and clip time, re-signs with a fresh owner key, and makes a
    # whole fresh device log (fresh device key) with a clip.shared entry and checkpoint.
    forged_dir = tmp_path / "forged"
    shutil.copytree(out, forged_dir)
    manifest = json.loads((forged_dir / "manifest.json").read_text())
    fresh_state = tmp_path / "fresh-state"
    fresh_state.mkdir()
    fresh_device = load_or_create(fresh_state)
    fresh_owner = OwnerKey.generate()
    del manifest["signature"], manifest["owner_signing_key"]
    manifest["purpose"] = "anything we like"
    manifest["clips"][0]["start"] = "2020-01-01T00:00:00.000Z"
    manifest["device"]["signing_key"] = fresh_device.signing_public
    for clip in manifest["clips"]:
        for segment in clip["segments"]:
            message = segment_message(clip["id"], segment["n"], segment["original_sha256"])
            segment["device_signature"] = fresh_device.sign(message).hex()
    forged = sign_manifest(manifest, fresh_owner)
    (forged_dir / "manifest.json").write_text(json.dumps(forged))
    from edge.core.log.inclusion import prove_inclusion
    from edge.core.log.tree import update_checkpoint
    from edge.owner.manifest import manifest_sha256

    ledger = Ledger.in_state_dir(fresh_state)
    body = entries.clip_shared([clip_id], public, manifest_sha256(forged), None, None, None)
    entry = ledger.append(fresh_owner, entries.CLIP_SHARED, body)
    update_checkpoint(ledger, fresh_device)
    proof = prove_inclusion(ledger, entry.line(), fresh_device.signing_public)
    (forged_dir / "inclusion.json").write_bytes(proof.to_json())
    capsys.readouterr()

    assert main(["verify", str(forged_dir)]) == 1  # the manifest vouches for itself: refused
    assert "the keys are not pinned" in capsys.readouterr().err
    assert main(["verify", str(forged_dir), *pin_args(device)]) == 1
    err = capsys.readouterr().err
    assert "not the pinned" in err
    assert main(["verify", str(forged_dir), *pin_args(device), "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and any("not the pinned" in p for p in result["problems"])
    # Only the forger's own keys accept it, which is the point of pinning.
    fresh = ["--owner-key", fresh_owner.signing_public, "--device-key", fresh_device.signing_public]
    assert main(["verify", str(forged_dir), *fresh]) == 0


def shared_package_and_witness(device: Device, tmp_path: Path) -> tuple[Path, WitnessKey]:
    """A clip recorded and shared into tmp_path/package, and a home-server witness key."""
    clip_id = record_clip(device, time.time() - 60)
    _key, public = recipient_key(tmp_path)
    out = tmp_path / "package"
    assert share(device, [clip_id], public, out) == 0
    return out, load_or_create_witness_key(tmp_path / "witness.key")


def test_a_package_without_its_inclusion_proof_or_a_required_cosignature_fails(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.core.log.checkpoint import cosign

    out, witness = shared_package_and_witness(device, tmp_path)
    required = ["--witness-key", witness.signing_public]
    capsys.readouterr()
    assert main(["verify", str(out), *pin_args(device), *required]) == 1
    assert "not cosigned by witness" in capsys.readouterr().err
    inclusion = json.loads((out / "inclusion.json").read_text())
    inclusion["checkpoint"] = cosign(inclusion["checkpoint"], "home.example/w", witness, 1)
    (out / "inclusion.json").write_text(json.dumps(inclusion))
    assert main(["verify", str(out), *pin_args(device), *required]) == 0
    (out / "inclusion.json").unlink()
    assert main(["verify", str(out), *pin_args(device)]) == 1
    assert "no inclusion.json" in capsys.readouterr().err


def test_a_checkpoint_under_another_origin_is_refused(tmp_path: Path) -> None:
    device = make_log_device(tmp_path)
    witness = make_witness(tmp_path)
    device.device_entry(1)
    other = "doorbell-edge.local/someone-else"
    assert origin_for_key(device.key.signing_public) != other
    message = payload(device, device.device_entry(2)).model_copy(update={"origin": other})
    outcome = witness.log.on_checkpoint(DEVICE_PREFIX, message)
    assert outcome.warning and not outcome.publish


def test_prove_replaces_a_device_share_proof_with_one_to_the_witnessed_checkpoint(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.core.log.checkpoint import cosign

    out, witness = shared_package_and_witness(device, tmp_path)
    required = [*pin_args(device), "--witness-key", witness.signing_public]
    # The mirror holds the device's log and the witness's cosigned checkpoint of it.
    folder = tmp_path / "mirror" / "front-door"
    folder.mkdir(parents=True)
    for name in ("ledger.jsonl", "device.pub", "index.sqlite"):
        shutil.copy(device.state / name, folder / name)
    note = (device.state / "ledger.checkpoint").read_text()
    (folder / COSIGNED_FILENAME).write_text(cosign(note, "home.example/w", witness, 1))
    capsys.readouterr()
    assert main(["verify", str(out), *required]) == 1  # the device's proof: not witnessed
    assert main(["prove", str(out), "--mirror", str(tmp_path / "mirror")]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["prove", str(out), "--mirror", str(tmp_path / "mirror"), "--force"]) == 0
    assert main(["verify", str(out), *required]) == 0
