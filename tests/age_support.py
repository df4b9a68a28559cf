"""Running the real `age` CLI where it insists on a terminal (passphrase prompts)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path


def run_age_with_passphrase(
    args: list[str], passphrase: bytes, stdout: Path, timeout: float = 60
) -> tuple[int, bytes]:
    """Run `age ARGS` on a pseudo-terminal, answering every passphrase prompt.

    Returns the exit status and what age printed on stderr; stdout goes to `stdout`.
    """
    master, slave = pty.openpty()

    def take_terminal() -> None:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    with stdout.open("wb") as out:
        process = subprocess.Popen(
            ["age", *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=take_terminal,
            pass_fds=(slave,),
        )
    os.close(slave)
    transcript = b""
    answered = 0
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise TimeoutError(f"age {args} did not finish; terminal said {transcript!r}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    transcript += os.read(master, 4096)
                except OSError:
                    continue
                while transcript.count(b"passphrase") > answered:
                    os.write(master, passphrase + b"\n")
                    answered += 1
        _, stderr = process.communicate()
    finally:
        os.close(master)
    return process.returncode, stderr
