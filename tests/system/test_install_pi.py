"""scripts/install-pi.sh, planned with `--dry-run` against a temporary root: the plan has
every step, follows the config (broker, button, state directory), refuses a config
without an owner recipient, says "unchanged" on a second run, and touches nothing.

The real run needs a Raspberry Pi (apt, useradd, systemctl); see docs/DEPLOY.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-pi.sh"
UNIT = REPO / "firmware_configs" / "systemd" / "doorbell-edge.service"
CAMERA_PROFILES = sorted((REPO / "firmware_configs" / "camera").glob("*.toml"))
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
DROPINS = "etc/systemd/system/doorbell-edge.service.d"
# Real paths a run would create; a dry run must leave them as they were.
SYSTEM_PATHS = [
    Path("/etc/systemd/system/doorbell-edge.service"),
    Path("/etc/systemd/system/doorbell-edge.service.d"),
    Path("/etc/doorbell"),
    Path("/opt/doorbell-edge"),
    Path("/var/lib/doorbell"),
]
# Syscalls that change a file system; strace shows each with its path arguments.
WRITE_CALLS = (
    "openat,open,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,rmdir,"
    "chmod,fchmodat,chown,fchownat,lchown,symlink,symlinkat,link,linkat,truncate,utimensat"
)
STRACE = shutil.which("strace")


@dataclass
class Plan:
    """One dry run: exit status, output, and the files it would write."""

    returncode: int
    stdout: str
    stderr: str
    root: Path

    @property
    def commands(self) -> list[str]:
        return [line[6:] for line in self.stdout.splitlines() if line.startswith("    + ")]

    def ran(self, fragment: str) -> bool:
        return any(fragment in command for command in self.commands)

    @property
    def writes(self) -> dict[str, str]:
        """Files the plan writes, by path relative to the root, with their content."""
        writes: dict[str, list[str]] = {}
        current: list[str] | None = None
        for line in self.stdout.splitlines():
            match = re.match(r" {4}\+ write (\S+) \(mode", line)
            if match:
                current = writes.setdefault(str(Path(match[1]).relative_to(self.root)), [])
            elif current is not None and line.startswith("    |"):
                current.append(line[6:])
            else:
                current = None
        return {path: "\n".join(lines) + "\n" for path, lines in writes.items()}


def make_root(
    root: Path, config: str | None, *, users: str = "", groups: str = "video:x:44:\n"
) -> Path:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n" + users)
    (root / "etc" / "group").write_text("root:x:0:\n" + groups)
    if config is not None:
        (root / "etc" / "doorbell").mkdir()
        (root / "etc" / "doorbell" / "doorbell.toml").write_text(config)
    return root


def config_toml(*, recipients: bool = True, mqtt_host: str | None = None, extra: str = "") -> str:
    text = f'[owner]\nrecipients = ["{RECIPIENT}"]\n' if recipients else ""
    if mqtt_host is not None:
        text += f'[mqtt]\nenabled = true\nhost = "{mqtt_host}"\n'
    return text + extra


def plan(
    root: Path,
    work: Path,
    *args: str,
    strace_log: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Plan:
    """Run the script's dry run with --root (or whatever `args` says instead)."""
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        # The interpreter running the tests can import the checkout's package.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(work),
        "TMPDIR": str(work / "tmp"),
        "LANG": "C.UTF-8",
        **(extra_env or {}),
    }
    command = [str(SCRIPT), *(args or ("--dry-run", "--root", str(root)))]
    if strace_log is not None:
        command = [STRACE or "strace", "-f", "-qq", "-o", str(strace_log),
                   "-e", f"trace={WRITE_CALLS}", *command]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=work, timeout=120, check=False
    )
    return Plan(done.returncode, done.stdout, done.stderr, root)


