"""The home server's side of the mirror: checks and stores what doorbells send.

`MirrorReceiver.handle(topic, payload)` takes one MQTT message and either stores what it
carries durably or rejects it with one log line; it never raises for bad input, so the
receiver keeps going. Layout under the mirror directory, per device id, the same as the
device's own state directory (so the owner's tools read both alike):

    DIR/<device-id>/device.pub            the pinned device key
    DIR/<device-id>/index.sqlite          clips and segments (the store's schema)
    DIR/<device-id>/clips/YYYY/MM/DD/<clip-id>/<n>.mp4.age
    DIR/<device-id>/ledger.jsonl          the device's ledger lines, verbatim
    DIR/<device-id>/incoming/...          chunks of segments not yet complete
    DIR/<device-id>/alarms.log            one line per alarm (key change, conflicts)

A segment is stored only after its chunks join to the size and SHA-256 its record
names, the device's Ed25519 signature over them verifies with the pinned key, and the
bytes start like an age file. Files are written beside their place, fsynced and linked
into place, which fails rather than replace anything: a second, different file for the
same name is kept next to the first (`.conflict-<hash>`) and raises an alarm.

Device keys: trust on first use when `trust_new_devices` is set (the first key a device
id presents is pinned in `device.pub`, with a warning); otherwise only devices whose
`device.pub` the owner put in the mirror directory. A different key for a pinned device
is refused with an alarm (a replaced or reset doorbell must be re-pinned by hand).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.core.keytext import parse_public_key, verify
from edge.core.log.ledger import LEDGER_FILENAME
from edge.core.mirror import wire
from edge.core.mqtt import topics
from edge.core.store.files import remove_clip_files
from edge.core.store.index import (
    SegmentRecord,
    connect,
    get_clip,
    insert_clip,
    list_clips,
    list_segments,
    mark_clip_deleted,
    put_segment,
    transaction,
)
from edge.core.store.layout import (
    DEVICE_PUB_NAME,
    INDEX_NAME,
    clip_dir,
    clip_id_time,
    fsync_dir,
    make_dirs_durable,
    segment_name,
)
from edge.core.store.segment_signature import segment_message
from edge.core.vault import looks_like_age

log = logging.getLogger(__name__)

INCOMING_DIR = "incoming"
ALARMS_NAME = "alarms.log"
STALE_INCOMING_S = 7 * 86_400.0
DAY_SECONDS = 86_400.0
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class Rejected(Exception):
    """A message that is not stored; the text is the reason, logged as one line."""


class StoreFailed(Exception):
    """Our own disk or database failed: the message was fine and must be delivered again."""


@dataclass
class _Device:
    """What the receiver keeps open for one device."""

    folder: Path
    key: str
    conn: sqlite3.Connection


class MirrorReceiver:
    """Stores mirror messages under `root`; call from one thread."""

    def __init__(
        self,
        root: Path,
        *,
        trust_new_devices: bool = False,
        retention_days: float = 0.0,
        clock: Callable[[], float] = time.time,
        alarm: Callable[[str, str], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o750)
        self._trust_new = trust_new_devices
        self._retention_days = retention_days
        self._clock = clock
        self._on_alarm = alarm
        self._devices: dict[str, _Device] = {}
        self.stored_segments = 0
        self.rejected = 0

    # -- entry point -------------------------------------------------------------------

    def handle(self, topic: str, payload: bytes) -> bool:
        """Store one message; False (after one log line) when it was rejected.

        Raises StoreFailed when the receiver's own storage failed (a full disk): the
        caller must not acknowledge the message, so the broker delivers it again.
        """
        where = topic[:120]
        try:
            message = wire.decode(payload)
            self._check_topic(topic, message)
            device = self._device(message.device, message.key)
            if isinstance(message, wire.SegmentChunk):
                self._segment_chunk(device, message)
            elif isinstance(message, wire.ClipUpdate):
                self._clip_update(device, message)
            else:
                self._ledger_lines(device, message)
        except (Rejected, wire.WireError) as exc:
            self.rejected += 1
            log.warning("mirror: rejected a message on %s: %s", where, exc)
            return False
        except (OSError, sqlite3.Error) as exc:
            # Our own disk or database failed; the device's copy is untouched, and the
            # message comes again once it is not acknowledged.
            log.error("mirror: could not store a message on %s: %s", where, exc)
            raise StoreFailed(str(exc)) from exc
        return True

    def close(self) -> None:
        """Close every device's index."""
        for device in self._devices.values():
            device.conn.close()
        self._devices.clear()

    # -- devices and keys --------------------------------------------------------------

    def _check_topic(self, topic: str, message: wire.Message) -> None:
        parts = topic.split("/")
        kind = {
            wire.SegmentChunk: topics.MIRROR_SEGMENT,
            wire.ClipUpdate: topics.MIRROR_CLIP,
            wire.LedgerLines: topics.MIRROR_LEDGER,
        }[type(message)]
        if len(parts) < 3 or "/".join(parts[-2:]) != kind:
            raise Rejected(f"a {kind} message on the wrong topic")
        if parts[-3] != message.device:
            raise Rejected(f"device {message.device!r} in the message, {parts[-3]!r} in the topic")

    def _device(self, device_id: str, key: str) -> _Device:
        if not _DEVICE_ID.match(device_id):
            raise Rejected(f"bad device id {device_id[:70]!r}")
        known = self._devices.get(device_id)
        if known is not None:
            if key != known.key:
                self.alarm(device_id, f"presented key {key}, pinned is {known.key}; refused")
                raise Rejected(f"device {device_id}: key does not match the pinned key")
            return known
        folder = self.root / device_id
        pub = folder / DEVICE_PUB_NAME
        if pub.exists():
            pinned = pub.read_text(encoding="ascii").strip()
            if pinned != key:
                self.alarm(device_id, f"presented key {key}, pinned is {pinned}; refused")
                raise Rejected(f"device {device_id}: key does not match the pinned key")
        elif self._trust_new:
            parse_public_key(key)
            make_dirs_durable(folder)
            _write_new(pub, (key + "\n").encode("ascii"))
            log.warning(
                "mirror: new device %s: pinned its key %s (trust on first use)", device_id, key
            )
        else:
            raise Rejected(
                f"unknown device {device_id} (put its device.pub in {folder}/, or run with "
                "--trust-new-devices)"
            )
        device = _Device(folder, key, connect(folder / INDEX_NAME))
        self._devices[device_id] = device
        return device

    def alarm(self, device_id: str, text: str) -> None:
        """Say loudly that something is wrong: the log, the device's alarms.log, the hook."""
        log.critical("mirror ALARM %s: %s", device_id, text)
        folder = self.root / device_id
        if folder.is_dir():
            line = json.dumps({"time": self._clock(), "device": device_id, "alarm": text})
            with (folder / ALARMS_NAME).open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        if self._on_alarm is not None:
            self._on_alarm(device_id, text)

    # -- segments ----------------------------------------------------------------------

    def _segment_chunk(self, device: _Device, chunk: wire.SegmentChunk) -> None:
        what = f"segment {chunk.n} of clip {chunk.clip_id}"
        final = clip_dir(device.folder, chunk.clip_id) / segment_name(chunk.n)
        if _already_stored(device, chunk, final):
            log.info("mirror: %s chunk %d again (already stored); ignored", what, chunk.chunk)
            return
        staging = device.folder / INCOMING_DIR / f"{chunk.clip_id}.{chunk.n}.{chunk.sha256}"
        make_dirs_durable(staging)
        meta = json.dumps(
            {
                "size": chunk.size,
                "chunks": chunk.chunks,
                "sig": chunk.signature,
                "started_at": chunk.started_at,
                "duration_s": chunk.duration_s,
                "state": chunk.state,
            },
            sort_keys=True,
        ).encode()
        meta_path = staging / "record.json"
        if meta_path.exists():
            if meta_path.read_bytes() != meta:
                raise Rejected(
                    f"{what}: chunk {chunk.chunk} disagrees with the record of chunk 0.."
                )
        else:
            _write_new(meta_path, meta)
        part = staging / f"{chunk.chunk}.{chunk.offset}"
        if part.exists():
            if part.read_bytes() != chunk.data:
                raise Rejected(
                    f"{what}: chunk {chunk.chunk} differs from the one received; kept the first"
                )
            log.info("mirror: %s chunk %d again; ignored", what, chunk.chunk)
        else:
            if any(p.name.startswith(f"{chunk.chunk}.") for p in staging.iterdir()):
                raise Rejected(f"{what}: chunk {chunk.chunk} at another offset; kept the first")
            _write_new(part, chunk.data)
        parts = sorted(
            (tuple(int(x) for x in p.name.split(".")), p)
            for p in staging.iterdir()
            if p.name != "record.json" and not p.name.startswith(".")
        )
        if len(parts) < chunk.chunks:
            return
        try:
            data = _join(parts, chunk.size)
            self._check_segment(device, chunk, data)
        except Rejected:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._store_segment(device, chunk, final, data)
        shutil.rmtree(staging, ignore_errors=True)

    def _check_segment(self, device: _Device, chunk: wire.SegmentChunk, data: bytes) -> None:
        what = f"segment {chunk.n} of clip {chunk.clip_id}"
        if hashlib.sha256(data).hexdigest() != chunk.sha256:
            raise Rejected(f"{what}: the chunks do not hash to the recorded SHA-256")
        if not verify(
            device.key,
            segment_message(chunk.clip_id, chunk.n, chunk.sha256),
            bytes.fromhex(chunk.signature),
        ):
            raise Rejected(f"{what}: the device signature does not verify")
        if not looks_like_age(data):
            raise Rejected(f"{what}: not age ciphertext")

    def _store_segment(
        self, device: _Device, chunk: wire.SegmentChunk, final: Path, data: bytes
    ) -> None:
        what = f"segment {chunk.n} of clip {chunk.clip_id}"
        make_dirs_durable(final.parent)
        if not _link_new(final, data):
            if final.read_bytes() == data:
                log.info("mirror: %s already stored; ignored", what)
                return
            conflict = final.with_name(f"{final.name}.conflict-{chunk.sha256[:16]}")
            _link_new(conflict, data)
            self.alarm(
                device.folder.name,
                f"{what} arrived with different bytes (sha256 {chunk.sha256}); kept both, "
                f"the new one as {conflict.name}",
            )
            return
        record = SegmentRecord(
            clip_id=chunk.clip_id,
            n=chunk.n,
            started_at=chunk.started_at,
            duration_s=chunk.duration_s,
            bytes=len(data),
            sha256=chunk.sha256,
            signature=chunk.signature,
            state="stored" if chunk.state == "stored" else "recovered",
        )
        with transaction(device.conn):
            if get_clip(device.conn, chunk.clip_id) is None:
                insert_clip(device.conn, chunk.clip_id, clip_id_time(chunk.clip_id))
            put_segment(device.conn, record)
        self.stored_segments += 1
        log.info("mirror: stored %s of %s (%d bytes)", what, device.folder.name, len(data))

    # -- clips -------------------------------------------------------------------------

    def _clip_update(self, device: _Device, update: wire.ClipUpdate) -> None:
        if update.status not in ("complete", "truncated"):
            raise Rejected(f"clip {update.clip_id}: status {update.status} is not mirrored")
        with transaction(device.conn):
            current = get_clip(device.conn, update.clip_id)
            if current is None:
                insert_clip(device.conn, update.clip_id, update.started_at)
            elif current.status == "deleted":
                return  # the mirror's own retention removed it; the device cannot revive it
            device.conn.execute(
                "UPDATE clips SET status = ?, ended_at = ?, duration_s = ?, "
                "faces_redacted = ? WHERE id = ?",
                (
                    update.status,
                    update.ended_at,
                    update.duration_s,
                    update.faces_redacted,
                    update.clip_id,
                ),
            )

    # -- ledger ------------------------------------------------------------------------

    def _ledger_lines(self, device: _Device, batch: wire.LedgerLines) -> None:
        path = device.folder / LEDGER_FILENAME
        have = path.read_bytes() if path.exists() else b""
        if have and not have.endswith(b"\n"):
            have = have[: have.rfind(b"\n") + 1]  # a torn line of our own crash
        existing = have.splitlines(keepends=True)
        if batch.first > len(existing):
            raise Rejected(
                f"ledger lines from {batch.first + 1} leave a gap (the mirror has "
                f"{len(existing)}); out of order"
            )
        overlap = existing[batch.first : batch.first + len(batch.lines)]
        for offset, (ours, theirs) in enumerate(zip(overlap, batch.lines, strict=False)):
            if ours != theirs:
                digest = hashlib.sha256(b"".join(batch.lines)).hexdigest()[:16]
                conflict = device.folder / f"ledger.conflict-{batch.first + 1}-{digest}.jsonl"
                _link_new(conflict, b"".join(batch.lines))
                self.alarm(
                    device.folder.name,
                    f"ledger line {batch.first + offset + 1} differs from the mirror's copy "
                    f"(history rewritten?); kept both, the new lines in {conflict.name}",
                )
                return
        new = batch.lines[len(overlap) :]
        if not new:
            log.info(
                "mirror: ledger lines %d.. of %s again; ignored",
                batch.first + 1,
                device.folder.name,
            )
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        try:
            os.ftruncate(fd, len(have))
            os.write(fd, b"".join(new))
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- retention ---------------------------------------------------------------------

    def enforce_retention(self) -> list[str]:
        """Delete mirrored clips older than `retention_days` (0 keeps everything), and
        chunks of segments that never completed; returns the clip ids deleted."""
        now = self._clock()
        deleted: list[str] = []
        for folder in sorted(p for p in self.root.iterdir() if (p / DEVICE_PUB_NAME).exists()):
            self._drop_stale_incoming(folder / INCOMING_DIR, now)
            if self._retention_days <= 0 or not (folder / INDEX_NAME).exists():
                continue
            device = self._devices.get(folder.name)
            conn = device.conn if device else connect(folder / INDEX_NAME)
            try:
                cutoff = now - self._retention_days * DAY_SECONDS
                for clip in list_clips(conn, ("in_progress", "complete", "truncated")):
                    if clip.started_at >= cutoff:
                        break
                    with transaction(conn):
                        conn.execute(
                            "UPDATE clips SET status = 'complete' WHERE id = ? "
                            "AND status = 'in_progress'",
                            (clip.id,),
                        )
                        mark_clip_deleted(conn, clip.id, "mirror-retention", now)
                    remove_clip_files(folder, clip.id)
                    deleted.append(clip.id)
                    log.info("mirror: retention deleted clip %s of %s", clip.id, folder.name)
            finally:
                if device is None:
                    conn.close()
        return deleted

    def _drop_stale_incoming(self, incoming: Path, now: float) -> None:
        if not incoming.is_dir():
            return
        for staging in incoming.iterdir():
            with contextlib.suppress(OSError):
                if now - staging.stat().st_mtime > STALE_INCOMING_S:
                    shutil.rmtree(staging)
                    log.warning("mirror: dropped an incomplete segment %s", staging.name)


