"""How `doorbell` logs: to stderr with a timestamp on a terminal; under systemd (stderr is the
journal's stream) without one and with a syslog priority prefix, so `journalctl -p err`
shows the daemon's errors."""

from __future__ import annotations

import logging
import os
import sys

# sd-daemon(3) priority prefixes, read by journald from each line of a service's stderr.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    """`<N>name: message`, N the syslog priority; journald adds the time itself."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        text = super().format(record)
        # Every line of a traceback needs the prefix, or it would be logged as info.
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines())


def stderr_is_the_journal() -> bool:
    """True when stderr is the stream systemd connected to the journal (`JOURNAL_STREAM`)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = expected.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


def configure_logging(verbose: bool) -> None:
    """Log to stderr, formatted for the journal or for a person."""
    handler = logging.StreamHandler(sys.stderr)
    if stderr_is_the_journal():
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
