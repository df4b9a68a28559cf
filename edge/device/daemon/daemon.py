"""Builds every stage from the config, runs the pipeline, and shuts down cleanly.

`Daemon.run()` serves `doorbell run` (a camera, until SIGTERM) and `doorbell replay`
(a video file as the camera, until it ends). Both are the same product: store, face
model, motion, redaction, recorder, encoder, ledger, and MQTT when enabled.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.core.config import Config
from edge.core.log.owner_orders import OwnerOrders, owner_orders
from edge.core.mqtt.schemas import Health, LedgerHead
from edge.core.store.errors import StorageError
from edge.core.store.index import ClipRecord
from edge.core.store.outbox import Outbox
from edge.core.store.status_file import STATUS_INTERVAL_S, DaemonStatus, write_status
from edge.device.button import DoorbellButton
from edge.device.capture.reopen import SourceUnavailable
from edge.device.capture.spec import open_source
from edge.device.consent.decisions import DecisionIntake
from edge.device.consent.device_audit import DeviceAudit
from edge.device.consent.intake import RequestIntake
from edge.device.daemon.clip_writer import ClipHooks, ClipWriter, StoredClip
from edge.device.daemon.ledger_writer import DaemonLedger
from edge.device.daemon.notify import SystemdNotifier
from edge.device.daemon.pipeline import Pipeline, PipelineStats
from edge.device.events.clip_events import clip_finished, clip_started, store_events
from edge.device.events.health import PipelineCounters, build_health
from edge.device.events.publisher import Publisher
from edge.device.frame import Frame
from edge.device.mirror.progress import unmirrored_clip_ids
from edge.device.mirror.sender import MirrorSender
from edge.device.mirror.waiting import count_unmirrored, mirrored_segments, wait_for_mirror
from edge.device.motion import MotionResult
from edge.device.privacy_state import load_privacy_mode, save_privacy_mode
from edge.device.redact import Redactor
from edge.device.stages import build_stages
from edge.device.store.clip_store import ClipStore
from edge.device.store.retention import Deletion

log = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 600.0
# How long a replay waits at the end for the broker to take the outbox.
DRAIN_TIMEOUT_S = 15.0


class DaemonError(Exception):
    """The daemon cannot start (no recipient, unusable state directory, no camera)."""


@dataclass
class RunSummary:
    """What a run did; `doorbell replay` prints it as JSON."""

    stats: PipelineStats
    clips: list[StoredClip]
    first_t: float | None
    fail_closed: int
    faces_redacted: int
    storage_full: bool
    repair: list[str] = field(default_factory=list)
    # Segments of these clips the broker acknowledged for the mirror (None: mirror off).
    mirrored_segments: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The replay summary: frames, fps, and each clip with its offset into the input."""
        origin = self.first_t or 0.0
        mirrored = (
            {} if self.mirrored_segments is None else {"mirrored_segments": self.mirrored_segments}
        )
        return {
            "frames_read": self.stats.frames_read,
            "frames_processed": self.stats.frames_processed,
            "frames_dropped": self.stats.frames_dropped,
            "fps": round(self.stats.fps, 2),
            "elapsed_s": round(self.stats.elapsed_s, 2),
            "cpu_ms_per_frame": round(self.stats.cpu_ms_per_frame, 2),
            "fail_closed_frames": self.fail_closed,
            "faces_redacted": self.faces_redacted,
            "storage_full": self.storage_full,
            "clips": [
                {
                    "id": clip.record.id,
                    "start_offset_s": round(clip.start_t - origin, 3),
                    "duration_s": round(clip.record.duration_s or 0.0, 3),
                    "segments": clip.record.segments,
                    "bytes": clip.record.bytes,
                    "status": clip.record.status,
                }
                for clip in self.clips
            ],
            **mirrored,
        }


