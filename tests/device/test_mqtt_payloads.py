"""Only metadata leaves: every payload has a documented schema, none can carry an image,
and the publisher refuses (and skips) an outbox row that could."""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from mosquitto import Mosquitto, Subscriber, device_config

from edge.core.config.models import Config
from edge.core.mqtt.connection import Backoff
from edge.core.mqtt.schemas import (
    JSON_MODELS,
    ClipStored,
    DoorbellPress,
    LedgerHead,
    PayloadError,
    RequestStatus,
    outbox_event,
    validate_payload,
)
from edge.core.store.index import connect, transaction
from edge.core.store.outbox import Outbox, enqueue_events
from edge.core.store.requests import parse_request
from edge.core.vault import X25519Identity
from edge.device.events.clip_events import clip_finished, clip_started, store_events
from edge.device.events.discovery import COMPONENTS
from edge.device.events.health import PipelineCounters, build_health, read_cpu_temperature
from edge.device.events.image_guard import find_image_data
from edge.device.events.publisher import Publisher
from edge.device.store.clip_store import ClipStore

PREFIX = "doorbell/front"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(200)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + os.urandom(200)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HEAD = LedgerHead(seq=7, hash="sha256:" + "ab" * 32)


def clip_payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "schema": 1,
        "id": "20261127T120000Z-ab12",
        "status": "complete",
        "start": "2026-11-27T12:00:00.000Z",
        "duration_s": 4.0,
        "segments": 2,
        "bytes": 123456,
        "ciphertext_sha256": ["a" * 64, "b" * 64],
        "faces_redacted": 3,
        "time": "2026-11-27T12:00:04.000Z",
    }
    payload.update(changes)
    return payload


# -- schemas ---------------------------------------------------------------------------


def test_clip_stored_payload_round_trips_with_utc_rfc3339_times() -> None:
    text = json.dumps(clip_payload())
    clip = validate_payload("clips/stored", text)
    assert isinstance(clip, ClipStored)
    assert json.loads(clip.to_json())["start"] == "2026-11-27T12:00:00.000Z"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"start": "2026-11-27T14:00:00+02:00"}, "UTC"),
        ({"start": "2026-11-27T12:00:00"}, "timezone"),
        ({"bytes": "123456"}, "integer"),
        ({"thumbnail": "/9j/4AAQSkZJRg"}, "Extra inputs"),
        ({"ciphertext_sha256": ["a" * 64]}, "one hash per segment"),
        ({"ciphertext_sha256": ["A" * 64, "b" * 64]}, "pattern"),
        ({"schema": 2}, "1"),
        ({"id": "x" * 65}, "at most 64"),
        ({"duration_s": float("nan")}, "duration_s"),
    ],
)
def test_payload_off_its_schema_is_refused(changes: dict[str, object], why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        validate_payload("clips/stored", json.dumps(clip_payload(**changes)))


def test_times_must_be_utc_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="UTC"):
        DoorbellPress(time=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_plain_state_topics_accept_only_their_values() -> None:
    assert validate_payload("motion", b"ON") == "ON"
    assert validate_payload("availability", b"offline") == "offline"
    with pytest.raises(PayloadError):
        validate_payload("motion", b"on")
    with pytest.raises(PayloadError):
        validate_payload("snapshot", b"{}")


def test_state_and_presses_do_not_go_through_the_outbox() -> None:
    assert outbox_event(RequestStatus(id="r1", status="pending", time=NOW))[0] == (
        "requests/status"
    )
    with pytest.raises(PayloadError, match="directly"):
        outbox_event(DoorbellPress(time=NOW))


# -- the image guard ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (JPEG, "JPEG"),
        (PNG, "PNG"),
        (MP4, "MP4"),
        (json.dumps({"x": JPEG.decode("latin-1")}).encode(), "JPEG"),
        (json.dumps({"x": base64.b64encode(JPEG).decode()}).encode(), "JPEG"),
        (json.dumps({"x": base64.b64encode(PNG).decode()}).encode(), "PNG"),
        (json.dumps({"x": base64.b64encode(MP4).decode()}).encode(), "MP4"),
        (json.dumps({"x": base64.b64encode(os.urandom(60)).decode()}).encode(), "base64"),
        (json.dumps({"x": base64.urlsafe_b64encode(os.urandom(60)).decode()}).encode(), "base64"),
        (json.dumps({"x": "A" * 65}).encode(), "base64"),
    ],
)
def test_image_guard_finds_images_raw_escaped_and_encoded(payload: bytes, why: str) -> None:
    reason = find_image_data(payload)
    assert reason is not None and why in reason


