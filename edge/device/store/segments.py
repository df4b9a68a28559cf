"""The encrypting segment writer: an encoder Output that lands one `.mp4.age` atomically.

Bytes from the encoder go straight into the vault's age writer, whose ciphertext goes to
`<n>.mp4.age.partial` and through a SHA-256 on the way, so no plaintext ever reaches the
disk. `close()` finishes the age stream, fsyncs the file, renames it to `<n>.mp4.age`,
fsyncs the folder and only then records the signed segment in the index: a segment is in
the index only if its whole file is durable. `abort()` (and any failure) removes the
partial; a full disk surfaces as `StorageFullError`, every other fault as `StorageError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, NoReturn

from edge.core.store.errors import StorageError, from_os_error
from edge.core.store.index import SegmentRecord
from edge.core.store.layout import fsync_dir, segment_name
from edge.core.store.segment_signature import segment_message
from edge.core.vault import Recipient, open_writer
from edge.device.store.device_key import DeviceKey

FILE_MODE = 0o640


class _HashingSink:
    """What the age writer writes to: the partial file, hashed and counted on the way.

    Unbuffered: each sealed 64 KiB chunk goes to the kernel at once, so a crashed process
    loses at most the chunk being sealed, not a user-space buffer of several.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            done += os.write(self._fd, view[done:])
        self.digest.update(view)
        self.size += len(view)
        return len(view)

    def flush(self) -> None:
        """Nothing is buffered here; durability comes from the fsync in `close()`."""


class SegmentWriter:
    """One segment being written: `write(data)`, then `close()` or `abort()`.

    The encoder calls `close()` without arguments, so whoever knows the segment's length
    (the recorder) may set `duration_s` on the writer beforehand; a duration given to
    `close` wins. Use from one thread. As a context manager it closes on success and
    aborts when the block raises.
    """

    def __init__(
        self,
        folder: Path,
        clip_id: str,
        n: int,
        started_at: float,
        recipients: Sequence[Recipient],
        device_key: DeviceKey,
        record: Callable[[SegmentRecord], None],
    ) -> None:
        self.clip_id = clip_id
        self.n = n
        self.started_at = started_at
        self.duration_s: float | None = None
        self._folder = folder
        self._partial = folder / segment_name(n, partial=True)
        self._final = folder / segment_name(n)
        self._device_key = device_key
        self._record = record
        self._state: Literal["open", "closed", "aborted"] = "open"
        self._fd: int | None = None
        self._created = False
        self._renamed = False
        try:
            self._fd = os.open(
                self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE
            )
            self._created = True
            self._sink = _HashingSink(self._fd)
            self._age = open_writer(recipients, self._sink)
        except BaseException as exc:
            self._fail(exc)

    @property
    def bytes_written(self) -> int:
        """Ciphertext bytes handed to the file so far."""
        return self._sink.size

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and append encoder output."""
        self._require_open()
        try:
            self._age.write(data)
        except BaseException as exc:
            self._fail(exc)

    def close(self, duration_s: float | None = None) -> SegmentRecord:
        """Finish the segment durably and record it in the index; returns its row."""
        self._require_open()
        if duration_s is not None:
            self.duration_s = duration_s
        assert self._fd is not None, "an open writer has its file"
        try:
            self._age.close()
            os.fsync(self._fd)
            fd, self._fd = self._fd, None
            os.close(fd)
            os.rename(self._partial, self._final)
            self._renamed = True
            fsync_dir(self._folder)
        except BaseException as exc:
            self._fail(exc)
        digest = self._sink.digest.hexdigest()
        segment = SegmentRecord(
            clip_id=self.clip_id,
            n=self.n,
            started_at=self.started_at,
            duration_s=self.duration_s,
            bytes=self._sink.size,
            sha256=digest,
            signature=self._device_key.sign(segment_message(self.clip_id, self.n, digest)).hex(),
            state="stored",
        )
        try:
            self._record(segment)
        except BaseException:
            # Keep index and files in agreement: a segment the index cannot hold goes.
            self.abort()
            raise
        self._state = "closed"
        return segment

    def abort(self) -> None:
        """Drop the segment: close and remove its file. Safe to call twice."""
        if self._state != "open":
            return
        self._state = "aborted"
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._created:
            with contextlib.suppress(OSError):
                (self._final if self._renamed else self._partial).unlink()
                fsync_dir(self._folder)

    def __enter__(self) -> SegmentWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is not None:
            self.abort()
        elif self._state == "open":
            self.close()

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"segment {self.n} of clip {self.clip_id} is already {self._state}")

    def _fail(self, exc: BaseException) -> NoReturn:
        self.abort()
        if isinstance(exc, OSError):
            where = f"segment {self.n} of clip {self.clip_id}"
            raise from_os_error(exc, f"cannot write {where}") from exc
        raise exc
