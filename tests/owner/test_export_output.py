"""What an export leaves on the owner's disk: 0600, logged before it is visible, never a
silent overwrite, and one clear line for an output that cannot be written."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest
from daemon_support import Device, make_device

from edge.cli import main
from edge.commands import export_cmd
from edge.core.log.ledger import LedgerError
from edge.core.store.reading import read_clips
from edge.device.daemon.daemon import Daemon
from edge.device.demo_scene import scene_frames


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Device, str]:
    device = make_device(tmp_path_factory.mktemp("device"))
    Daemon(device.config, frames=scene_frames(14.0)).run()
    (clip,) = read_clips(device.state)
    return device, clip.id


def export(device: Device, clip_id: str, out: Path, *extra: str) -> int:
    return main(
        [
            "export",
            *([clip_id] if clip_id else []),
            "-i",
            str(device.owner_key_path),
            "-o",
            str(out),
            "--config",
            str(device.config_path),
            *extra,
        ]
    )


def exported_entries(device: Device) -> int:
    lines = (device.state / "ledger.jsonl").read_text().splitlines()
    return sum(json.loads(line)["type"] == "clip.exported" for line in lines)


def test_the_exported_mp4_is_readable_by_the_owner_only(recorded, tmp_path) -> None:
    device, clip_id = recorded
    old = os.umask(0o022)
    try:
        assert export(device, clip_id, tmp_path / "clip.mp4") == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "clip.mp4").stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))


def test_an_existing_output_is_refused_without_force(recorded, tmp_path, capsys) -> None:
    device, clip_id = recorded
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"the owner's own file")
    before = exported_entries(device)
    assert export(device, clip_id, out) == 1
    assert out.read_bytes() == b"the owner's own file"
    assert "--force" in capsys.readouterr().err
    assert exported_entries(device) == before  # nothing decrypted, nothing logged
    assert export(device, clip_id, out, "--force") == 0
    assert out.read_bytes()[4:8] == b"ftyp"


def test_an_output_in_a_missing_folder_is_one_clear_line(recorded, tmp_path, capsys) -> None:
    device, clip_id = recorded
    assert export(device, clip_id, tmp_path / "no-such-folder" / "clip.mp4") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"doorbell: error: folder {tmp_path / 'no-such-folder'} does not exist"]


def test_the_export_is_logged_before_the_file_appears(recorded, tmp_path, monkeypatch) -> None:
    device, clip_id = recorded
    out = tmp_path / "clip.mp4"
    seen: list[bool] = []
    real = export_cmd.record_export

    def record_and_look(*args, **kwargs):
        seen.append(out.exists())
        return real(*args, **kwargs)

    monkeypatch.setattr(export_cmd, "record_export", record_and_look)
    before = exported_entries(device)
    assert export(device, clip_id, out) == 0
    assert seen == [False]
    assert exported_entries(device) == before + 1


def test_an_export_the_ledger_refuses_leaves_no_plaintext(
    recorded, tmp_path, monkeypatch, capsys
) -> None:
    device, clip_id = recorded

    def refuse(*_args, **_kwargs):
        raise LedgerError("ledger.jsonl: disk full")

    monkeypatch.setattr(export_cmd, "record_export", refuse)
    assert export(device, clip_id, tmp_path / "clip.mp4") == 1
    assert "disk full" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_time_range_exports_its_clips_as_one_playable_timeline(tmp_path) -> None:
    import av

    (tmp_path / "device").mkdir()
    device = make_device(tmp_path / "device")
    Daemon(device.config, frames=scene_frames(14.0)).run()
    time.sleep(1.1)  # a new clip id second
    Daemon(device.config, frames=scene_frames(14.0)).run()
    clips = read_clips(device.state)
    assert len(clips) == 2
    out = tmp_path / "range.mp4"
    start = min(c.started_at for c in clips) - 5
    end = max(c.ended_at or c.started_at for c in clips) + 5
    window = ["--from", _text(start), "--until", _text(end)]
    assert export(device, "", out, *window) == 0
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        times = [float(f.pts * f.time_base) for f in container.decode(stream)]
    assert times == sorted(times) and len(set(times)) == len(times)  # never goes back
    one_clip = tmp_path / "one.mp4"
    assert export(device, clips[0].id, one_clip) == 0
    with av.open(str(one_clip)) as container:
        single = sum(1 for _ in container.decode(video=0))
    assert single < len(times) <= 2 * single + 2
    lines = (device.state / "ledger.jsonl").read_text().splitlines()
    exported = [json.loads(x) for x in lines if json.loads(x)["type"] == "clip.exported"]
    assert sorted(exported[0]["body"]["clips"]) == sorted(c.id for c in clips)


def test_an_export_names_a_clip_or_a_range_not_both(recorded, tmp_path, capsys) -> None:
    device, clip_id = recorded
    both = ["--from", "2026-01-01T00:00:00Z", "--until", "2026-01-02T00:00:00Z"]
    assert export(device, clip_id, tmp_path / "x.mp4", *both) == 1
    assert "not both" in capsys.readouterr().err
    bad_time = ["--from", "yesterday", "--until", "now"]
    with pytest.raises(SystemExit) as usage:
        export(device, "", tmp_path / "y.mp4", *bad_time)
    assert usage.value.code == 2
    assert "not an RFC 3339 time" in capsys.readouterr().err


def _text(moment: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