def test_image_guard_accepts_hashes_and_the_devices_own_long_topics() -> None:
    assert find_image_data(json.dumps(clip_payload()).encode()) is None
    assert find_image_data(json.dumps({"x": "A" * 64}).encode()) is None
    long_prefix = "doorbell/" + "d" * 64
    payload = json.dumps({"state_topic": long_prefix + "/motion"}).encode()
    assert find_image_data(payload) is not None
    assert find_image_data(payload, allowed=[long_prefix + "/motion"]) is None


def test_publisher_refuses_and_skips_outbox_rows_that_could_carry_images(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    conn = connect(state / "index.sqlite")
    bad = [
        ("clips/stored", json.dumps(clip_payload(thumbnail=base64.b64encode(JPEG).decode()))),
        ("events/started", json.dumps({"schema": 1, "id": base64.b64encode(PNG).decode()})),
        ("snapshot", json.dumps({"schema": 1, "image": "hello"})),
        ("clips/stored", json.dumps(clip_payload(id="x" * 70))),
    ]
    with transaction(conn):
        enqueue_events(conn, [*bad, ("clips/stored", json.dumps(clip_payload()))])
    conn.close()
    subscriber = Subscriber(mosquitto, ["#"])
    config = device_config(mosquitto, state, discovery=False)
    publisher = Publisher(config, lambda: Outbox(state), backoff=Backoff(0.05, 0.3))
    with caplog.at_level(logging.ERROR, logger="edge.device.events.publisher"):
        publisher.start()
        try:
            assert subscriber.wait_for(lambda m: any(x.topic.endswith("clips/stored") for x in m))
            time.sleep(0.3)
            stored = subscriber.on(f"{PREFIX}/clips/stored")
            assert [json.loads(m.payload) for m in stored] == [clip_payload()]
            assert not any("snapshot" in m.topic for m in subscriber.messages)
            assert publisher.status.refused == 4
        finally:
            publisher.stop()
            subscriber.close()
    with Outbox(state) as outbox:
        assert outbox.pending(10) == []  # refused rows do not block the ones after them
    assert "JPEG" in caplog.text and "PNG" in caplog.text


# -- every payload on the wire -----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClipStore]:
    config = Config.model_validate({"storage": {"path": str(tmp_path / "state")}})
    recipient = str(X25519Identity.generate().recipient)
    with ClipStore.open(config.storage, [recipient], events=store_events()) as opened:
        yield opened


def test_everything_published_is_documented_metadata_without_images(
    mosquitto: Mosquitto, store: ClipStore, tmp_path: Path
) -> None:
    state = store.state_dir
    clip_ids = []
    for faces in (0, 2, 5):
        clip_id = store.start_clip(events=clip_started([0, 1], 0.2))
        for _ in range(2):
            writer = store.open_segment(clip_id)
            writer.write(JPEG + PNG + MP4)  # what the device records never shows up
            writer.close(duration_s=2.0)
        store.finish_clip(clip_id, faces_redacted=faces, events=clip_finished([0, 1], 0.5))
        clip_ids.append(clip_id)
    store.delete_clip(clip_ids[0], "asked by the owner's neighbour")
    store.enforce_retention(now=time.time() + 400 * 86400)
    conn = connect(state / "index.sqlite")
    with transaction(conn):
        enqueue_events(conn, [outbox_event(RequestStatus(id="r-1", status="pending", time=NOW))])
    conn.close()

    thermal = tmp_path / "thermal" / "thermal_zone0"
    thermal.mkdir(parents=True)
    (thermal / "type").write_text("cpu-thermal\n")
    (thermal / "temp").write_text("48312\n")
    started = time.monotonic()
    config = device_config(mosquitto, state)

    def health() -> object:
        return build_health(
            counters=PipelineCounters(fps=14.9, dropped_frames=3, redaction_fail_closed=1),
            storage_path=state,
            storage_used_bytes=4096,
            privacy_mode=False,
            ledger_head=HEAD,
            started_monotonic=started,
            interval_s=60.0,
            thermal_root=tmp_path / "thermal",
        )

    subscriber = Subscriber(mosquitto, ["#"])
    publisher = Publisher(
        config,
        lambda: Outbox(state),
        health=health,
        backoff=Backoff(0.05, 0.3),  # type: ignore[arg-type]
    )
    publisher.publish_motion(True)
    publisher.publish_privacy_mode(False)
    publisher.start()
    try:
        assert publisher.wait_connected(5)
        publisher.publish_doorbell_press()
        publisher.publish_motion(False)
        wanted = {
            f"{PREFIX}/{suffix}"
            for suffix in (
                "availability",
                "motion",
                "privacy",
                "health",
                "doorbell",
                "events/started",
                "events/ended",
                "clips/stored",
                "clips/deleted",
                "requests/status",
            )
        }
        assert subscriber.wait_for(lambda m: wanted <= {x.topic for x in m}), wanted - {
            x.topic for x in subscriber.messages
        }
        assert subscriber.wait_for(lambda m: len(subscriber.on(f"{PREFIX}/clips/deleted")) == 3)
    finally:
        publisher.stop()
        subscriber.close()

    discovery = 0
    for message in subscriber.messages:
        assert find_image_data(message.payload) is None, message.topic
        if message.topic.startswith("homeassistant/"):
            discovery += 1
            component = message.topic.split("/")[1]
            assert component in COMPONENTS and component not in ("camera", "image")
            assert "entity_picture" not in json.loads(message.payload)
            continue
        suffix = message.topic.removeprefix(PREFIX + "/")
        validate_payload(suffix, message.payload)  # raises if off-schema
    assert discovery == 13
    health_payload = json.loads(subscriber.on(f"{PREFIX}/health")[0].payload)
    assert health_payload["cpu_temp_c"] == 48.3
    assert health_payload["ledger_head"] == {"seq": 7, "hash": HEAD.hash}
    assert health_payload["redaction_fail_closed"] == 1
    deleted = [json.loads(m.payload) for m in subscriber.on(f"{PREFIX}/clips/deleted")]
    assert [d["reason"] for d in deleted] == ["owner", "retention", "retention"]


# -- health ------------------------------------------------------------------------------


def test_cpu_temperature_prefers_the_cpu_zone_and_is_absent_without_sysfs(
    tmp_path: Path,
) -> None:
    assert read_cpu_temperature(tmp_path / "nothing") is None
    for name, kind, milli in (
        ("thermal_zone0", "battery", "30000"),
        ("thermal_zone1", "cpu-thermal", "61250"),
    ):
        zone = tmp_path / name
        zone.mkdir()
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(milli + "\n")
    assert read_cpu_temperature(tmp_path) == 61.2


# -- the documentation ---------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "MQTT.md"


def documented_examples(kind: str) -> dict[str, str]:
    """`<!-- kind: suffix -->` followed by a ```json block, from docs/MQTT.md."""
    examples = {}
    for part in DOCS.read_text().split(f"<!-- {kind}: ")[1:]:
        suffix, rest = part.split(" -->", 1)
        examples[suffix] = rest.split("```json", 1)[1].split("```", 1)[0]
    return examples


def test_every_documented_payload_example_matches_its_schema() -> None:
    examples = documented_examples("topic")
    assert set(examples) == set(JSON_MODELS)
    for suffix, text in examples.items():
        payload = validate_payload(suffix, text)
        assert find_image_data(payload.to_json().encode()) is None


def test_documented_footage_request_is_accepted_by_the_consent_code() -> None:
    (text,) = documented_examples("inbound").values()
    fields = json.loads(text)
    assert "time" in fields  # every command says when it was sent
    del fields["time"]
    parse_request(fields)
