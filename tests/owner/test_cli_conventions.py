"""What every `doorbell` command shares: the config from `--config`/`-c` or
`$DOORBELL_CONFIG`, a quiet exit when its reader goes away, one line for a defect, and
journal priorities under systemd."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from daemon_support import make_device

from edge.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=60,
    )


def test_the_config_comes_from_doorbell_config(tmp_path, monkeypatch, capsys) -> None:
    device = make_device(tmp_path)
    monkeypatch.setenv("DOORBELL_CONFIG", str(device.config_path))
    assert main(["config", "check"]) == 0
    assert capsys.readouterr().out.strip() == f"{device.config_path}: ok"
    monkeypatch.delenv("DOORBELL_CONFIG")
    assert main(["config", "check", "-c", str(device.config_path)]) == 0
    assert main(["config", "check", "--config", str(device.config_path)]) == 0
    assert main(["config", "check", str(device.config_path)]) == 0  # the older form


@pytest.mark.parametrize("argv", [["config", "schema"], ["config", "example"]])
def test_a_reader_that_goes_away_ends_the_command_quietly(argv: list[str]) -> None:
    result = subprocess.run(
        f"{sys.executable} -m edge {' '.join(argv)} | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert result.stderr == ""


def test_a_defect_is_one_line_and_its_traceback_only_with_verbose(
    tmp_path, monkeypatch, capsys
) -> None:
    from edge.commands import clips_cmd

    def broken(_state_dir, include_deleted=False):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(clips_cmd, "read_clips", broken)
    monkeypatch.setenv("DOORBELL_CONFIG", str(make_device(tmp_path).config_path))
    assert main(["clips"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "doorbell: error: unexpected ZeroDivisionError: division by zero (run with -v for details)"
    ]


_LOG_AN_ERROR = (
    "import logging, os\n"
    "from edge.logs import configure_logging\n"
    "configure_logging(False)\n"
    "logging.getLogger('edge.device.test').error('camera gone')\n"
    "logging.getLogger('edge.device.test').info('recording')\n"
)


def test_under_systemd_log_lines_carry_journal_priorities(tmp_path) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as file:
        st = os.fstat(file.fileno())
        subprocess.run(
            [sys.executable, "-c", _LOG_AN_ERROR],
            stderr=file,
            cwd=ROOT,
            env={**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"},
            timeout=60,
            check=True,
        )
    assert err.read_text().splitlines() == [
        "<3>edge.device.test: camera gone",
        "<6>edge.device.test: recording",
    ]


def test_on_a_terminal_log_lines_keep_their_time() -> None:
    result = run(_LOG_AN_ERROR, JOURNAL_STREAM="1:2")  # someone else's stream
    first = result.stderr.splitlines()[0]
    assert first.endswith("ERROR edge.device.test: camera gone")
    assert first[:4].isdigit()


def test_each_command_is_registered_by_the_module_the_cli_imports_for_it() -> None:
    import argparse
    import importlib

    from edge.cli import COMMANDS

    for command, module in COMMANDS.items():
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers(dest="command")
        importlib.import_module(module).register(sub)
        assert command in sub.choices, (command, module)
    full = build_parser()
    registered = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert list(registered.choices) == list(COMMANDS)


def test_decrypt_loads_no_other_command() -> None:
    result = run(
        "import sys\n"
        "from edge.cli import main\n"
        "try:\n"
        "    main(['decrypt', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('edge.commands.', 'pydantic', "
        "'paho', 'sqlite3', 'cv2', 'av'))))\n"
    )
    assert result.stdout.strip().splitlines()[-1] == "['edge.commands.decrypt_cmd']"


_DECRYPT_A_FILE = (
    "import sys\n"
    "from pathlib import Path\n"
    "from edge.core.vault import X25519Identity, encrypt_bytes\n"
    "folder = Path(sys.argv[1])\n"
    "identity = X25519Identity.generate()\n"
    "(folder / 'key.txt').write_text(str(identity) + '\\n')\n"
    "(folder / 'clip.age').write_bytes(encrypt_bytes([identity.recipient], b'x' * 1000))\n"
    "before = set(sys.modules)\n"
    "from edge.cli import main\n"
    "{patch}"
    "code = main([*sys.argv[2:], 'decrypt', str(folder / 'clip.age'), '-i', "
    "str(folder / 'key.txt'), '-o', str(folder / 'clip.bin')])\n"
    "print(code, sorted(m for m in set(sys.modules) - before if m in {modules}))\n"
)
# Start-up is most of what `doorbell decrypt` costs on a short file (docs/PERFORMANCE.md):
# these modules cost milliseconds each to import and the command has no use for them.
_NOT_FOR_DECRYPT = ("logging", "dataclasses", "hashlib", "hmac", "secrets", "edge.logs")


def test_decrypt_imports_no_logging_and_no_other_startup_weight(tmp_path: Path) -> None:
    code = _DECRYPT_A_FILE.format(patch="", modules=_NOT_FOR_DECRYPT)
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.stdout.split() == ["0", "[]"], result.stderr
    assert (tmp_path / "clip.bin").read_bytes() == b"x" * 1000


@pytest.mark.parametrize("verbose", [False, True])
def test_a_defect_in_decrypt_is_one_line_and_its_traceback_only_with_verbose(
    tmp_path: Path, verbose: bool
) -> None:
    # `decrypt` sets up logging only when it fails unexpectedly; -v must still show why.
    patch = (
        "import edge.commands.decrypt_cmd as command\n"
        "def broken(*args, **kwargs):\n"
        "    raise ZeroDivisionError('division by zero')\n"
        "command._copy_plaintext = broken\n"
    )
    code = _DECRYPT_A_FILE.format(patch=patch, modules=())
    argv = ["-v"] if verbose else []
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.stdout.split() == ["1", "[]"]
    lines = result.stderr.splitlines()
    assert lines[-1] == (
        "doorbell: error: unexpected ZeroDivisionError: division by zero (run with -v for details)"
    )
    assert ("Traceback (most recent call last):" in lines) is verbose
    assert not (tmp_path / "clip.bin").exists()
