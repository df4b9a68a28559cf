"""Done-when for consent, end to end with a real broker, age CLI and ffprobe:
request over MQTT -> pending -> owner approves -> package verifies -> recipient plays it
with `age` -> the ledger verifies; then any edit, deletion or reorder of it is named."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands_support import request as fresh
from mosquitto import Mosquitto, Subscriber, device_config
from share_support import Device, make_device, record_clip

from edge.cli import main
from edge.core.log.ledger import Ledger
from edge.core.mqtt.connection import Backoff
from edge.core.store.outbox import Outbox
from edge.device.consent.intake import RequestIntake
from edge.device.events.publisher import Publisher

pytestmark = pytest.mark.skipif(
    shutil.which("age") is None or shutil.which("ffprobe") is None,
    reason="needs the age CLI and ffprobe",
)

STATUS = "doorbell/front/requests/status"
NEW = "doorbell/front/requests/new"


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    made = make_device(tmp_path)
    yield made
    made.store.close()


@pytest.fixture
def publisher(mosquitto: Mosquitto, device: Device) -> Iterator[Publisher]:
    intake = RequestIntake(device.state, device.audit)
    link = Publisher(
        device_config(mosquitto, device.state),
        lambda: Outbox(device.state),
        on_footage_request=intake.on_footage_request,
        backoff=Backoff(0.05, 0.3),
        poll_interval_s=0.05,
    )
    link.start()
    assert link.wait_connected(10)
    yield link
    link.stop()


def statuses(subscriber: Subscriber) -> list[dict[str, object]]:
    return [json.loads(m.payload) for m in subscriber.on(STATUS)]


def run(device: Device, *args: str) -> int:
    return main([*args, "--config", str(device.config)])


def test_request_over_mqtt_to_verified_package_and_tamper_evident_ledger(
    mosquitto: Mosquitto,
    device: Device,
    publisher: Publisher,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    now = time.time()
    old = record_clip(device, now - 7200, segments=1)
    wanted = record_clip(device, now - 600, segments=2)
    key = tmp_path / "police-key.txt"
    subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
    recipient = key.read_text().split("# public key: ")[1].split()[0]

    watcher = Subscriber(mosquitto, [STATUS])
    try:
        request = {
            "requester": "PC A. Jones",
            "organisation": "Metropolitan Police",
            "contact": "a.jones@example.police.uk",
            "reason": "Burglary at number 12",
            "case_ref": "CR-2026-0042",
            "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1800)),
            "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "recipient": recipient,
        }
        watcher.publish(NEW, fresh({**request, "thumbnail": "please"}))
        watcher.publish(NEW, fresh(request))
        assert watcher.wait_for(lambda _: len(statuses(watcher)) == 1)
        pending = statuses(watcher)[0]
        assert pending["status"] == "pending"
        assert set(pending) == {"schema", "id", "status", "time"}  # metadata only
        request_id = str(pending["id"])

        assert run(device, "requests", "list", "--json") == 0
        listed = json.loads(capsys.readouterr().out)
        assert [(r["id"], r["status"]) for r in listed] == [(request_id, "pending")]

        out = tmp_path / "for-police"
        approve = ["requests", "approve", request_id, "--out", str(out)]
        assert run(device, *approve, "--identity", str(device.owner_key_file)) == 0
        publisher.notify()
        assert watcher.wait_for(lambda _: len(statuses(watcher)) == 2)
        assert statuses(watcher)[1]["status"] == "approved"
    finally:
        watcher.close()

    capsys.readouterr()
    device_key = (device.state / "device.pub").read_text().strip()
    pinned = ["--owner-key", device.owner.signing_public, "--device-key", device_key]
    assert main(["verify", str(out), "--identity", str(key), *pinned]) == 0
    assert "decrypted and decoded 10 frame(s)" in capsys.readouterr().out
    assert not (out / old).exists()
    for n in (0, 1):
        mp4 = subprocess.run(
            ["age", "-d", "-i", str(key), str(out / wanted / f"{n}.mp4.age")],
            check=True,
            capture_output=True,
        ).stdout
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", "-i", "-"],
            input=mp4,
            check=True,
            capture_output=True,
        )
        assert json.loads(probe.stdout)["streams"][0]["nb_read_frames"] == "5"

    assert run(device, "audit", "verify", "--files") == 0
    ledger = Ledger.in_state_dir(device.state)
    good = ledger.path.read_bytes()
    lines = good.splitlines(keepends=True)
    types = [json.loads(line)["type"] for line in lines]
    assert types == [
        "clip.stored",
        "clip.stored",
        "request.received",
        "clip.shared",
        "request.approved",
    ]

    flipped = bytearray(good)
    flipped[len(lines[0]) + len(lines[1]) + 40] ^= 0x01
    tampered = {
        "flip one byte of line 3": (bytes(flipped), "line 3"),
        "drop line 2": (lines[0] + b"".join(lines[2:]), "line 2 (seq 3): seq 3 where 2"),
        "swap lines 4 and 5": (
            b"".join([*lines[:3], lines[4], lines[3]]),
            "line 4 (seq 5): seq 5 where 4",
        ),
    }
    for what, (data, named) in tampered.items():
        ledger.path.write_bytes(data)
        capsys.readouterr()
        assert run(device, "audit", "verify") == 1, what
        assert named in capsys.readouterr().err, what
    ledger.path.write_bytes(good)
    assert run(device, "audit", "verify") == 0
