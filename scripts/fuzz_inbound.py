"""Fuzz what reaches the doorbell from outside: MQTT commands and the config file (hypothesis).

MQTT: `CommandRouter.handle` gets random topics (its own, near misses, junk), payloads
(junk bytes, near-miss commands, JSON of every shape, footage requests with fields
damaged, dropped or added, oversized ones) and the retained flag. It is wired to the
real consent intake (SQLite, signed ledger) in a scratch state directory. Properties:
- `handle` returns a verdict and no exception reaches its catch-all ("internal error");
- privacy mode is only ever switched ON, only by exactly `ON` on `<prefix>/privacy/set`,
  never by a retained message (remote un-pause is off, as by default);
- a footage request is stored only when the consent schema accepts it, only as pending,
  never more than the cap; nothing else is called;
- at the end the ledger still verifies.
Config: `parse_config` gets the example config with random edits and generated TOML
documents over the real section and key names with values of every type; `load_config`
gets raw bytes. The only exception allowed is `ConfigError`.

    python scripts/fuzz_inbound.py --seconds 600 [--seed 1] [--only mqtt|config]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from edge.core.config import Config, ConfigError, load_config, parse_config
from edge.core.config.example import render_example
from edge.core.mqtt.topics import Topics
from edge.core.store.requests import open_book, parse_request
from edge.core.timestamps import parse_rfc3339, rfc3339, utc_now
from edge.core.vault import X25519Identity
from edge.device.consent.device_audit import DeviceAudit
from edge.device.consent.intake import MAX_PENDING, RequestIntake
from edge.device.events.commands import CommandRouter
from edge.device.store.clip_store import ClipStore
from edge.device.store.events import StoreEvents
from edge.owner.state_audit import audit_state_dir

# -- MQTT ------------------------------------------------------------------------------------

CONFIG = Config.model_validate({"device": {"id": "front"}})
TOPICS = Topics.from_config(CONFIG)
PRIVACY_SET = TOPICS.full("privacy/set")
REQUEST_NEW = TOPICS.full("requests/new")

VALID_REQUEST = {
    "requester": "PC Jane Doe",
    "organisation": "Metropolitan Police",
    "contact": "jane.doe@example.org",
    "reason": "Bicycle theft reported on 2026-11-20 at this address",
    "case_ref": "CAD-1234/26",
    "from": "2026-11-20T17:00:00Z",
    "to": "2026-11-20T19:00:00Z",
    "recipient": str(X25519Identity.generate().recipient),
}


@dataclass
class Doorbell:
    """The daemon side of the router: records what the network made it do."""

    privacy_calls: list[tuple[bool, str]] = field(default_factory=list)

    def set_privacy_mode(self, on: bool, source: str) -> None:
        self.privacy_calls.append((on, source))


class Clock:
    """A monotonic clock the examples move, so rate limits refill or bite as drawn."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)


# When a command says it was sent: now (fresh), minutes ago (stale, as a queued one),
# ahead of the clock, missing, or not a time at all.
command_times = st.one_of(
    st.integers(-300, 300).map(lambda s: rfc3339(utc_now() + timedelta(seconds=s))),
    st.just(None),
    st.text(max_size=30),
)


@st.composite
def footage_requests(draw: st.DrawFn) -> bytes:
    """A valid request, then fields replaced, dropped or added, as JSON text (or not quite)."""
    request: dict[str, Any] = dict(VALID_REQUEST)
    start = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
    request["from"] = start.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    request["to"] = (
        (start + draw(st.timedeltas(timedelta(0), timedelta(days=40))))
        .replace(tzinfo=UTC)
        .isoformat()
    )
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*VALID_REQUEST, "extra", "__proto__", ""]))
        match draw(st.sampled_from(["replace", "drop", "text"])):
            case "replace":
                request[key] = draw(json_values)
            case "drop":
                request.pop(key, None)
            case "text":
                request[key] = draw(st.text(max_size=300))
    sent = draw(command_times)
    if sent is not None:
        request["time"] = sent
    text = json.dumps(request, ensure_ascii=draw(st.booleans()))
    match draw(st.sampled_from(["as is", "duplicate key", "cut", "nan", "deep"])):
        case "duplicate key":
            text = text[:-1] + ', "requester": "someone else"}'
        case "cut":
            text = text[: draw(st.integers(0, len(text)))]
        case "nan":
            text = text[:-1] + ', "n": NaN}'
        case "deep":
            text = "[" * 5000 + "]" * 5000
    return text.encode()


