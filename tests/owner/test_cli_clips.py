"""`doorbell clips`: what a user sees when listing the clips on the device."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from edge.cli import main
from edge.core.config.models import StorageConfig
from edge.core.vault import X25519Identity
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents

START = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def config(tmp_path: Path, state: Path) -> Path:
    recipient = X25519Identity.generate().recipient
    path = tmp_path / "doorbell.toml"
    path.write_text(f'[storage]\npath = "{state}"\n\n[owner]\nrecipients = ["{recipient}"]\n')
    return path


def _store(state: Path) -> ClipStore:
    recipient = X25519Identity.generate().recipient
    return ClipStore.open(StorageConfig(path=state), [str(recipient)], events=StoreEvents())


@pytest.fixture
def clips(state: Path) -> list[str]:
    with _store(state) as store:
        ids = []
        for i, (segments, size) in enumerate([(2, 600_000), (1, 2_000)]):
            clip_id = store.start_clip(START + 60 * i)
            for _ in range(segments):
                with store.open_segment(clip_id) as writer:
                    writer.write(os.urandom(size))
                    writer.duration_s = 2.0
            store.finish_clip(clip_id)
            ids.append(clip_id)
        store.delete_clip(ids[1], "owner")
        recording = store.start_clip(START + 180)
        ids.append(recording)
    return ids


def test_table_lists_each_clip_with_start_duration_segments_size_and_status(
    config: Path, clips: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clips", "--config", str(config)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "START", "(UTC)", "DURATION", "SEGMENTS", "SIZE", "STATUS"]
    assert lines[1].split()[:7] == [clips[0], "2027-01-15", "08:00:00", "4.0s", "2", "1.2", "MB"]
    assert lines[1].split()[7] == "complete"
    assert lines[2].split() == [
        clips[2],
        "2027-01-15",
        "08:03:00",
        "-",
        "0",
        "0",
        "B",
        "in_progress",
    ]
    assert len(lines) == 3  # the deleted clip is hidden


def test_all_includes_deleted_clips_with_the_reason(
    config: Path, clips: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clips", "--config", str(config), "--all"]) == 0

    row = capsys.readouterr().out.splitlines()[2]
    assert row.startswith(clips[1]) and row.endswith("deleted (owner)")


def test_json_is_a_list_of_clips_with_rfc3339_times(
    config: Path, clips: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clips", "--config", str(config), "--json"]) == 0

    listed = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in listed] == [clips[0], clips[2]]
    first = listed[0]
    assert first["started_at"] == "2027-01-15T08:00:00.000Z"
    assert (first["duration_s"], first["segments"], first["status"]) == (4.0, 2, "complete")
    assert first["bytes"] > 1_200_000


def test_installed_command_prints_json(config: Path, clips: list[str]) -> None:
    result = subprocess.run(
        ["doorbell", "clips", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [c["id"] for c in json.loads(result.stdout)] == [clips[0], clips[2]]


def test_listing_while_recording_changes_nothing(
    config: Path, state: Path, clips: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = sorted(str(p.relative_to(state)) for p in state.rglob("*"))

    assert main(["clips", "--config", str(config)]) == 0

    assert sorted(str(p.relative_to(state)) for p in state.rglob("*")) == before
    assert capsys.readouterr().out.rstrip().endswith("in_progress")  # not repaired


def test_empty_store_says_so(config: Path, state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(state).close()

    assert main(["clips", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "no clips\n"
    assert main(["clips", "--config", str(config), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_state_directory_without_an_index_is_an_error(
    config: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clips", "--config", str(config)]) == 1

    err = capsys.readouterr().err
    assert err == f"doorbell: error: no clip index at {state}/index.sqlite " + (
        "(has the daemon run with this config?)\n"
    )
    assert not state.exists()


def test_missing_config_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clips", "--config", str(tmp_path / "nope.toml")]) == 1

    assert capsys.readouterr().err == f"doorbell: error: {tmp_path}/nope.toml: file not found\n"


def test_invalid_config_names_the_bad_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[storage]\nretention_days = -1\n")

    assert main(["clips", "--config", str(path)]) == 1

    err = capsys.readouterr().err
    assert err.startswith("doorbell: error: ") and "storage.retention_days" in err
    assert err.count("\n") == 1