class Daemon:
    """One doorbell. `source` replaces the configured camera (replays and tests); `frames`
    replaces it with frames made in memory (the demo), which implies a replay."""

    def __init__(
        self,
        config: Config,
        *,
        source: str | None = None,
        frames: Iterable[Frame] | None = None,
        realtime: bool = False,
        replay: bool = False,
    ) -> None:
        if not config.owner.recipients:
            raise DaemonError(
                "owner.recipients is empty: clips could not be encrypted to anyone "
                "(run `doorbell keygen` and put the age1... recipient in the config)"
            )
        self.config = config
        self._source_spec = source or ("memory" if frames is not None else config.camera.source)
        self._frames = frames
        self._replay = replay or frames is not None
        # `doorbell run` with a file as its camera plays it as a camera would: at its own
        # pace, with clips stamped by the wall clock from its first frame on.
        self._file_camera = self._source_spec.startswith("file:") and not self._replay
        self._realtime = realtime or self._file_camera
        self._notifier = SystemdNotifier()
        self._started = time.monotonic()
        self._publisher: Publisher | None = None
        self._mirror: MirrorSender | None = None
        self._unmirrored_deleted = 0
        self._pipeline: Pipeline | None = None
        self._redactor: Redactor | None = None
        self._writer: ClipWriter | None = None
        self._peak_score = 0.0
        self._next_retention = 0.0
        self._next_status = 0.0
        self._ledger_size = -1
        self._lock = threading.Lock()
        # Ledger entries are appended on the processing thread, not the MQTT thread.
        self._privacy_changes: list[tuple[bool, str]] = []
        self._privacy_on = False
        self._state_dir: Path | None = None

    def run(self) -> RunSummary:
        """Record until the source ends or SIGTERM/SIGINT; returns the summary."""
        config = self.config
        try:
            store = ClipStore.open(config.storage, config.owner.recipients, events=store_events())
        except StorageError as exc:
            raise DaemonError(str(exc)) from None
        for action in store.repair_actions:
            log.warning("repair: %s", action)
        self._state_dir = store.state_dir
        with self._lock:
            self._privacy_on = self._privacy_on or load_privacy_mode(store.state_dir)
        if self._privacy_on:
            log.warning("privacy mode is on (saved): not recording until it is switched off")
        try:
            return self._run_with(store)
        finally:
            store.close()

    def _run_with(self, store: ClipStore) -> RunSummary:
        audit = DeviceAudit.for_store(store)
        self._ledger = DaemonLedger(audit, store)
        self._ledger.catch_up()
        self._enforce_retention(store, audit)
        self._start_publisher(store, audit)
        button = self._open_button()
        summary: RunSummary | None = None
        try:
            summary = self._record(store, audit)
            return summary
        finally:
            if button is not None:
                button.close()
            self._record_privacy_changes(audit)
            if self._ledger.behind:
                self._ledger.catch_up()
            if self._publisher is not None:
                self._publisher.notify()
                if self._replay:
                    self._wait_for_outbox(store)
                    if self._mirror is not None:
                        wait_for_mirror(store.state_dir, self.config.mirror.replay_wait_s)
                self._publisher.stop()
            if self._mirror is not None:
                self._mirror.close()
                if summary is not None:
                    summary.mirrored_segments = mirrored_segments(
                        store.state_dir, [clip.record.id for clip in summary.clips]
                    )

    def _start_publisher(self, store: ClipStore, audit: DeviceAudit) -> None:
        if not self.config.mqtt.enabled:
            return
        intake = RequestIntake(store.state_dir, audit)
        if self.config.mirror.enabled:
            self._mirror = MirrorSender(self.config, store.state_dir, store.device_key.public_text)
        self._publisher = Publisher(
            self.config,
            lambda: Outbox(store.state_dir),
            privacy=self,
            on_footage_request=intake.on_footage_request,
            on_owner_decision=DecisionIntake(
                audit, self.config.device.id, self.config.owner.signing_keys
            ).on_decision,
            health=lambda: self._health(store, audit),
            mirror=self._mirror,
        )
        audit.on_checkpoint = self._publisher.notify
        self._publisher.publish_privacy_mode(self._privacy_on)
        self._publisher.start()

    def _open_button(self) -> DoorbellButton | None:
        pin = self.config.camera.button_gpio
        if pin is None:
            return None

        def pressed() -> None:
            log.info("doorbell button pressed")
            if self._publisher is not None:
                self._publisher.publish_doorbell_press()

        try:
            return DoorbellButton(pin, pressed)
        except Exception as exc:  # gpiozero has its own error types (BadPinFactory, ...)
            log.error("doorbell button on GPIO %d unavailable: %s", pin, exc)
            return None

    def _record(self, store: ClipStore, audit: DeviceAudit) -> RunSummary:
        config = self.config
        wall_time = _WallClock(from_first_frame=self._replay or self._file_camera)
        stages = build_stages(config)
        self._redactor = stages.redactor
        encoder = stages.encoder
        hooks = ClipHooks(
            started=lambda trigger_wall: clip_started(self._zones(), self._peak_score),
            stored=lambda faces: clip_finished(self._zones(), self._take_peak()),
            after_stored=lambda record: self._after_stored(store, audit, record),
            deleted=lambda deletion: self._clip_deleted(store, deletion),
        )
        writer = ClipWriter(
            store, encoder, wall_time, hooks, frame_interval=1.0 / config.camera.fps
        )
        self._writer = writer
        pipeline = Pipeline(
            wall_time.observe(self._open_frames()),
            stages.motion_for,
            stages.redactor,
            stages.recorder,
            writer,
            drop_when_behind=not self._replay or self._realtime,
            on_motion=self._on_motion,
            on_tick=lambda stats: self._on_tick(stats, store, audit, writer),
        )
        with self._lock:
            pipeline.set_privacy_mode(self._privacy_on)
            self._pipeline = pipeline
        restore = self._install_signal_handlers(pipeline)
        self._notifier.ready(f"recording from {self._source_spec}")
        try:
            stats = pipeline.run()
        finally:
            self._notifier.stopping()
            restore()
        failure = pipeline.failure
        if isinstance(failure, SourceUnavailable):
            raise DaemonError(str(failure)) from failure  # it names the source already
        if isinstance(failure, ImportError):
            raise DaemonError(f"{self._source_spec}: {failure}") from failure
        if failure is not None:
            raise DaemonError(f"pipeline failed: {failure}") from failure
        redaction = self._redactor.stats
        return RunSummary(
            stats=stats,
            clips=writer.status.clips,
            first_t=pipeline.first_t,
            fail_closed=redaction.fail_closed,
            faces_redacted=redaction.faces,
            storage_full=writer.status.storage_full,
            repair=list(store.repair_actions),
        )

    # -- privacy control (from MQTT or local) ---------------------------------------

    def set_privacy_mode(self, on: bool, source: str) -> None:
        """Stop (on) or resume (off) analysing and recording; saved so that it survives a
        restart, and logged in the ledger."""
        with self._lock:
            if self._privacy_on == on:
                return
            if self._state_dir is not None:
                try:
                    save_privacy_mode(self._state_dir, on, source)
                except OSError as exc:
                    # Still obeyed for this run; after a restart the saved mode holds.
                    log.error("cannot save privacy mode %s: %s", "on" if on else "off", exc)
            self._privacy_on = on
            if self._pipeline is not None:
                self._pipeline.set_privacy_mode(on)
        log.warning("privacy mode %s (from %s)", "on" if on else "off", source)
        if self._publisher is not None:
            self._publisher.publish_privacy_mode(on)
            if on:
                self._publisher.publish_motion(False)  # nothing is watched for motion now
        with self._lock:
            self._privacy_changes.append((on, source))

    # -- helpers ---------------------------------------------------------------------

    def _open_frames(self) -> Iterator[Frame]:
        if self._frames is not None:
            return iter(self._frames)
        camera = self.config.camera
        # A replayed file stands in for the camera; the camera's own settings don't apply.
        configured = self._source_spec == camera.source
        try:
            source = open_source(
                self._source_spec,
                size=(camera.width, camera.height),
                fps=camera.fps,
                realtime=self._realtime,
                rotation=camera.rotation if configured else 0,
                profile=camera.profile if configured else None,
            )
        except ValueError as exc:
            raise DaemonError(str(exc)) from None
        return iter(_closing(source))

    def _zones(self) -> list[int]:
        return list(range(len(self.config.motion.zones)))

    def _on_motion(self, result: MotionResult) -> None:
        with self._lock:
            self._peak_score = max(self._peak_score, result.score)
        if self._publisher is not None:
            self._publisher.publish_motion(result.active)

    def _take_peak(self) -> float:
        with self._lock:
            peak, self._peak_score = self._peak_score, 0.0
        return peak

    def _after_stored(self, store: ClipStore, audit: DeviceAudit, record: ClipRecord) -> None:
        self._ledger.clip_stored(record)
        if self._publisher is not None:
            self._publisher.notify()

    def _on_tick(
        self, stats: PipelineStats, store: ClipStore, audit: DeviceAudit, writer: ClipWriter
    ) -> None:
        self._notifier.watchdog()
        self._notifier.status(f"{stats.fps:.1f} fps, {len(writer.status.clips)} clips")
        self._record_privacy_changes(audit)
        ledger_size = _size(audit.ledger.path)
        if time.monotonic() >= self._next_retention:
            self._enforce_retention(store, audit)
        elif ledger_size != self._ledger_size:
            # A new entry may be an owner's order (on the device, or relayed from the
            # mirror): carry it out now rather than at the next retention round.
            self._carry_out_deletions(store, self._owner_orders(audit).delete)
        # After the work: its own appends (clip.deleted) are not new orders.
        self._ledger_size = _size(audit.ledger.path)
        if time.monotonic() >= self._next_status:
            self._next_status = time.monotonic() + STATUS_INTERVAL_S
            self._write_status(stats, store)

    def _write_status(self, stats: PipelineStats, store: ClipStore) -> None:
        pipeline, redactor = self._pipeline, self._redactor
        status = DaemonStatus(
            time=time.time(),
            pid=os.getpid(),
            source=self._source_spec,
            recorder=str(pipeline.recorder_state) if pipeline else "idle",
            fps=round(stats.fps, 1),
            frames_dropped=stats.frames_dropped,
            fail_closed_frames=redactor.stats.fail_closed if redactor else 0,
            privacy_mode=pipeline.privacy_mode if pipeline else self._privacy_on,
            recording_stopped=self._recording_stopped(),
        )
        try:
            write_status(store.state_dir, status)
        except OSError as exc:  # a full disk: the status can wait, the clips cannot
            log.debug("cannot write the status file: %s", exc)

    def _record_privacy_changes(self, audit: DeviceAudit) -> None:
        with self._lock:
            changes, self._privacy_changes = self._privacy_changes, []
        for on, source in changes:
            self._ledger.privacy_changed(on, source)

    def _enforce_retention(self, store: ClipStore, audit: DeviceAudit) -> None:
        self._next_retention = time.monotonic() + RETENTION_INTERVAL_S
        try:
            if not self.config.mqtt.enabled:
                # Nothing delivers events without a broker; keep the newest for a later one.
                with Outbox(store.state_dir) as outbox:
                    outbox.prune_undelivered(self.config.mqtt.outbox_keep_delivered)
            orders = self._owner_orders(audit)
            mirrored = self._mirror is not None

            def protect(conn: Any) -> set[str]:
                # Kept while there is room: not yet mirrored, or kept by the owner.
                return set(orders.keep) | (set(unmirrored_clip_ids(conn)) if mirrored else set())

            deletions: list[Deletion] = store.enforce_retention(protect=protect)
        except StorageError as exc:
            log.error("retention failed: %s", exc)
            return
        for deletion in deletions:
            log.info("retention deleted clip %s (%s)", deletion.clip_id, deletion.reason)
            self._clip_deleted(store, deletion)
        if self._ledger.behind:
            self._ledger.catch_up()
        self._carry_out_deletions(store, orders.delete)

    def _owner_orders(self, audit: DeviceAudit) -> OwnerOrders:
        try:
            return owner_orders(audit.ledger.entries(), self.config.owner.signing_keys)
        except (OSError, ValueError) as exc:
            log.error("cannot read the owner's orders from the ledger: %s", exc)
            return OwnerOrders(frozenset(), frozenset())

    def _carry_out_deletions(self, store: ClipStore, ordered: Collection[str]) -> None:
        """Delete the clips the owner ordered deleted (a signed `clip.delete`)."""
        for clip_id in sorted(ordered):
            clip = store.clip(clip_id)
            if clip is None or clip.status not in ("complete", "truncated"):
                continue  # not here, already gone, or still recording: next round
            try:
                deletion = store.delete_clip(clip_id, "owner")
            except StorageError as exc:
                log.error("cannot delete clip %s as the owner ordered: %s", clip_id, exc)
                continue
            log.info("deleted clip %s as the owner ordered", clip_id)
            self._clip_deleted(store, deletion)

    def _clip_deleted(self, store: ClipStore, deletion: Deletion) -> None:
        """Record a deletion; with the mirror on, say loudly if it lost unmirrored footage."""
        self._ledger.clip_deleted(deletion)
        if self._mirror is None:
            return
        try:
            lost = count_unmirrored(store.state_dir, deletion.clip_id)
        except StorageError as exc:
            log.error("mirror: cannot tell whether clip %s was mirrored: %s", deletion.clip_id, exc)
            return
        if lost:
            with self._lock:
                self._unmirrored_deleted += 1
            log.warning(
                "retention deleted clip %s (%s) before it was mirrored: %d segment(s) "
                "never reached the home server (the disk forced it)",
                deletion.clip_id,
                deletion.reason,
                lost,
            )

    def _health(self, store: ClipStore, audit: DeviceAudit) -> Health:
        pipeline, redactor = self._pipeline, self._redactor
        stats = pipeline.stats() if pipeline else None
        head = audit.head()
        return build_health(
            counters=PipelineCounters(
                fps=stats.fps if stats else 0.0,
                dropped_frames=stats.frames_dropped if stats else 0,
                redaction_fail_closed=redactor.stats.fail_closed if redactor else 0,
            ),
            storage_path=store.state_dir,
            storage_used_bytes=sum(c.bytes for c in store.clips()),
            privacy_mode=pipeline.privacy_mode if pipeline else False,
            ledger_head=LedgerHead(seq=head.seq, hash=head.hash),
            started_monotonic=self._started,
            interval_s=self.config.mqtt.health_interval_s,
            recording_stopped=self._recording_stopped(),
            mirror_backlog=self._mirror.backlog() if self._mirror is not None else None,
            unmirrored_deleted=self._unmirrored_deleted if self._mirror is not None else None,
        )

    def _recording_stopped(self) -> str | None:
        status = self._writer.status if self._writer is not None else None
        if status is None or not status.storage_full:
            return None
        return f"disk full and no clip left to delete ({status.storage_error})"[:300]

    def _wait_for_outbox(self, store: ClipStore) -> None:
        outbox = Outbox(store.state_dir)
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        try:
            while outbox.pending(1) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = len(outbox.pending(1000))
        finally:
            outbox.close()
        if left:
            log.warning("%d event(s) not yet delivered; they stay in the outbox", left)

    def _install_signal_handlers(self, pipeline: Pipeline) -> Callable[[], None]:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None

        def handle(signum: int, _frame: object) -> None:
            log.info("%s: finishing the clip in progress", signal.Signals(signum).name)
            pipeline.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore


class _WallClock:
    """Maps frame times to Unix time. A live camera's times are monotonic-clock seconds; a
    file's start at its first frame, which is taken to be now (`from_first_frame`)."""

    def __init__(self, from_first_frame: bool) -> None:
        self._from_first_frame = from_first_frame
        self._offset: float | None = None

    def observe(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Pass frames through, anchoring the clock on the first."""
        for frame in frames:
            if self._offset is None:
                now = time.time() if self._from_first_frame else time.time() - time.monotonic()
                self._offset = now - frame.t if self._from_first_frame else now
            yield frame

    def __call__(self, t: float) -> float:
        assert self._offset is not None, "no frame seen yet"
        return self._offset + t


def _closing(source: Any) -> Iterable[Frame]:
    try:
        yield from source
    finally:
        source.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1
