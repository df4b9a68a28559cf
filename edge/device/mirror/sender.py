"""The mirror sender: finished segments, clip rows and ledger lines to the home server.

It runs on the publisher's thread and uses its MQTT connection (same broker, account,
TLS and ACL); the publisher calls `pump` on every turn of its loop, `on_publish` for each
PUBACK and `reset` when a new connection starts. Work comes from the index by difference
with what the broker acknowledged (`MirrorProgress`), so it resumes after a broker outage
or a restart and never needs the recording threads to wait: recording only writes the
index as it always did. Bounded: one segment in memory at a time, at most `window`
messages awaiting a PUBACK, each under 256 KiB.

Before a segment leaves, its file must hash to the recorded SHA-256 and start like an age
file (`looks_like_age`): only owner-encrypted ciphertext goes on the mirror topics. A
segment that fails is logged once and recorded as not sendable, so it cannot block the
ones after it. Ledger lines are copied verbatim, whole lines only, after the image guard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from edge.core.config.models import Config
from edge.core.log.ledger import LEDGER_FILENAME
from edge.core.mirror import wire
from edge.core.mqtt import topics
from edge.core.mqtt.topics import Topics
from edge.core.store.index import SegmentRecord
from edge.core.store.reading import segment_file
from edge.core.vault import looks_like_age
from edge.device.events.image_guard import find_image_data
from edge.device.mirror.progress import MirrorProgress

log = logging.getLogger(__name__)

# How often the index is looked at when there is nothing in hand.
POLL_INTERVAL_S = 0.2


# Keys and signatures are the only long base64 a ledger line may hold: at its top level.
_KEY_OR_SIGNATURE = re.compile(r"^(ed25519:)?[A-Za-z0-9+/]{43}=$|^[A-Za-z0-9+/]{86}==$")


def ledger_guard(lines: list[bytes], allowed: list[str]) -> str | None:
    """Why these ledger lines may not leave (not JSON objects, or image-like data), or None.

    The lines are otherwise opaque: the image guard runs on each with its top-level key
    and signature strings set aside, so a thumbnail cannot hide in an entry's body.
    """
    for number, line in enumerate(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            return f"line {number + 1} of the batch is not JSON"
        if not isinstance(entry, dict):
            return f"line {number + 1} of the batch is not a JSON object"
        known = [v for v in entry.values() if isinstance(v, str) and _KEY_OR_SIGNATURE.match(v)]
        reason = find_image_data(line, [*allowed, *known])
        if reason is not None:
            return reason
    return None


class PublishInfo(Protocol):
    """What paho's `publish` returns, as far as the sender needs it."""

    @property
    def mid(self) -> int: ...
    @property
    def rc(self) -> int: ...


