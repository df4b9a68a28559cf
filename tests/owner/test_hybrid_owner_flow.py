"""A hybrid post-quantum owner key end to end: config, device store, export, share, verify."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from share_support import Device, record_clip

from edge.cli import main
from edge.core.config.load import ConfigError, parse_config
from edge.core.config.models import StorageConfig
from edge.core.vault import X25519Identity
from edge.device.consent.device_audit import DeviceAudit
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.owner_key import OwnerKey


def make_hybrid_device(tmp_path: Path) -> Device:
    """Like share_support.make_device, with an owner key made by `doorbell keygen --pq`."""
    key_file = tmp_path / "owner.key"
    assert main(["keygen", "--pq", "--out", str(key_file), "--no-passphrase"]) == 0
    owner = OwnerKey.load(key_file, None)
    state = tmp_path / "state"
    config = tmp_path / "doorbell.toml"
    config.write_text(
        f'[device]\nid = "front-door"\n[storage]\npath = "{state}"\n'
        f'[owner]\nrecipients = ["{owner.recipient}"]\n'
        f'signing_keys = ["{owner.signing_public}"]\n'
    )
    parsed = parse_config(config.read_text(), source=str(config))
    store = ClipStore.open(StorageConfig(path=state), parsed.owner.recipients, events=StoreEvents())
    return Device(state, store, DeviceAudit.for_store(store), config, owner, key_file)


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_hybrid_device(tmp_path)
    yield made
    made.store.close()


def test_segments_on_disk_carry_only_a_hybrid_stanza(device: Device) -> None:
    assert device.owner.post_quantum and device.owner.recipient.startswith("age1pq1")
    clip_id = record_clip(device, time.time() - 60, segments=1, frames=3)
    segments = list((device.state).rglob("*.age"))
    assert segments, "no segment written"
    for path in segments:
        header = path.read_bytes()[:4000]
        assert b"\n-> mlkem768x25519 " in header
        assert b"\n-> X25519 " not in header
    assert clip_id


def test_export_opens_hybrid_segments(device: Device, tmp_path: Path) -> None:
    clip_id = record_clip(device, time.time() - 60, segments=2, frames=4)
    out = tmp_path / "clip.mp4"
    args = ["export", clip_id, "-i", str(device.owner_key_file), "--config", str(device.config)]
    assert main([*args, "--out", str(out)]) == 0
    assert out.read_bytes()[4:8] == b"ftyp"


@pytest.mark.parametrize("post_quantum", [True, False])
def test_share_to_a_hybrid_or_classic_recipient_verifies(
    device: Device, tmp_path: Path, post_quantum: bool, capsys
) -> None:
    clip_id = record_clip(device, time.time() - 60, segments=1, frames=4)
    key = tmp_path / "recipient.key"
    flag = "--pq" if post_quantum else "--classic"
    assert main(["keygen", flag, "--out", str(key), "--no-passphrase"]) == 0
    to = OwnerKey.load(key, None).recipient
    out = tmp_path / "package"
    args = ["share", clip_id, "--to", to, "--out", str(out), "-i", str(device.owner_key_file)]
    assert main([*args, "--config", str(device.config)]) == 0
    stanza = b"mlkem768x25519" if post_quantum else b"X25519"
    assert b"\n-> " + stanza + b" " in (out / clip_id / "0.mp4.age").read_bytes()[:4000]
    capsys.readouterr()
    pinned = [
        "--owner-key",
        device.owner.signing_public,
        "--device-key",
        (device.state / "device.pub").read_text().strip(),
    ]
    assert main(["verify", str(out), "--identity", str(key), *pinned]) == 0
    assert "decrypted and decoded 4 frame(s)" in capsys.readouterr().out


def test_config_refuses_mixing_hybrid_and_classic_recipients(device: Device) -> None:
    classic = X25519Identity.generate().recipient
    text = f'[device]\nid = "x"\n[owner]\nrecipients = ["{device.owner.recipient}", "{classic}"]\n'
    with pytest.raises(ConfigError, match=r"owner\.recipients.*post-quantum"):
        parse_config(text, source="doorbell.toml")


def test_config_names_the_key_for_a_damaged_hybrid_recipient() -> None:
    text = '[device]\nid = "x"\n[owner]\nrecipients = ["age1pq1' + "q" * 100 + '"]\n'
    with pytest.raises(ConfigError, match=r"owner\.recipients.*age1pq1"):
        parse_config(text, source="doorbell.toml")
