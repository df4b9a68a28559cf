"""The doorbell's MQTT link: one thread that owns the connection.

It publishes outbox rows in id order with QoS 1 and marks each delivered on its PUBACK,
so a broker outage or restart loses and reorders nothing (a row whose PUBACK was lost is
sent again: delivery is at least once, and every event carries an id to de-duplicate).
It also publishes state directly and retained (availability with a last will, motion,
privacy mode, health), Home Assistant discovery, doorbell presses, and hands inbound
messages to `CommandRouter`. Every payload is checked against its schema and the image
guard before it leaves; a payload that fails is logged and never sent.

Only this thread touches the paho client and the outbox connection it opens, so neither
needs to be thread-safe; other threads talk to it through `publish_*` and `notify`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from edge.core.config.models import Config
from edge.core.mqtt import topics
from edge.core.mqtt.connection import (
    Backoff,
    BrokerSettings,
    broker_settings,
    connack_problem,
    connect_problem,
    make_client,
)
from edge.core.mqtt.schemas import DoorbellPress, Health, PayloadError, validate_payload
from edge.core.mqtt.topics import Topics
from edge.core.timestamps import utc_now
from edge.device.events.commands import (
    RATE_LIMITED,
    CommandRouter,
    FootageRequestHandler,
    OwnerDecisionHandler,
    PrivacyControl,
)
from edge.device.events.discovery import discovery_messages
from edge.device.events.health import read_board_model
from edge.device.events.image_guard import find_image_data

log = logging.getLogger(__name__)

# How long a doorbell press may wait for a connection before it is stale.
PRESS_TTL_S = 30.0
# A broker that accepts TCP but never answers CONNECT is treated as down after this.
CONNACK_TIMEOUT_S = 10.0
# Delivered rows are pruned at most this often.
PRUNE_INTERVAL_S = 60.0
# A connection that lasted this long resets the back-off; a shorter one (another client
# with our id kicking us off, a broker that drops us at once) keeps backing off.
STABLE_CONNECTION_S = 10.0


class MirrorHook(Protocol):
    """Extra traffic that shares this connection (the mirror to the home server)."""

    def reset(self) -> None:
        """A new connection starts: forget what was in flight."""
        ...

    def pump(self, client: mqtt.Client) -> None:
        """Publish what may go now."""
        ...

    def on_publish(self, mid: int) -> bool:
        """Handle a PUBACK; False when `mid` is not its own."""
        ...


class OutboxRow(Protocol):
    """One undelivered event: topic suffix under the device prefix and JSON text."""

    @property
    def id(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> str: ...


class Outbox(Protocol):
    """The store's outbox as the publisher uses it (from its own thread only)."""

    def pending(self, limit: int) -> Sequence[OutboxRow]:
        """Undelivered rows, oldest (lowest id) first."""
        ...

    def mark_delivered(self, id: int) -> None:
        """Record that the broker acknowledged row `id`."""
        ...

    def prune_delivered(self, keep: int) -> object:
        """Delete delivered rows beyond the newest `keep`."""
        ...


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A snapshot of the link for health reporting, logs and tests."""

    connected: bool
    last_error: str | None
    delivered: int
    refused: int


@dataclass(slots=True)
class _Direct:
    suffix: str
    payload: str
    retain: bool
    expires: float


@dataclass(slots=True)
class _Session:
    """State of one connection; a new connection starts from the outbox again."""

    connected: bool = False
    connected_at: float = 0.0
    refused: str | None = None
    inflight: dict[int, int] = field(default_factory=dict)
    last_sent_id: int = 0
    announce: bool = True
    next_health: float = 0.0
    next_poll: float = 0.0
    next_prune: float = 0.0


class Publisher:
    """Start with `start()`, stop with `stop()`; safe to call `publish_*` from any thread."""

    def __init__(
        self,
        config: Config,
        open_outbox: Callable[[], Outbox] | None = None,
        *,
        privacy: PrivacyControl | None = None,
        on_footage_request: FootageRequestHandler | None = None,
        on_owner_decision: OwnerDecisionHandler | None = None,
        health: Callable[[], Health] | None = None,
        backoff: Backoff | None = None,
        poll_interval_s: float = 0.5,
        window: int = 20,
        settings: BrokerSettings | None = None,
        mirror: MirrorHook | None = None,
    ) -> None:
        self._config = config
        self._settings = settings or broker_settings(config)
        self._names = Topics.from_config(config)
        self._open_outbox = open_outbox
        self._mirror = mirror
        self._health = health
        self._backoff = backoff or Backoff()
        self._poll_interval_s = poll_interval_s
        self._window = window
        self._allowed_strings = [*self._names.all_full(), self._names.ha_status]
        self._router = CommandRouter(
            self._names,
            privacy=privacy,
            on_footage_request=on_footage_request,
            on_owner_decision=on_owner_decision,
            on_home_assistant_online=self._request_announce,
            allow_remote_unpause=config.mqtt.allow_remote_unpause,
        )

        self._lock = threading.Lock()
        # Motion starts OFF, so the first connection replaces an ON left retained by a run
        # that ended mid-motion (a crash, a power cut) instead of leaving it "Detected".
        self._state: dict[str, str] = {topics.MOTION: "OFF"}
        self._direct: deque[_Direct] = deque()
        self._outbox_dirty = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None
        self._session = _Session()
        self._last_error: str | None = None
        self._last_outbox_problem: str | None = None
        self._last_mirror_problem: str | None = None
        self._delivered = 0
        self._refused = 0

    @property
    def topics(self) -> Topics:
        """The resolved topic names of this device."""
        return self._names

    # -- called from other threads ---------------------------------------------------

    def start(self) -> None:
        """Start the link thread; it connects, and reconnects with back-off, until `stop`."""
        if self._thread is not None:
            raise RuntimeError("publisher already started")
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish `offline`, disconnect and join; undelivered rows stay in the outbox."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self) -> None:
        """Tell the link that new outbox rows were committed (saves waiting for the poll)."""
        self._outbox_dirty.set()

    def publish_motion(self, on: bool) -> None:
        """Publish motion `ON`/`OFF`, retained (state, not an event: the latest value wins).

        Cheap to call on every frame: an unchanged value is not sent again.
        """
        self._set_state(topics.MOTION, "ON" if on else "OFF")

    def publish_privacy_mode(self, on: bool) -> None:
        """Publish privacy mode `ON`/`OFF`, retained; call it whenever the mode changes."""
        self._set_state(topics.PRIVACY, "ON" if on else "OFF")

    def publish_doorbell_press(self, when: datetime | None = None) -> None:
        """Publish a doorbell press now (dropped if no connection within 30 s: a late ring
        is worse than none)."""
        payload = DoorbellPress(time=when or utc_now()).to_json()
        with self._lock:
            self._direct.append(
                _Direct(topics.DOORBELL, payload, False, time.monotonic() + PRESS_TTL_S)
            )

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected (True) or `timeout` seconds passed (False)."""
        return self._connected.wait(timeout)

    @property
    def status(self) -> LinkStatus:
        """A snapshot of connection state and counters."""
        with self._lock:
            return LinkStatus(
                connected=self._connected.is_set(),
                last_error=self._last_error,
                delivered=self._delivered,
                refused=self._refused,
            )

    def _set_state(self, suffix: str, value: str) -> None:
        with self._lock:
            # Callers may report state every frame; only a change goes on the wire.
            if self._state.get(suffix) == value:
                return
            self._state[suffix] = value
            self._direct.append(_Direct(suffix, value, True, float("inf")))

    # -- the link thread -----------------------------------------------------------------

    def _run(self) -> None:
        outbox: Outbox | None = None
        while not self._stop.is_set():
            try:
                if outbox is None and self._open_outbox is not None:
                    outbox = self._open_outbox()
                self._connect_and_serve(outbox)
            except Exception as exc:
                # Whatever went wrong (a locked database, a bug), the link must survive it;
                # the traceback is logged once per distinct problem.
                problem = f"MQTT link failed ({type(exc).__name__}: {exc}); retrying"
                if problem != self.status.last_error:
                    log.exception("%s", problem)
                self._fail(problem)
            self._stop.wait(self._backoff.next_delay())

    def _connect_and_serve(self, outbox: Outbox | None) -> None:
        """Run one connection until it fails, is refused or `stop` is called."""
        session = self._session = _Session()
        if self._mirror is not None:
            self._mirror.reset()
        client = make_client(self._settings)
        client.max_inflight_messages_set(self._window)
        client.will_set(self._names.full(topics.AVAILABILITY), topics.OFFLINE, qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = lambda _c, _u, mid, _rc, _p: self._on_publish(outbox, mid)
        client.on_message = self._on_message
        try:
            client.connect(self._settings.host, self._settings.port, self._settings.keepalive)
        except (OSError, ValueError) as exc:
            self._fail(connect_problem(exc, self._settings))
            return
        deadline = time.monotonic() + CONNACK_TIMEOUT_S
        try:
            while not self._stop.is_set():
                rc = client.loop(timeout=0.1)
                if session.refused is not None:
                    self._fail(session.refused)
                    return
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                if not session.connected:
                    if time.monotonic() > deadline:
                        self._fail("broker accepted TCP but did not answer CONNECT")
                        return
                    continue
                self._serve(client, session, outbox)
            if self._stop.is_set() and session.connected:
                self._say_goodbye(client)
        finally:
            was_connected = session.connected
            self._connected.clear()
            session.connected = False
        if was_connected and not self._stop.is_set():
            log.warning("lost the connection to the MQTT broker; reconnecting")
            if time.monotonic() - session.connected_at >= STABLE_CONNECTION_S:
                self._backoff.reset()

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        session = self._session
        if reason.is_failure:
            session.refused = connack_problem(reason)
            return
        session.connected = True
        session.connected_at = time.monotonic()
        with self._lock:
            self._last_error = None
        log.info("connected to MQTT broker %s:%d", self._settings.host, self._settings.port)
        self._send(client, topics.AVAILABILITY, topics.ONLINE, retain=True)
        for topic in self._router.subscriptions:
            client.subscribe(topic, qos=1)
        with self._lock:
            state = dict(self._state)
            # Queued state changes are covered by the snapshot; presses still wait.
            pending = [item for item in self._direct if not item.retain]
            self._direct.clear()
            self._direct.extend(pending)
        for suffix, value in state.items():
            self._send(client, suffix, value, retain=True)
        self._connected.set()

    def _on_disconnect(self, *_args: Any) -> None:
        self._connected.clear()

    def _on_publish(self, outbox: Outbox | None, mid: int) -> None:
        row_id = self._session.inflight.pop(mid, None)
        if row_id is None and self._mirror is not None:
            try:
                self._mirror.on_publish(mid)
            except Exception:
                # Not fatal: unacknowledged mirror work is sent again later.
                log.exception("mirror: could not record a PUBACK")
            return
        if row_id is None or outbox is None:
            return
        try:
            outbox.mark_delivered(row_id)
        except Exception:
            # Not fatal: the row is sent again next time, and events carry ids.
            log.exception("could not mark outbox row %d delivered", row_id)
            return
        with self._lock:
            self._delivered += 1

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        verdict = self._router.handle(message.topic, message.payload, retained=message.retain)
        if message.topic == self._names.full(topics.PRIVACY_SET) and verdict.reason != RATE_LIMITED:
            # Echo the real state, so a refused switch flips back in Home Assistant (not for
            # a flood: an attacker must not get one message out per message in).
            with self._lock:
                value = self._state.get(topics.PRIVACY)
                if value is not None:
                    self._direct.append(_Direct(topics.PRIVACY, value, True, float("inf")))

    def _request_announce(self) -> None:
        self._session.announce = True

    def _serve(self, client: mqtt.Client, session: _Session, outbox: Outbox | None) -> None:
        now = time.monotonic()
        if session.announce and self._config.mqtt.discovery:
            session.announce = False
            board = read_board_model()
            for topic, payload in discovery_messages(self._config.device, self._names, board):
                self._guarded_publish(client, topic, json.dumps(payload), retain=True)
        self._send_direct(client, now)
        if self._health is not None and now >= session.next_health:
            session.next_health = now + self._config.mqtt.health_interval_s
            self._send_health(client)
        if outbox is not None:
            try:
                self._pump_outbox(client, session, outbox, now)
            except Exception as exc:
                # A busy or broken database must not drop the connection (that would flap
                # availability); the rows stay pending and the next poll tries again.
                self._outbox_problem(f"outbox unavailable ({type(exc).__name__}: {exc})")
            else:
                self._outbox_problem(None)
        if self._mirror is not None:
            try:
                self._mirror.pump(client)
            except Exception as exc:
                # The mirror must never take the link (and so the events) down with it.
                problem = f"mirror unavailable ({type(exc).__name__}: {exc})"
                if problem != self._last_mirror_problem:
                    log.exception("%s", problem)
                self._last_mirror_problem = problem
            else:
                self._last_mirror_problem = None

    def _send_direct(self, client: mqtt.Client, now: float) -> None:
        with self._lock:
            items = list(self._direct)
            self._direct.clear()
        for item in items:
            if item.expires < now:
                log.warning(
                    "dropped a stale %s message (no broker connection in time)", item.suffix
                )
                continue
            self._send(client, item.suffix, item.payload, retain=item.retain)

    def _send_health(self, client: mqtt.Client) -> None:
        assert self._health is not None
        try:
            payload = self._health().to_json()
        except Exception:
            log.exception("could not build the health payload")
            return
        self._send(client, topics.HEALTH, payload, retain=True)

    def _pump_outbox(
        self, client: mqtt.Client, session: _Session, outbox: Outbox, now: float
    ) -> None:
        due = self._outbox_dirty.is_set() or now >= session.next_poll
        if not due or len(session.inflight) >= self._window:
            return
        self._outbox_dirty.clear()
        session.next_poll = now + self._poll_interval_s
        for row in outbox.pending(self._window + len(session.inflight)):
            if row.id <= session.last_sent_id:
                continue
            if len(session.inflight) >= self._window:
                # More rows are waiting: look again as soon as a PUBACK frees the window.
                self._outbox_dirty.set()
                return
            session.last_sent_id = row.id
            info = self._send(
                client, row.topic, row.payload, retain=row.topic in topics.RETAINED_TOPICS
            )
            if info is None:
                # Refused by schema or image guard: never sent. Marked delivered so that one
                # bad row cannot block every event after it; the log names it.
                log.error("outbox row %d refused and skipped", row.id)
                outbox.mark_delivered(row.id)
                continue
            session.inflight[info.mid] = row.id
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
        if now >= session.next_prune:
            session.next_prune = now + PRUNE_INTERVAL_S
            outbox.prune_delivered(self._config.mqtt.outbox_keep_delivered)

    def _send(
        self, client: mqtt.Client, suffix: str, payload: str, *, retain: bool
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish on a device topic with QoS 1 if the image guard and its schema agree."""
        topic = self._names.full(suffix)
        # The guard first: it must hold even for a payload whose schema was loosened.
        reason = find_image_data(payload.encode("utf-8"), self._allowed_strings)
        if reason is None:
            try:
                validate_payload(suffix, payload)
            except (PayloadError, UnicodeError) as exc:
                reason = str(exc)
        if reason is not None:
            return self._refuse(topic, reason)
        return client.publish(topic, payload.encode("utf-8"), qos=1, retain=retain)

    def _guarded_publish(
        self, client: mqtt.Client, topic: str, payload: str, retain: bool
    ) -> mqtt.MQTTMessageInfo | None:
        """Publish a discovery payload with QoS 1 unless the image guard objects."""
        data = payload.encode("utf-8")
        reason = find_image_data(data, self._allowed_strings)
        if reason is not None:
            return self._refuse(topic, reason)
        return client.publish(topic, data, qos=1, retain=retain)

    def _refuse(self, topic: str, reason: str) -> None:
        log.error("refused to publish on %s: %s", topic, reason)
        with self._lock:
            self._refused += 1

    def _say_goodbye(self, client: mqtt.Client) -> None:
        # Nothing watches for motion once the doorbell is gone: no retained ON may outlive it.
        with self._lock:
            motion = self._state.get(topics.MOTION)
        if motion != "OFF":
            self._send(client, topics.MOTION, "OFF", retain=True)
        info = client.publish(
            self._names.full(topics.AVAILABILITY), topics.OFFLINE, qos=1, retain=True
        )
        deadline = time.monotonic() + 2.0
        while not info.is_published() and time.monotonic() < deadline:
            if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                return
        # paho writes DISCONNECT at once and closes the socket itself.
        client.disconnect()

    def _outbox_problem(self, problem: str | None) -> None:
        if problem is not None and problem != self._last_outbox_problem:
            log.exception("%s", problem)
        elif problem is None and self._last_outbox_problem is not None:
            log.info("outbox readable again")
        self._last_outbox_problem = problem

    def _fail(self, problem: str) -> None:
        with self._lock:
            repeated = problem == self._last_error
            self._last_error = problem
        # Once per distinct problem: an outage of hours must not flood the journal.
        log.log(logging.DEBUG if repeated else logging.ERROR, "MQTT: %s", problem)
