"""End to end over a real mosquitto: the daemon's audit log publishes a checkpoint after
every append, `doorbell watch` cosigns each one and publishes the cosignature, and a
rewrite made with the device key raises the alarm on MQTT and leaves evidence."""

from __future__ import annotations

import json
import time
from pathlib import Path

from log_support import rewrite
from mosquitto import HOST, Mosquitto, Subscriber, device_config
from watch_support import Watch

from edge.core.log.checkpoint import cosignature_time, open_checkpoint
from edge.core.mqtt.connection import Backoff
from edge.core.store.outbox import Outbox
from edge.core.vault import X25519Identity
from edge.device.consent.device_audit import DeviceAudit
from edge.device.events.clip_events import store_events
from edge.device.events.publisher import Publisher
from edge.device.store.clip_store import ClipStore

FRONT = "doorbell/front"


def test_watch_cosigns_each_checkpoint_and_alarms_on_a_rewrite(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    config = device_config(mosquitto, state, discovery=False)
    recipient = str(X25519Identity.generate().recipient)
    store = ClipStore.open(config.storage, [recipient], events=store_events())
    audit = DeviceAudit.for_store(store)
    publisher = Publisher(config, lambda: Outbox(state), backoff=Backoff(0.05, 0.3))
    audit.on_checkpoint = publisher.notify
    ledger_topics = Subscriber(mosquitto, [f"{FRONT}/ledger/#"])
    db = tmp_path / "home" / "watch.sqlite"
    watch = Watch("--host", HOST, "--port", str(mosquitto.port), "--db", str(db))
    try:
        witness_key = watch.expect("witness doorbell-witness.local/").split(" key ")[1]
        watch.expect("watching doorbell/#")
        publisher.start()
        for n in range(3):
            audit.privacy_changed(n % 2 == 0, "button")
        watch.expect("cosigned the audit log at 3 entries")

        def cosigned() -> list[str]:
            return [m.payload.decode() for m in ledger_topics.on(f"{FRONT}/ledger/cosigned")]

        assert ledger_topics.wait_for(lambda _: len(cosigned()) == 3)
        note = cosigned()[-1]
        device_key = store.device_key.signing_public
        assert open_checkpoint(note, device_key).size == 3
        assert cosignature_time(note, witness_key) is not None

        # Whoever holds the device rewrites the log with the device key and appends.
        rewrite(audit.ledger, store.device_key, keep=[1, 0, 2])
        audit.privacy_changed(True, "button")
        assert "LOG REWRITTEN" in watch.expect("WARNING doorbell/front: LOG")
        assert ledger_topics.wait_for(lambda _: ledger_topics.on(f"{FRONT}/ledger/alarm"))
        alarm = json.loads(ledger_topics.on(f"{FRONT}/ledger/alarm")[0].payload)
        assert (alarm["state"], alarm["kind"]) == ("ON", "inconsistent")
        time.sleep(0.2)
        assert len(cosigned()) == 3  # the rewritten log was not cosigned
        (evidence,) = (db.parent / "evidence" / "doorbell_front").iterdir()
        assert (evidence / "cosigned-3.note").read_text() == note
        assert open_checkpoint((evidence / "offending.note").read_text(), device_key).size == 4
        assert watch.stop() == 0
    finally:
        publisher.stop()
        store.close()
        ledger_topics.close()
        watch.stop()
