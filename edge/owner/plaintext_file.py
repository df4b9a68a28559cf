"""Where decrypted footage is written on the owner's machine: only the owner can read it, it
becomes visible only once complete (and once recorded, when it is recorded), and nothing
the owner already has is replaced unless they say so.

`PlaintextFile(out)` creates `OUT.partial` with mode 0600 (a stale one from an interrupted
run is removed first: it is ours and incomplete), `publish()` fsyncs it and links it to
`OUT` (refusing an existing `OUT` unless `force`), and leaving the `with` block without
publishing removes the partial file.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from edge.core.store.layout import PARTIAL_SUFFIX, fsync_dir


class OutputError(Exception):
    """The output cannot be written where it was asked for; the message says why."""


def check_output_path(out: Path, *, force: bool) -> None:
    """Refuse early (before any decrypting) an output that cannot or may not be written."""
    if out.is_dir():
        raise OutputError(f"{out} is a folder; give a file name")
    if not out.parent.is_dir():
        raise OutputError(f"folder {out.parent} does not exist")
    if out.exists() and not force:
        raise OutputError(f"{out} exists; give another name or --force to replace it")


class PlaintextFile:
    """The 0600 staging file for `out`; see the module docstring."""

    def __init__(self, out: Path, *, force: bool = False) -> None:
        check_output_path(out, force=force)
        self.out = out
        self.force = force
        self.partial = out.with_name(out.name + PARTIAL_SUFFIX)
        self.partial.unlink(missing_ok=True)
        try:
            fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise OutputError(f"cannot write {self.partial}: {exc.strerror or exc}") from None
        os.fchmod(fd, 0o600)  # the umask must not widen it
        os.close(fd)
        self._published = False

    def __enter__(self) -> PlaintextFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._published:
            self.partial.unlink(missing_ok=True)

    def publish(self, *, durable: bool = True) -> None:
        """Make the complete file visible as `out`; `durable` fsyncs it first (a power cut
        then cannot leave a visible `out` whose blocks never reached the disk)."""
        if durable:
            with open(self.partial, "rb+") as file:
                os.fsync(file.fileno())
        if self.force:
            os.replace(self.partial, self.out)
        else:
            try:
                os.link(self.partial, self.out)  # fails, unlike a rename, if OUT appeared
            except FileExistsError:
                raise OutputError(f"{self.out} appeared meanwhile; not replaced") from None
            self.partial.unlink()
        if durable:
            fsync_dir(self.out.parent)
        self._published = True
