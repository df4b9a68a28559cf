"""Builds the health payload: is the doorbell recording, redacting and keeping up?

Includes the redaction fail-closed count (frames dropped or obscured because face
detection failed), storage, the CPU temperature where the kernel exposes one (a Pi),
and the ledger head that a home-server witness checks for rewrites.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.core.mqtt.schemas import Health, LedgerHead, StorageUsage
from edge.core.timestamps import utc_now

THERMAL_ROOT = Path("/sys/class/thermal")
BOARD_MODEL = Path("/proc/device-tree/model")

# Zone types that are the SoC/CPU on a Pi and on common x86 boards, preferred over
# whatever zone happens to be first (a battery, a Wi-Fi chip).
_CPU_ZONE_TYPES = frozenset({"cpu-thermal", "cpu_thermal", "soc_thermal", "x86_pkg_temp"})


@dataclass(frozen=True, slots=True)
class PipelineCounters:
    """Counters the daemon keeps since it started."""

    fps: float
    dropped_frames: int
    redaction_fail_closed: int


def read_board_model(path: Path = BOARD_MODEL) -> str | None:
    """The board's name from the device tree (`Raspberry Pi 4 Model B Rev 1.4`), or None."""
    try:
        text = path.read_bytes().rstrip(b"\x00").decode("ascii", errors="replace").strip()
    except OSError:
        return None
    return text[:100] or None


def read_cpu_temperature(root: Path = THERMAL_ROOT) -> float | None:
    """Return the CPU temperature in °C from sysfs, or None where there is none."""
    zones = sorted(root.glob("thermal_zone*"))
    cpu_zones = [zone for zone in zones if _read(zone / "type") in _CPU_ZONE_TYPES]
    for zone in cpu_zones or zones:
        raw = _read(zone / "temp")
        try:
            celsius = int(raw) / 1000.0
        except (TypeError, ValueError):
            continue
        if -60.0 <= celsius <= 150.0:
            return round(celsius, 1)
    return None


def build_health(
    *,
    counters: PipelineCounters,
    storage_path: Path,
    storage_used_bytes: int,
    privacy_mode: bool,
    ledger_head: LedgerHead | None,
    started_monotonic: float,
    interval_s: float,
    recording_stopped: str | None = None,
    mirror_backlog: int | None = None,
    unmirrored_deleted: int | None = None,
    thermal_root: Path = THERMAL_ROOT,
    now: datetime | None = None,
) -> Health:
    """Assemble one health payload; free space is read from the state directory's disk."""
    try:
        free = shutil.disk_usage(storage_path).free
    except OSError:
        free = 0
    return Health(
        time=now or utc_now(),
        interval_s=interval_s,
        uptime_s=round(max(0.0, time.monotonic() - started_monotonic), 1),
        fps=round(counters.fps, 2),
        dropped_frames=counters.dropped_frames,
        redaction_fail_closed=counters.redaction_fail_closed,
        storage=StorageUsage(used_bytes=storage_used_bytes, free_bytes=free),
        cpu_temp_c=read_cpu_temperature(thermal_root),
        ledger_head=ledger_head,
        privacy_mode=privacy_mode,
        recording_stopped=recording_stopped,
        mirror_backlog=mirror_backlog,
        unmirrored_deleted=unmirrored_deleted,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