class Client(Protocol):
    """The publishing half of a paho client."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> PublishInfo: ...


@dataclass
class _Transfer:
    """One segment being sent: its bytes, and which chunks are sent and acknowledged."""

    record: SegmentRecord
    data: bytes
    chunks: int
    next_chunk: int = 0
    acked: set[int] = field(default_factory=set)
    started: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class MirrorStats:
    """Counters for health, replay summaries and the benchmark."""

    segments_acked: int
    segments_refused: int
    cpu_s: float
    backlog: int | None


class MirrorSender:
    """Owns the mirror's progress connection; use from the publisher thread only."""

    def __init__(self, config: Config, state_dir: Path, device_public: str) -> None:
        self._state_dir = Path(state_dir)
        self._device = config.device.id
        self._key = device_public
        self._names = Topics.from_config(config)
        self._chunk_bytes = config.mirror.chunk_bytes
        self._window = config.mirror.window
        self._progress: MirrorProgress | None = None
        self._transfer: _Transfer | None = None
        self._queue: deque[SegmentRecord] = deque()
        self._inflight: dict[int, tuple[str, object]] = {}
        self._ledger_busy = False
        self._ledger_refused: int | None = None
        self._clips_busy: set[str] = set()
        self._next_poll = 0.0
        self._acked = 0
        self._refused = 0
        self._cpu_s = 0.0
        self._guard_strings = [self._names.prefix]

    @property
    def stats(self) -> MirrorStats:
        """Counters since start (read from any thread; values are plain ints/floats)."""
        return MirrorStats(self._acked, self._refused, self._cpu_s, None)

    def backlog(self) -> int:
        """Finished segments still to mirror (from the publisher thread, for health)."""
        return self._open().backlog()

    def reset(self) -> None:
        """A new connection: everything unacknowledged is sent again from the index."""
        self._inflight.clear()
        self._transfer = None
        self._queue.clear()
        self._ledger_busy = False
        self._clips_busy.clear()
        self._next_poll = 0.0

    def close(self) -> None:
        """Close the progress connection."""
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def pump(self, client: Client) -> None:
        """Send what the window allows; cheap when there is nothing to do."""
        started = time.thread_time()
        try:
            self._pump(client)
        finally:
            self._cpu_s += time.thread_time() - started

    def on_publish(self, mid: int) -> bool:
        """Handle a PUBACK; False when `mid` is not a mirror message."""
        item = self._inflight.pop(mid, None)
        if item is None:
            return False
        started = time.thread_time()
        kind, what = item
        progress = self._open()
        if kind == "segment":
            transfer = self._transfer
            clip_id, n, chunk = what  # type: ignore[misc]
            if transfer is not None and (transfer.record.clip_id, transfer.record.n) == (
                clip_id,
                n,
            ):
                transfer.acked.add(chunk)
                if len(transfer.acked) == transfer.chunks:
                    progress.segment_done(clip_id, n)
                    self._acked += 1
                    self._transfer = None
                    log.debug("mirrored segment %d of clip %s", n, clip_id)
        elif kind == "clip":
            clip_id, status = what  # type: ignore[misc]
            progress.clip_done(clip_id, status)
            self._clips_busy.discard(clip_id)
        else:
            lines, size = what  # type: ignore[misc]
            progress.ledger_done(lines, size)
            self._ledger_busy = False
        self._next_poll = 0.0
        self._cpu_s += time.thread_time() - started
        return True

    def _open(self) -> MirrorProgress:
        if self._progress is None:
            self._progress = MirrorProgress(self._state_dir)
        return self._progress

    def _pump(self, client: Client) -> None:
        if len(self._inflight) >= self._window:
            return
        now = time.monotonic()
        if self._transfer is None and not self._queue:
            if now < self._next_poll:
                return
            self._next_poll = now + POLL_INTERVAL_S
            self._send_ledger(client)
            self._send_clips(client)
            self._queue.extend(self._open().next_segments(4))
        while len(self._inflight) < self._window:
            if self._transfer is None:
                if not self._queue:
                    return
                self._transfer = self._load(self._queue.popleft())
                continue
            transfer = self._transfer
            if transfer.next_chunk >= transfer.chunks:
                return  # all sent; waiting for PUBACKs
            if not self._send_chunk(client, transfer):
                return

    def _load(self, record: SegmentRecord) -> _Transfer | None:
        """Read and check one segment file; records why when it cannot be sent."""
        progress = self._open()
        path = segment_file(self._state_dir, record)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            clip = progress.clip(record.clip_id)
            if clip is not None and clip.status == "deleted":
                log.warning(
                    "mirror: segment %d of clip %s was deleted (%s) before it was mirrored",
                    record.n,
                    record.clip_id,
                    clip.delete_reason,
                )
            else:
                log.error("mirror: segment %d of clip %s: file missing", record.n, record.clip_id)
            return self._refuse(record, "gone")
        except OSError as exc:
            log.error("mirror: cannot read segment %s: %s; retrying later", path, exc)
            self._next_poll = time.monotonic() + 5.0
            return None
        if hashlib.sha256(data).hexdigest() != record.sha256:
            log.error(
                "mirror: segment %d of clip %s does not match its recorded hash; not sent",
                record.n,
                record.clip_id,
            )
            return self._refuse(record, "hash-mismatch")
        if not looks_like_age(data):
            log.error(
                "mirror: segment %d of clip %s is not age ciphertext; not sent",
                record.n,
                record.clip_id,
            )
            return self._refuse(record, "not-age")
        chunks = max(1, math.ceil(len(data) / self._chunk_bytes))
        return _Transfer(record, data, chunks)

    def _refuse(self, record: SegmentRecord, outcome: str) -> None:
        self._open().segment_done(record.clip_id, record.n, outcome)
        self._refused += 1
        return None

    def _send_chunk(self, client: Client, transfer: _Transfer) -> bool:
        index = transfer.next_chunk
        offset = index * self._chunk_bytes
        record = transfer.record
        assert record.signature is not None
        message = wire.SegmentChunk(
            device=self._device,
            key=self._key,
            clip_id=record.clip_id,
            n=record.n,
            sha256=record.sha256,
            signature=record.signature,
            started_at=record.started_at,
            duration_s=record.duration_s,
            state=record.state,
            size=len(transfer.data),
            chunk=index,
            chunks=transfer.chunks,
            offset=offset,
            data=transfer.data[offset : offset + self._chunk_bytes],
        )
        if not self._publish(
            client,
            topics.MIRROR_SEGMENT,
            wire.encode_message(message),
            ("segment", (record.clip_id, record.n, index)),
        ):
            return False
        transfer.next_chunk += 1
        return True

    def _send_clips(self, client: Client) -> None:
        for clip in self._open().clips_to_announce():
            if clip.id in self._clips_busy or len(self._inflight) >= self._window:
                continue
            message = wire.ClipUpdate(
                device=self._device,
                key=self._key,
                clip_id=clip.id,
                started_at=clip.started_at,
                ended_at=clip.ended_at,
                duration_s=clip.duration_s,
                status=clip.status,
                faces_redacted=clip.faces_redacted,
            )
            if self._publish(
                client,
                topics.MIRROR_CLIP,
                wire.encode_message(message),
                ("clip", (clip.id, clip.status)),
            ):
                self._clips_busy.add(clip.id)

    def _send_ledger(self, client: Client) -> None:
        if self._ledger_busy:
            return
        lines_sent, bytes_sent = self._open().ledger_sent()
        path = self._state_dir / LEDGER_FILENAME
        try:
            with path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size <= bytes_sent:
                    return
                handle.seek(bytes_sent)
                block = handle.read(self._chunk_bytes)
        except FileNotFoundError:
            return
        end = block.rfind(b"\n")
        if end < 0:
            return  # a torn or over-long last line: wait for it to be whole
        lines = [line + b"\n" for line in block[:end].split(b"\n")]
        body = b"".join(lines)
        reason = ledger_guard(lines, self._guard_strings)
        if reason is not None:
            # Logged once: the lines stay unsent (and retention keeps going) until fixed.
            if self._ledger_refused != bytes_sent:
                log.error("mirror: ledger lines from line %d refused: %s", lines_sent + 1, reason)
            self._ledger_refused = bytes_sent
            return
        message = wire.LedgerLines(self._device, self._key, lines_sent, lines)
        if self._publish(
            client,
            topics.MIRROR_LEDGER,
            wire.encode_message(message),
            ("ledger", (lines_sent + len(lines), bytes_sent + len(body))),
        ):
            self._ledger_busy = True

    def _publish(
        self, client: Client, suffix: str, payload: bytes, item: tuple[str, object]
    ) -> bool:
        info = client.publish(self._names.full(suffix), payload, qos=1, retain=False)
        if info.rc != 0:
            return False  # not queued (connection gone): `reset` starts again
        self._inflight[info.mid] = item
        return True