def segments_of(folder: Path, clip_id: str) -> list[SegmentRecord]:
    """A mirrored clip's segment rows (for tests and tools)."""
    conn = connect(folder / INDEX_NAME)
    try:
        return list_segments(conn, clip_id)
    finally:
        conn.close()


def _already_stored(device: _Device, chunk: wire.SegmentChunk, final: Path) -> bool:
    rows = device.conn.execute(
        "SELECT sha256 FROM segments WHERE clip_id = ? AND n = ?", (chunk.clip_id, chunk.n)
    ).fetchall()
    return bool(rows) and rows[0][0] == chunk.sha256 and final.exists()


def _join(parts: list[tuple[tuple[int, ...], Path]], size: int) -> bytes:
    data = bytearray()
    for expected, ((index, offset), path) in enumerate(parts):
        if index != expected or offset != len(data):
            raise Rejected(f"chunk {index} at offset {offset} does not follow the one before")
        data += path.read_bytes()
    if len(data) != size:
        raise Rejected(f"the chunks hold {len(data)} bytes, the record says {size}")
    return bytes(data)


def _link_new(path: Path, data: bytes) -> bool:
    """Write `data` as `path` durably unless `path` exists; False when it did."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: leave nothing half-written behind
        raise
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    fsync_dir(path.parent)
    return True


def _write_new(path: Path, data: bytes) -> None:
    if not _link_new(path, data) and path.read_bytes() != data:
        raise Rejected(f"{path.name} exists with other content")