def tree_state(root: Path) -> dict[str, tuple[int, float, str]]:
    state = {}
    for path in sorted(root.rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        info = path.lstat()
        state[str(path)] = (info.st_mode, info.st_mtime, digest)
    return state


def strace_works() -> bool:
    if STRACE is None:
        return False
    done = subprocess.run([STRACE, "-qq", "-o", os.devnull, "true"], check=False)
    return done.returncode == 0


def writes_outside(trace: str, allowed: list[Path]) -> list[str]:
    """Successful file-system changes in an strace log whose path is not under `allowed`."""
    bad = []
    for line in trace.splitlines():
        call = re.match(r"\d+\s+(\w+)\(", line)
        if not call or re.search(r"= -1 ", line):
            continue
        if call[1] in ("openat", "open") and not re.search(
            r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC", line
        ):
            continue
        for path in re.findall(r'"([^"]*)"', line):
            resolved = Path(path)
            if path in ("/dev/null", "/dev/tty") or not resolved.is_absolute():
                continue
            if not any(resolved.is_relative_to(base) for base in allowed):
                bad.append(line)
    return bad


# --- a fresh Raspberry Pi: everything to do --------------------------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, list[str] | None, bool]:
    """One dry run on a fresh system with a full config; traced where strace works."""
    work = tmp_path_factory.mktemp("fresh")
    root = make_root(
        work / "root",
        config_toml(
            mqtt_host="192.0.2.10",
            extra='[camera]\nbutton_gpio = 17\n[storage]\npath = "/srv/doorbell"\n',
        ).replace(
            "[mqtt]\n",
            '[mqtt]\nusername = "front-door"\npassword_file = "/etc/doorbell/mqtt-password"\n'
            "tls = true\n",
        ),
        groups="video:x:44:\ngpio:x:997:\n",
    )
    (root / "etc/doorbell/mqtt-password").write_text("secret\n")
    (root / "etc/doorbell/mqtt-password").chmod(0o600)
    before = tree_state(root)
    system_before = {path: path.exists() for path in SYSTEM_PATHS}
    trace = work / "strace.log" if strace_works() else None
    result = plan(root, work, strace_log=trace)
    unchanged = tree_state(root) == before and system_before == {
        path: path.exists() for path in SYSTEM_PATHS
    }
    bad = writes_outside(trace.read_text(), [work]) if trace else None
    return result, bad, unchanged


def test_fresh_install_plans_every_step(fresh: tuple[Plan, list[str] | None, bool]) -> None:
    result, _bad, _unchanged = fresh
    assert result.returncode == 0, result.stderr
    root = result.root
    expected = [
        "apt-get install -y -q --no-install-recommends python3-picamera2 python3-venv",
        "useradd --system --user-group --home-dir /var/lib/doorbell",
        "usermod -a -G video doorbell",
        f"python3 -m venv --system-site-packages {root}/opt/doorbell-edge",
        f"{root}/opt/doorbell-edge/bin/pip install --quiet --disable-pip-version-check "
        f"numpy\\<2 --editable {root}/opt/doorbell-edge/src",
        f"-m compileall -q {root}/opt/doorbell-edge/src/edge",
        f"{root}/opt/doorbell-edge/bin/doorbell models install --dir "
        f"{root}/opt/doorbell-edge/src/models",
        f"install -D -m 644 -o root -g root {UNIT} {root}/etc/systemd/system/{UNIT.name}",
        "systemctl daemon-reload",
        f"systemctl enable {UNIT.name}",
        f"systemctl restart {UNIT.name}",
    ]
    for fragment in expected:
        assert result.ran(fragment), f"{fragment!r} not in the plan:\n{result.stdout}"
    order = [next(i for i, c in enumerate(result.commands) if f in c) for f in expected]
    assert order == sorted(order), "steps out of order"
    assert re.search(r"doorbell config check \S+/etc/doorbell/doorbell.toml\n.*: ok", result.stdout)


def test_dry_run_touches_nothing(fresh: tuple[Plan, list[str] | None, bool]) -> None:
    _result, bad, unchanged = fresh
    assert unchanged, "the dry run changed the temporary root or created a system path"
    if bad is None:
        pytest.skip("strace unavailable: only the root and the system paths were compared")
    assert bad == [], "file-system changes outside the test's directory:\n" + "\n".join(bad)


def test_egress_is_allowed_to_the_configured_broker_only(
    fresh: tuple[Plan, list[str] | None, bool],
) -> None:
    result, _bad, _unchanged = fresh
    broker = result.writes[f"{DROPINS}/broker.conf"]
    assert "[Service]\nIPAddressAllow=192.0.2.10\n" in broker
    assert "BindReadOnlyPaths=/etc/doorbell/broker-hosts:/etc/hosts" in broker
    assert "re-run the script" in broker  # a new broker address needs a new run
    # An address needs no hosts entry; the private hosts file only has localhost.
    assert "192.0.2.10" not in result.writes["etc/doorbell/broker-hosts"]


def test_secrets_are_readable_by_the_service_group_only(
    fresh: tuple[Plan, list[str] | None, bool],
) -> None:
    result, _bad, _unchanged = fresh
    password = f"{result.root}/etc/doorbell/mqtt-password"
    assert f"chmod 640 {password}" in result.commands
    assert f"chown root:doorbell {password}" in result.commands
    # The config folder too: other local users cannot list it.
    assert f"chmod 750 {result.root}/etc/doorbell" in result.commands
    assert f"chown root:doorbell {result.root}/etc/doorbell" in result.commands


def test_button_gets_gpio_access(fresh: tuple[Plan, list[str] | None, bool]) -> None:
    result, _bad, _unchanged = fresh
    assert result.ran(
        "apt-get install -y -q --no-install-recommends python3-gpiozero python3-lgpio"
    )
    assert result.ran("usermod -a -G gpio doorbell")
    button = result.writes[f"{DROPINS}/button.conf"]
    assert "SupplementaryGroups=gpio\n" in button
    assert "DeviceAllow=char-gpiochip rw\n" in button


def test_state_outside_var_lib_becomes_the_one_extra_writable_path(
    fresh: tuple[Plan, list[str] | None, bool],
) -> None:
    result, _bad, _unchanged = fresh
    assert result.ran(f"install -d -m 700 -o doorbell -g doorbell {result.root}/srv/doorbell")
    assert 'ReadWritePaths="/srv/doorbell"' in result.writes[f"{DROPINS}/storage.conf"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_unit_with_every_planned_dropin_keeps_exposure_at_most_two(
    fresh: tuple[Plan, list[str] | None, bool], tmp_path: Path
) -> None:
    result, _bad, _unchanged = fresh
    unit_dir = tmp_path / "etc/systemd/system"
    unit_dir.mkdir(parents=True)
    shutil.copy(UNIT, unit_dir)
    for path, text in result.writes.items():
        if path.startswith(DROPINS):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    assert sorted(p.name for p in (tmp_path / DROPINS).iterdir()) == [
        "broker.conf", "button.conf", "storage.conf",
    ]  # fmt: skip
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", f"--root={tmp_path}",
         UNIT.name],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+).*", done.stdout)
    assert match, done.stdout + done.stderr
    print(f"\nwith broker.conf, button.conf, storage.conf: {match[0]}")
    assert float(match[1]) <= 2.0
    assert "Unknown key" not in done.stderr


