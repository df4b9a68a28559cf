"""`doorbell mirror` as a command: options or a config file, clear errors with exit codes
(0 ok, 1 failed, 2 usage), runs without OpenCV, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mosquitto import Mosquitto

from edge.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_missing_broker_or_directory_is_a_usage_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mirror", "--dir", str(tmp_path)])
    assert exc.value.code == 2
    assert "no broker" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["mirror", "--host", "127.0.0.1"])
    assert exc.value.code == 2


def test_a_wrong_config_value_names_the_key(tmp_path: Path, capsys) -> None:
    config = tmp_path / "mirror.toml"
    config.write_text('[mirror]\nhost = "127.0.0.1"\nretention_days = -1\n')
    assert main(["mirror", "--config", str(config), "--dir", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "mirror.retention_days" in err and err.count("\n") == 1
    config.write_text('[mirror]\nhots = "x"\n')
    assert main(["mirror", "--config", str(config)]) == 1
    assert "mirror.hots" in capsys.readouterr().err


def test_an_unreachable_broker_fails_with_one_line(tmp_path: Path, capsys) -> None:
    code = main(["mirror", "--host", "127.0.0.1", "--port", "1", "--dir", str(tmp_path / "m")])
    assert code == 1
    assert "refused" in capsys.readouterr().err


def test_runs_from_a_config_file_without_opencv_and_stops_on_sigterm(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = tmp_path / "mirror.toml"
    config.write_text(
        f'[mirror]\nhost = "127.0.0.1"\nport = {mosquitto.port}\ndir = "{tmp_path / "m"}"\n'
    )
    # cv2 made unimportable: the receiver must not need it.
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "cv2.py").write_text("raise ImportError('cv2 is not for the home server')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}"}
    child = subprocess.Popen(
        [sys.executable, "-m", "edge", "mirror", "--config", str(config)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "m").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        assert child.poll() is None
        child.send_signal(signal.SIGTERM)
        assert child.wait(15) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "receiving doorbell/+/mirror/#" in (child.stderr.read() if child.stderr else "")


def test_a_full_mirror_disk_acknowledges_nothing_and_stores_it_once_there_is_room(
    mosquitto: Mosquitto, small_fs: Path, caplog
) -> None:
    from mirror_support import Device, ReceiverThread
    from mosquitto import Subscriber

    from edge.core.mirror import wire

    filler = small_fs / "filler"
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    filler.write_bytes(b"\0" * max(0, free - 200_000))
    receiver = ReceiverThread(mosquitto, small_fs / "mirror", client_id="mirror-full-disk")
    device = Device()
    data, sig = device.segment(size=600_000)
    sender = Subscriber(mosquitto, [])
    try:
        for chunk in device.chunks(data, sig, chunk_bytes=100_000):
            sender.publish("doorbell/front/mirror/segment", wire.encode_message(chunk))
        time.sleep(2.0)
        assert receiver.receiver.stored_segments == 0
        assert any("storage failed" in r.getMessage() for r in caplog.records)
        filler.unlink()
        assert receiver.wait_for_segments(1, timeout=40)
    finally:
        sender.close()
        receiver.stop()
    stored = list((small_fs / "mirror" / "front" / "clips").rglob("0.mp4.age"))
    assert [p.read_bytes() for p in stored] == [data]
