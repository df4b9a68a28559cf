"""The systemd unit: what it promises (notify + watchdog, its own user, no swap, no
network beyond the broker, camera devices only) and its `systemd-analyze security` score.

The score is measured where `systemd-analyze` exists (Debian: the `systemd` package) and
printed; run `pytest -s tests/system/test_systemd_unit.py` to see it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edge.core.config import DEFAULT_CONFIG_PATH
from edge.core.config.models import StorageConfig

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "firmware_configs" / "systemd" / "doorbell-edge.service"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MAX_EXPOSURE = 2.0

needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (apt-get install systemd)"
)


def unit_settings(text: str) -> dict[str, list[str]]:
    """`Key=value` lines by key, in order (systemd allows a key more than once)."""
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def one(settings: dict[str, list[str]], key: str) -> str:
    values = settings.get(key, [])
    assert len(values) == 1, f"{key}: expected one value, got {values}"
    return values[0]


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return unit_settings(UNIT.read_text())


def exposure(root: Path) -> tuple[float, str]:
    """Overall exposure of the unit (and drop-ins) installed under `root`."""
    result = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "security", "--offline=true", "--no-pager",
         f"--root={root}", "doorbell-edge.service"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+) .*", result.stdout)
    assert match, f"no score in:\n{result.stdout}\n{result.stderr}"
    return float(match.group(1)), match.group(0)


def install_unit(root: Path, dropins: dict[str, str] | None = None) -> None:
    unit_dir = root / "etc" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    shutil.copy(UNIT, unit_dir / UNIT.name)
    for name, text in (dropins or {}).items():
        (unit_dir / f"{UNIT.name}.d").mkdir(exist_ok=True)
        (unit_dir / f"{UNIT.name}.d" / name).write_text(text)


@needs_systemd_analyze
def test_unit_security_exposure_is_at_most_two(tmp_path: Path) -> None:
    install_unit(tmp_path)
    score, line = exposure(tmp_path)
    print(f"\nsystemd-analyze security --offline=true doorbell-edge.service: {line}")
    assert score <= MAX_EXPOSURE


@needs_systemd_analyze
def test_allowing_the_broker_keeps_the_exposure_at_most_two(tmp_path: Path) -> None:
    install_unit(
        tmp_path,
        {"broker.conf": "[Service]\nIPAddressAllow=192.168.1.10\n"
                        "BindReadOnlyPaths=/etc/doorbell/broker-hosts:/etc/hosts\n"},
    )  # fmt: skip
    score, line = exposure(tmp_path)
    print(f"\nwith broker.conf: {line}")
    assert score <= MAX_EXPOSURE


@needs_systemd_analyze
def test_unit_has_no_unknown_or_misspelt_settings(tmp_path: Path) -> None:
    # verify insists that ExecStart exists; everything else is checked as shipped.
    text = UNIT.read_text()
    exec_start = one(unit_settings(text), "ExecStart")
    checked = tmp_path / UNIT.name
    checked.write_text(text.replace(f"ExecStart={exec_start}", "ExecStart=/bin/true"))
    result = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "verify", "--man=no", str(checked)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_daemon_runs_under_systemd_supervision(unit: dict[str, list[str]]) -> None:
    assert one(unit, "Type") == "notify"
    assert one(unit, "NotifyAccess") == "main"
    assert one(unit, "Restart") == "on-failure"
    # Unattended: retry forever rather than stay failed after a few attempts.
    assert one(unit, "StartLimitIntervalSec") == "0"
    # The daemon pets the watchdog about once a second; leave room for a slow SD card.
    watchdog = one(unit, "WatchdogSec")
    assert watchdog.endswith("s") and 10 <= int(watchdog[:-1]) <= 120


def test_unit_runs_the_daemon_with_the_default_config_path(unit: dict[str, list[str]]) -> None:
    command = one(unit, "ExecStart").split()
    assert command[:2] == ["/opt/doorbell-edge/bin/doorbell", "run"]
    assert command[2:] == ["--config", str(DEFAULT_CONFIG_PATH)]
    assert one(unit, "ConfigurationDirectory") == DEFAULT_CONFIG_PATH.parent.name


def test_state_directory_is_the_default_storage_path(unit: dict[str, list[str]]) -> None:
    assert Path("/var/lib") / one(unit, "StateDirectory") == StorageConfig().path
    assert one(unit, "StateDirectoryMode") == "0700"


def test_daemon_runs_as_its_own_user_with_camera_access_only(
    unit: dict[str, list[str]],
) -> None:
    assert one(unit, "User") == "doorbell"
    assert one(unit, "Group") == "doorbell"
    assert one(unit, "SupplementaryGroups") == "video"
    assert one(unit, "CapabilityBoundingSet") == ""
    assert one(unit, "NoNewPrivileges") == "yes"


def test_only_camera_device_classes_are_allowed(unit: dict[str, list[str]]) -> None:
    assert one(unit, "DevicePolicy") == "closed"
    assert sorted(unit["DeviceAllow"]) == [
        "char-dma_heap rw",  # /dev/dma_heap/*: libcamera's frame buffers
        "char-media rw",  # /dev/media*
        "char-video4linux rw",  # /dev/video*, /dev/v4l-subdev*, the Pi 4 encoder
    ]
    assert "PrivateDevices" not in unit  # it would hide the camera


def test_file_system_is_read_only_but_for_state(unit: dict[str, list[str]]) -> None:
    assert one(unit, "ProtectSystem") == "strict"
    assert one(unit, "ProtectHome") == "yes"
    assert one(unit, "PrivateTmp") == "yes"
    assert "ReadWritePaths" not in unit  # only StateDirectory (and RuntimeDirectory)


def test_frames_in_memory_never_reach_swap_or_a_core_dump(unit: dict[str, list[str]]) -> None:
    # Invariant 1 includes the kernel writing the process's memory to disk for it.
    assert one(unit, "MemorySwapMax") == "0"
    assert one(unit, "LimitCORE") == "0"
    assert one(unit, "MemoryMax")


def test_no_network_unless_the_installer_allows_the_broker(unit: dict[str, list[str]]) -> None:
    assert one(unit, "IPAddressDeny") == "any"
    assert "IPAddressAllow" not in unit
    families = one(unit, "RestrictAddressFamilies").split()
    assert set(families) <= {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}


def test_system_calls_are_limited_to_a_service_set(unit: dict[str, list[str]]) -> None:
    assert unit["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert one(unit, "SystemCallArchitectures") == "native"
    assert one(unit, "MemoryDenyWriteExecute") == "yes"


MIRROR_UNIT = REPO / "firmware_configs" / "systemd" / "doorbell-mirror.service"


def test_the_home_server_mirror_unit_runs_doorbell_mirror_sandboxed() -> None:
    settings = unit_settings(MIRROR_UNIT.read_text())
    command = one(settings, "ExecStart").split()
    assert command[1:3] == ["mirror", "--config"]
    from edge.cli import build_parser

    args = build_parser().parse_args(command[1:])
    assert str(args.dir) == "/var/lib/doorbell-mirror"
    assert one(settings, "StateDirectory") == "doorbell-mirror"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateDevices", "RestrictRealtime"):
        assert one(settings, key) == "yes"
    assert one(settings, "ProtectSystem") == "strict"