# --- refusals ---------------------------------------------------------------------------


def test_config_without_owner_recipient_is_not_enabled(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", config_toml(recipients=False, mqtt_host="192.0.2.10"))
    result = plan(root, tmp_path)
    assert result.returncode == 1
    assert "owner.recipients is empty" in result.stderr
    assert "doorbell keygen" in result.stderr
    assert not result.ran("systemctl enable")
    assert not result.ran("systemctl restart")
    assert not any("broker.conf" in path for path in result.writes)


def test_missing_config_gets_the_example_and_then_stops_for_the_recipient(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", None)
    result = plan(root, tmp_path)
    example = REPO / "firmware_configs" / "doorbell.toml"
    assert result.ran(
        f"install -m 640 -o root -g doorbell {example} {root}/etc/doorbell/doorbell.toml"
    )
    assert result.returncode == 1
    assert "owner.recipients is empty" in result.stderr
    assert not result.ran("systemctl restart")


def test_unresolvable_broker_stops_before_enabling(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", config_toml(mqtt_host="broker.invalid"))
    result = plan(root, tmp_path)
    assert result.returncode == 1
    assert "cannot resolve mqtt.host 'broker.invalid'" in result.stderr
    assert not result.ran("systemctl enable")


CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=0x1-02 rootfstype=ext4 rootwait\n"


@pytest.mark.parametrize(
    ("cmdline", "controllers", "expected"),
    [
        (
            CMDLINE,
            None,
            "sed -i 1\\ s/\\$/\\ cgroup_enable=memory/ {root}/boot/firmware/cmdline.txt",
        ),
        (CMDLINE.strip() + " cgroup_enable=memory\n", None, "apply after the next reboot"),
        (CMDLINE, "cpu io memory pids\n", "memory controller on"),
        (None, None, "cannot turn the cgroup memory controller on"),
    ],
)
def test_memory_limits_get_the_cgroup_memory_controller(
    tmp_path: Path, cmdline: str | None, controllers: str | None, expected: str
) -> None:
    root = make_root(tmp_path / "root", config_toml())
    if cmdline is not None:
        (root / "boot" / "firmware").mkdir(parents=True)
        (root / "boot" / "firmware" / "cmdline.txt").write_text(cmdline)
    if controllers is not None:
        (root / "sys" / "fs" / "cgroup").mkdir(parents=True)
        (root / "sys" / "fs" / "cgroup" / "cgroup.controllers").write_text(controllers)
    result = plan(root, tmp_path)
    assert expected.format(root=root) in result.stdout
    if "sed" not in expected:
        assert not result.ran("sed -i")


def test_root_without_dry_run_is_refused(tmp_path: Path) -> None:
    root = make_root(tmp_path / "root", config_toml())
    before = tree_state(root)
    result = plan(root, tmp_path, "--root", str(root))
    assert result.returncode == 1
    assert "only supported together with --dry-run" in result.stderr
    assert tree_state(root) == before


def foreign_python(root: Path, machine: int) -> None:
    """Give `root` a venv whose python is, as on Debian, a chain of links ending at
    /usr/bin/python3.11 of the root: an ELF executable for ELF machine `machine`."""
    header = bytearray(64)
    header[:7] = b"\x7fELF\x02\x01\x01"
    header[16:20] = (2).to_bytes(2, "little") + machine.to_bytes(2, "little")
    python = root / "usr/bin/python3.11"
    python.parent.mkdir(parents=True)
    python.write_bytes(bytes(header))
    python.chmod(0o755)
    (root / "usr/bin/python3").symlink_to("python3.11")
    venv = root / "opt/doorbell-edge"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python3").symlink_to("/usr/bin/python3")
    (venv / "bin/python").symlink_to("python3")
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = true\n")


def test_root_with_a_python_this_machine_cannot_run_stops_with_one_line(tmp_path: Path) -> None:
    """The venv's links resolve inside the root (to its python, not to this machine's
    /usr/bin/python3), and a python that cannot run here ends the plan with one line,
    not with this machine's python importing the root's binary wheels (a traceback)."""
    root = make_root(tmp_path / "root", config_toml())
    foreign_python(root, 0xBEEF)  # no such architecture: no binfmt handler either
    before = tree_state(root)
    result = plan(root, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    if os.geteuid() == 0:
        assert f"cannot run {root}'s ELF machine 48879 python on this " in result.stderr
    else:
        assert "runs that python inside it with chroot, which needs root" in result.stderr
    assert "==> 6. configuration" in result.stdout
    assert "doorbell config check" not in result.stdout
    assert tree_state(root) == before


# --- a second run -------------------------------------------------------------------------


def test_second_run_changes_only_what_differs(tmp_path: Path) -> None:
    """An installed system (same unit, drop-ins, user, venv, enabled) needs no changes
    but the upgrade steps; a stale drop-in is removed. Uses DOORBELL_INSTALL_ROOT."""
    hosts_name = next(iter(_names_in_etc_hosts()), None)
    if hosts_name is None:
        pytest.skip("no name other than localhost in /etc/hosts to resolve without DNS")
    root = make_root(
        tmp_path / "root",
        config_toml(mqtt_host=hosts_name),
        users="doorbell:x:999:999::/var/lib/doorbell:/usr/sbin/nologin\n",
        groups="video:x:44:doorbell\ndoorbell:x:999:\n",
    )
    first = plan(root, tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"{hosts_name}\n" in first.writes["etc/doorbell/broker-hosts"]
    # Install what the first plan would have, as it would have.
    for path, text in first.writes.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    unit = root / "etc/systemd/system" / UNIT.name
    shutil.copy(UNIT, unit)
    (root / DROPINS / "button.conf").write_text("[Service]\nSupplementaryGroups=gpio\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir()
    (wants / UNIT.name).symlink_to(f"/etc/systemd/system/{UNIT.name}")
    venv = root / "opt/doorbell-edge"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").symlink_to(sys.executable)
    (venv / "pyvenv.cfg").write_text("include-system-site-packages = true\n")
    for path in [unit, *root.joinpath(DROPINS).iterdir(), root / "etc/doorbell/broker-hosts"]:
        path.chmod(0o644)

    second = plan(root, tmp_path, "--dry-run", extra_env={"DOORBELL_INSTALL_ROOT": str(root)})
    assert second.returncode == 0, second.stderr
    assert f"unchanged: {unit}" in second.stdout
    assert f"unchanged: {root}/{DROPINS}/broker.conf" in second.stdout
    assert "user doorbell exists" in second.stdout
    assert "doorbell is in group video" in second.stdout
    assert "already enabled" in second.stdout
    assert f"rm -f {root}/{DROPINS}/button.conf" in second.commands
    assert second.writes == {}
    for fragment in ("useradd", "usermod", "python3 -m venv", "systemctl enable"):
        assert not second.ran(fragment), fragment
    # An upgrade still refreshes the code and restarts the daemon.
    assert second.ran("--editable")
    assert second.ran(f"systemctl restart {UNIT.name}")


def _names_in_etc_hosts() -> list[str]:
    names = []
    for line in Path("/etc/hosts").read_text().splitlines():
        fields = line.split("#")[0].split()
        if len(fields) >= 2 and fields[0] == "127.0.0.1":
            names += [name for name in fields[1:] if name != "localhost"]
    return names


# --- the script itself and what it installs ------------------------------------------------


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed")
def test_script_is_shellcheck_clean() -> None:
    done = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout


# libcamera controls the profiles may set, with the values libcamera accepts.
LIBCAMERA_CONTROLS: dict[str, tuple[float, float]] = {
    "AeMeteringMode": (0, 3),  # centre-weighted, spot, matrix, custom
    "AeConstraintMode": (0, 3),  # normal, highlight, shadows, custom
    "AeExposureMode": (0, 3),  # normal, short, long, custom
    "ExposureValue": (-8.0, 8.0),
    "AfMode": (0, 2),  # manual, auto, continuous
    "LensPosition": (0.0, 32.0),  # dioptres
    "Saturation": (0.0, 32.0),
}


@pytest.mark.parametrize("profile", CAMERA_PROFILES, ids=lambda p: p.name)
def test_camera_profiles_use_real_libcamera_controls(profile: Path) -> None:
    data = tomllib.loads(profile.read_text())
    assert set(data) == {"tuning_file", "sensor_hdr", "controls"}
    assert isinstance(data["tuning_file"], str)
    assert isinstance(data["sensor_hdr"], bool)
    for name, value in data["controls"].items():
        low, high = LIBCAMERA_CONTROLS[name]
        assert low <= value <= high, f"{name} = {value}"
    if data["sensor_hdr"] or "AfMode" in data["controls"]:
        assert profile.name.startswith("cm3"), "only the IMX708 has HDR and autofocus"


def test_deploy_guide_lists_the_scripts_steps_in_order() -> None:
    script_steps = re.findall(r'^step "', SCRIPT.read_text(), flags=re.M)
    guide = (REPO / "docs" / "DEPLOY.md").read_text()
    listing = guide[guide.index("The script (its output") : guide.index("Every step checks first")]
    numbers = [int(n) for n in re.findall(r"^(\d+)\. ", listing, flags=re.M)]
    assert numbers == list(range(1, len(script_steps) + 1))
    stop = re.search(r"first run it stops at step (\d+)", guide)
    assert stop is not None
    lines = SCRIPT.read_text().splitlines()
    check_step = 1 + [i for i, line in enumerate(lines) if line.startswith('step "')].index(
        next(i for i, line in enumerate(lines) if line.startswith('step "doorbell config check'))
    )
    assert int(stop.group(1)) == check_step
