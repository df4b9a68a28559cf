"""systemd notifications (READY, WATCHDOG, STATUS, STOPPING) over `$NOTIFY_SOCKET`.

Hand-written so the daemon needs no libsystemd binding; a no-op when not run by systemd.
"""

from __future__ import annotations

import contextlib
import os
import socket


class SystemdNotifier:
    """Sends sd_notify datagrams; every method does nothing when `$NOTIFY_SOCKET` is unset."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._address: str | bytes | None = None
        self._sock: socket.socket | None = None
        if address:
            # A leading '@' names an abstract-namespace socket.
            self._address = "\0" + address[1:] if address.startswith("@") else address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        """True when a systemd notify socket is present."""
        return self._sock is not None

    def send(self, *fields: str) -> None:
        """Send `KEY=VALUE` fields in one datagram; errors are ignored (systemd may be gone)."""
        if self._sock is None or self._address is None:
            return
        with contextlib.suppress(OSError):
            self._sock.sendto("\n".join(fields).encode(), self._address)

    def ready(self, status: str = "") -> None:
        """Tell systemd start-up is complete."""
        self.send("READY=1", *((f"STATUS={status}",) if status else ()))

    def watchdog(self) -> None:
        """Pet the watchdog; called from the processing loop so a stuck pipeline is restarted."""
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        """Set the one-line status shown by `systemctl status`."""
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        """Tell systemd the daemon is shutting down."""
        self.send("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
