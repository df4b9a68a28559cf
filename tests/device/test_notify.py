"""sd_notify messages reach a real unix datagram socket, and are a no-op without one."""

from __future__ import annotations

import socket
from pathlib import Path

from edge.device.daemon.notify import SystemdNotifier


def test_ready_watchdog_and_status_arrive_on_the_notify_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(2)
    notifier = SystemdNotifier(str(path))
    try:
        notifier.ready("recording")
        notifier.watchdog()
        notifier.status("15.0 fps, 2 clips")
        received = [server.recv(4096).decode() for _ in range(3)]
    finally:
        notifier.close()
        server.close()
    assert received == ["READY=1\nSTATUS=recording", "WATCHDOG=1", "STATUS=15.0 fps, 2 clips"]


def test_without_notify_socket_every_call_is_a_no_op(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = SystemdNotifier()
    assert not notifier.enabled
    notifier.ready()
    notifier.watchdog()
    notifier.stopping()


def test_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))
    notifier.watchdog()
    notifier.close()
