"""Inbound MQTT: the only things the network may ask of the doorbell (invariant 4).

Privacy mode on (always) or off (only when `mqtt.allow_remote_unpause`), footage
requests handed to the consent code, and Home Assistant's `online` announcement.
Nothing here can switch redaction off, add a recipient or pull footage: there is no
topic for it. Every message is rate limited per topic, size checked, decoded strictly
and validated before a callback sees it; commands must be fresh by the one rule of
`edge.core.mqtt.command_time`, whether they arrive live, retained or queued; anything
else is logged with the reason and dropped, and no message can raise out of `handle`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from edge.core.mqtt import topics
from edge.core.mqtt.command_time import MAX_AGE_S, MAX_AHEAD_S, TIME_KEY
from edge.core.mqtt.topics import Topics
from edge.core.strict_json import loads_strict
from edge.core.timestamps import parse_rfc3339, utc_now
from edge.device.events.rate_limit import RateLimit, TokenBucket

log = logging.getLogger(__name__)

MAX_INBOUND_BYTES = 16 * 1024
SOURCE = "mqtt"

RATE_LIMITED = "rate limited"

PRIVACY = "privacy"
REQUEST = "request"
DECISION = "decision"
HA_STATUS = "ha_status"

DEFAULT_LIMITS: dict[str, RateLimit] = {
    PRIVACY: RateLimit(burst=5, per_minute=12),
    REQUEST: RateLimit(burst=3, per_minute=6),
    DECISION: RateLimit(burst=20, per_minute=60),
    HA_STATUS: RateLimit(burst=3, per_minute=6),
}


class PrivacyControl(Protocol):
    """What the daemon implements so the network can pause it."""

    def set_privacy_mode(self, on: bool, source: str) -> None:
        """Stop (on) or resume (off) recording and analysing; `source` is e.g. 'mqtt'."""


OwnerDecisionHandler = Callable[[dict[str, Any]], object]
"""Called with an owner-signed decision; raises `ValueError` to refuse it (a bad
signature, another device's, an unknown owner key)."""

FootageRequestHandler = Callable[[dict[str, Any]], object]
"""Called with the decoded JSON object of a footage request; the consent code validates
it strictly and raises `ValueError` (or any exception) to refuse it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one inbound message."""

    accepted: bool
    reason: str


class CommandRouter:
    """Validates inbound messages and calls the daemon's callbacks with good ones only."""

    def __init__(
        self,
        names: Topics,
        *,
        privacy: PrivacyControl | None = None,
        on_footage_request: FootageRequestHandler | None = None,
        on_home_assistant_online: Callable[[], object] | None = None,
        on_owner_decision: OwnerDecisionHandler | None = None,
        allow_remote_unpause: bool = False,
        limits: dict[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._privacy = privacy
        self._on_footage_request = on_footage_request
        self._on_home_assistant_online = on_home_assistant_online
        self._on_owner_decision = on_owner_decision
        self._allow_remote_unpause = allow_remote_unpause
        self._kinds = {
            names.full(topics.PRIVACY_SET): PRIVACY,
            names.full(topics.REQUEST_NEW): REQUEST,
            names.full(topics.DECISION_NEW): DECISION,
            names.ha_status: HA_STATUS,
        }
        limits = {**DEFAULT_LIMITS, **(limits or {})}
        self._buckets = {kind: TokenBucket(limits[kind], clock) for kind in limits}
        self._wall_clock = wall_clock
        self._last_applied: dict[str, datetime] = {}
        self._rate_dropped: dict[str, int] = {}

    @property
    def subscriptions(self) -> list[str]:
        """The exact topics to subscribe to; no wildcards, so nothing else arrives."""
        return list(self._kinds)

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> Verdict:
        """Validate one message and act on it; never raises."""
        try:
            verdict = self._handle(topic, payload, retained)
        except Exception as exc:  # a bug here must not take the daemon down
            log.exception("inbound message on %s failed", topic)
            verdict = Verdict(False, f"internal error: {type(exc).__name__}")
        if not verdict.accepted and verdict.reason != RATE_LIMITED:
            log.warning(
                "dropped MQTT message on %r (%d bytes): %s", topic, len(payload), verdict.reason
            )
        return verdict

    def _handle(self, topic: str, payload: bytes, retained: bool) -> Verdict:
        kind = self._kinds.get(topic)
        if kind is None:
            return Verdict(False, "not a command topic")
        if not self._buckets[kind].allow():
            dropped = self._rate_dropped.get(kind, 0) + 1
            self._rate_dropped[kind] = dropped
            if dropped == 1:
                log.warning("rate limit on %r: dropping messages until the flood stops", topic)
            return Verdict(False, RATE_LIMITED)
        if self._rate_dropped.pop(kind, 0):
            log.warning("rate limit on %r lifted", topic)
        if retained and kind != HA_STATUS:
            # Fresh or not, a retained command would act again on every reconnect.
            return Verdict(False, "retained command ignored (it would replay on every reconnect)")
        if len(payload) > MAX_INBOUND_BYTES:
            return Verdict(False, f"payload larger than {MAX_INBOUND_BYTES} bytes")
        try:
            text = payload.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            return Verdict(False, f"not UTF-8 (byte {exc.start})")
        if kind == HA_STATUS:
            return self._home_assistant_status(text)
        if kind == DECISION:
            return self._owner_decision(text)
        try:
            command = _strict_json_object(text)
            sent = self._fresh(kind, command)
        except ValueError as exc:
            return Verdict(False, f"{kind} command refused: {exc}")
        verdict = (
            self._privacy_command(command) if kind == PRIVACY else self._footage_request(command)
        )
        if verdict.accepted:
            self._last_applied[kind] = sent
        return verdict

    def _fresh(self, kind: str, command: dict[str, Any]) -> datetime:
        """The command's send time, removed from it; ValueError unless it is fresh."""
        sent_text = command.pop(TIME_KEY, None)
        if not isinstance(sent_text, str):
            raise ValueError(f"no {TIME_KEY!r} (RFC 3339): a command must say when it was sent")
        try:
            sent = parse_rfc3339(sent_text)
        except ValueError:
            raise ValueError(f"{TIME_KEY!r} is not an RFC 3339 time") from None
        age = (self._wall_clock() - sent).total_seconds()
        if age > MAX_AGE_S:
            raise ValueError(f"sent {age:.0f} s ago, more than {MAX_AGE_S:.0f} s: too old")
        if age < -MAX_AHEAD_S:
            raise ValueError(f"sent {-age:.0f} s in the future by the doorbell's clock")
        last = self._last_applied.get(kind)
        if last is not None and sent <= last:
            raise ValueError("not newer than the last one applied (a replay)")
        return sent

    def _privacy_command(self, command: dict[str, Any]) -> Verdict:
        text = command.get("state")
        if set(command) != {"state"} or text not in ("ON", "OFF"):
            return Verdict(False, 'privacy command must be {"state": "ON" or "OFF", "time": ...}')
        on = text == "ON"
        if not on and not self._allow_remote_unpause:
            return Verdict(False, "remote un-pause refused (mqtt.allow_remote_unpause = false)")
        if self._privacy is None:
            return Verdict(False, "privacy mode is not controllable here")
        try:
            self._privacy.set_privacy_mode(on, SOURCE)
        except Exception as exc:
            log.exception("set_privacy_mode(%s) failed", on)
            return Verdict(False, f"privacy handler failed: {type(exc).__name__}")
        return Verdict(True, f"privacy mode {text}")

    def _footage_request(self, request: dict[str, Any]) -> Verdict:
        if self._on_footage_request is None:
            return Verdict(False, "footage requests are not accepted here")
        try:
            self._on_footage_request(request)
        except Exception as exc:
            return Verdict(False, f"footage request refused: {_one_line(exc)}")
        return Verdict(True, "footage request handed to consent")

    def _owner_decision(self, text: str) -> Verdict:
        # Not a command: an owner-signed record for the log, appended at most once per id,
        # however late it comes (the device may have been offline for days). Its owner
        # signature, not its freshness, is what makes it count.
        try:
            decision = _strict_json_object(text)
        except ValueError as exc:
            return Verdict(False, f"owner decision is not a JSON object: {exc}")
        if self._on_owner_decision is None:
            return Verdict(False, "owner decisions are not accepted here")
        try:
            appended = self._on_owner_decision(decision)
        except Exception as exc:
            return Verdict(False, f"owner decision refused: {_one_line(exc)}")
        return Verdict(True, "owner decision recorded" if appended else "owner decision known")

    def _home_assistant_status(self, text: str) -> Verdict:
        if text == topics.OFFLINE:
            return Verdict(True, "Home Assistant offline")
        if text != topics.ONLINE:
            return Verdict(False, "Home Assistant status must be online or offline")
        if self._on_home_assistant_online is not None:
            self._on_home_assistant_online()
        return Verdict(True, "Home Assistant online: re-announce")


def _strict_json_object(text: str) -> dict[str, Any]:
    """Parse JSON refusing duplicate keys, NaN/Infinity and anything but an object."""
    try:
        value = loads_strict(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON at character {exc.pos}") from None
    if not isinstance(value, dict):
        raise ValueError(f"got a JSON {type(value).__name__}")
    return value


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