@st.composite
def privacy_commands(draw: st.DrawFn) -> bytes:
    """`{"state": ..., "time": ...}`: fresh, stale, future, missing or garbage times."""
    command: dict[str, Any] = {"state": draw(st.sampled_from(["ON", "OFF", "on", "", None]))}
    sent = draw(command_times)
    if sent is not None:
        command["time"] = sent
    if draw(st.booleans()):
        command[draw(st.sampled_from(["redaction", "state", "time", "x"]))] = draw(json_values)
    return json.dumps(command).encode()


payloads = st.one_of(
    st.sampled_from([b"ON", b"OFF", b"on", b" ON", b"ON\n", b"\xefON", b"", b"online", b"offline"]),
    privacy_commands(),
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    json_values.map(lambda v: json.dumps(v).encode()),
    footage_requests(),
    st.integers(16 * 1024 - 2, 16 * 1024 + 2).map(lambda n: b"{" + b" " * (n - 2) + b"}"),
)
_own_topics = st.sampled_from([PRIVACY_SET, REQUEST_NEW, TOPICS.ha_status])
_other_topics = st.one_of(
    st.sampled_from(
        [
            PRIVACY_SET + "/",
            PRIVACY_SET.upper(),
            TOPICS.full("privacy"),
            TOPICS.full("redaction/set"),
            TOPICS.full("recipients/add"),
            "#",
            "",
        ]
    ),
    st.text(max_size=60),
)
# Three in four messages on the router's own topics: that is where the handlers are.
topics = st.integers(0, 3).flatmap(lambda n: _other_topics if n == 0 else _own_topics)


class MqttRun:
    """The router under test, its state directory and what it was seen to do."""

    def __init__(self, state: Path) -> None:
        self.state = state
        owner = X25519Identity.generate()
        self.storage = Config.model_validate({"storage": {"path": str(state)}}).storage
        with ClipStore.open(self.storage, [str(owner.recipient)], events=StoreEvents()) as store:
            self.audit = DeviceAudit.for_store(store)
        self.doorbell = Doorbell()
        self.clock = Clock()
        self.intake = RequestIntake(state, self.audit)
        self.router = CommandRouter(
            TOPICS,
            privacy=self.doorbell,
            on_footage_request=self.intake.on_footage_request,
            allow_remote_unpause=False,
            clock=self.clock,
        )
        self.verdicts: Counter[str] = Counter()
        self.accepted_requests = 0

    def pending(self) -> int:
        with open_book(self.state, create=True) as book:
            return book.count_pending()

    def check(self, topic: str, payload: bytes, retained: bool, wait: float) -> None:
        self.clock.now += wait
        calls_before = len(self.doorbell.privacy_calls)
        pending_before = self.pending() if topic == REQUEST_NEW else 0
        verdict = self.router.handle(topic, payload, retained=retained)
        self.verdicts[verdict.reason.split(":")[0][:50]] += 1
        assert not verdict.reason.startswith("internal error"), verdict
        new_calls = self.doorbell.privacy_calls[calls_before:]
        if new_calls:
            assert new_calls == [(True, "mqtt")], new_calls
            assert (topic, retained) == (PRIVACY_SET, False)
            command = json.loads(payload)
            assert set(command) == {"state", "time"} and command["state"] == "ON"
            assert abs((utc_now() - parse_rfc3339(command["time"])).total_seconds()) < 200
            assert verdict.accepted
        if topic == REQUEST_NEW and verdict.accepted:
            fields = json.loads(payload)
            assert abs((utc_now() - parse_rfc3339(fields.pop("time"))).total_seconds()) < 200
            request = parse_request(fields)  # raises if the schema refuses it
            with open_book(self.state) as book:
                stored = book.get(request.request_id())
            assert stored is not None and stored.status == "pending"
            self.accepted_requests += 1
        if topic == REQUEST_NEW:
            assert self.pending() <= max(pending_before, MAX_PENDING)
        if verdict.accepted and topic not in (PRIVACY_SET, REQUEST_NEW):
            assert topic == TOPICS.ha_status and payload in (b"online", b"offline")

    def ledger_ok(self) -> None:
        result = audit_state_dir(self.state, ())
        assert result.chain.problem is None and not result.chain.torn_tail_bytes, result


# -- config ----------------------------------------------------------------------------------

EXAMPLE = render_example()
SECTIONS: dict[str, list[str]] = {}
for _name, _field in Config.model_fields.items():
    assert isinstance(_field.annotation, type) and issubclass(_field.annotation, BaseModel)
    SECTIONS[_name] = list(_field.annotation.model_fields)

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(),
    st.text(max_size=30),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def toml_value(value: Any) -> str:
    """`value` as a TOML value (inline arrays and tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


@st.composite
def config_documents(draw: st.DrawFn) -> str:
    """A TOML document over the real sections and keys (and a few unknown ones)."""
    parts = []
    for section in draw(st.lists(st.sampled_from([*SECTIONS, "extra"]), max_size=5, unique=True)):
        keys = SECTIONS.get(section, ["x"])
        chosen = draw(st.lists(st.sampled_from([*keys, "unknown"]), max_size=5, unique=True))
        lines = [f"{key} = {toml_value(draw(toml_values))}" for key in chosen]
        parts.append(f"[{section}]\n" + "\n".join(lines))
    return "\n".join(parts) + "\n"


@st.composite
def edited_examples(draw: st.DrawFn) -> str:
    """The example config with a few random line edits."""
    lines = EXAMPLE.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        match draw(st.sampled_from(["value", "drop", "duplicate", "junk", "swap"])):
            case "value" if "=" in lines[at]:
                lines[at] = lines[at].split("=")[0] + "= " + toml_value(draw(toml_values))
            case "drop":
                del lines[at]
            case "duplicate":
                lines.insert(at, lines[at])
            case "junk":
                lines[at] = draw(st.text(max_size=40))
            case "swap":
                other = draw(st.integers(0, len(lines) - 1))
                lines[at], lines[other] = lines[other], lines[at]
    return "\n".join(lines) + "\n"


def check_config(text: str) -> str:
    try:
        parse_config(text)
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return "ConfigError"
    return "valid"


# -- running ---------------------------------------------------------------------------------

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def mqtt_round(run: MqttRun) -> Any:
    @SETTINGS
    @given(topics, payloads, st.booleans(), st.sampled_from([0.0, 0.5, 30.0, 3600.0]))
    def fuzz(topic: str, payload: bytes, retained: bool, wait: float) -> None:
        run.check(topic, payload, retained, wait)

    return fuzz


def config_round(outcomes: Counter[str], scratch: Path) -> Any:
    @SETTINGS
    @given(st.one_of(config_documents(), edited_examples()), st.binary(max_size=200))
    def fuzz(text: str, raw: bytes) -> None:
        outcomes[check_config(text)] += 1
        path = scratch / "doorbell.toml"
        path.write_bytes(raw)
        try:
            load_config(path)
        except ConfigError:
            outcomes["file: ConfigError"] += 1

    return fuzz


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4)))
    parser.add_argument("--only", choices=["mqtt", "config"])
    args = parser.parse_args()
    # Every dropped message is logged with its reason; thousands a second are noise here.
    logging.disable(logging.CRITICAL)
    started = time.monotonic()
    budget = args.seconds / (1 if args.only else 2)
    with tempfile.TemporaryDirectory(prefix="fuzz-inbound-") as scratch:
        run = MqttRun(Path(scratch) / "state")
        outcomes: Counter[str] = Counter()
        parts = [("mqtt", mqtt_round(run)), ("config", config_round(outcomes, Path(scratch)))]
        for name, fuzz in parts:
            if args.only not in (None, name):
                continue
            print(f"fuzzing {name} for {budget:.0f} s, seed {args.seed}", flush=True)
            part_started, rounds = time.monotonic(), 0
            while time.monotonic() - part_started < budget:
                try:
                    seed(args.seed + rounds)(fuzz)()
                except Exception:
                    print(f"FAILED in {name} (seed {args.seed + rounds})")
                    raise
                rounds += 1
            print(f"  {rounds * 300} examples in {time.monotonic() - part_started:.0f} s")
        if args.only != "config":
            run.ledger_ok()
            print(f"  mqtt: {run.accepted_requests} requests accepted, {run.pending()} pending")
            print(f"  mqtt: privacy switched on {len(run.doorbell.privacy_calls)} times, never off")
            for reason, count in run.verdicts.most_common(12):
                print(f"    {count:>7}  {reason}")
        if args.only != "mqtt":
            for outcome, count in outcomes.most_common():
                print(f"  config: {count:>7}  {outcome}")
    print(f"no failure in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
