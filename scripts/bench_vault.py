"""Measure vault throughput against the `age` CLI on the same random input.

Ours runs in memory (as the recorder uses it) and, for comparison with `age`, also to a
file; `age` runs as a subprocess on files in a temporary folder (random bytes, not
pixels, so files are fine), process start included. Each figure is the best of
`--repeat` runs, with the median beside it: the machine is shared, so expect noise.

    python scripts/bench_vault.py [--size-mb 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from edge.core.vault import Sink, X25519Identity, open_reader, open_writer


class DiscardingSink:
    """Drops what it gets: shows the cipher's own speed, without any memory traffic."""

    def write(self, data: bytes | memoryview) -> None:
        pass


def best_and_median(run: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def encrypt_into(identity: X25519Identity, data: bytes, piece: int, sink: Sink) -> None:
    view = memoryview(data)
    with open_writer([identity.recipient], sink) as writer:
        for offset in range(0, len(view), piece):
            writer.write(view[offset : offset + piece])


def encrypt_in_memory(identity: X25519Identity, data: bytes, piece: int) -> bytes:
    sink = io.BytesIO()
    encrypt_into(identity, data, piece, sink)
    return sink.getvalue()


def encrypt_into_reused(identity: X25519Identity, data: bytes, sink: io.BytesIO) -> None:
    sink.seek(0)
    encrypt_into(identity, data, 1 << 20, sink)


def encrypt_to_file(identity: X25519Identity, data: bytes, path: Path) -> None:
    with path.open("wb") as sink:
        encrypt_into(identity, data, 1 << 20, sink)


def decrypt_streaming(identity: X25519Identity, encrypted: bytes) -> None:
    """Decrypt as `doorbell decrypt` does: one reused buffer, no whole-file result."""
    reader = open_reader([identity], io.BytesIO(encrypted))
    buffer = bytearray(1 << 20)
    while reader.readinto(buffer):
        pass


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=50, help="input size in MB (10**6 bytes)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; best is reported")
    args = parser.parse_args()

    size = args.size_mb * 1_000_000
    data = os.urandom(size)
    identity = X25519Identity.generate()
    age_version = subprocess.run(["age", "--version"], capture_output=True, text=True).stdout
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}; load {os.getloadavg()[0]:.1f}")
    print(f"input: {size / 1e6:.0f} MB random bytes; age {age_version.strip()}")

    def measure(name: str, run: Callable[[], object]) -> None:
        best, median = best_and_median(run, args.repeat)
        rows[name] = (size / 1e6 / best, size / 1e6 / median)

    rows: dict[str, tuple[float, float]] = {}
    for piece in (4096, 65536, 1 << 20):
        measure(
            f"ours encrypt, in memory, {piece} B writes",
            lambda p=piece: encrypt_in_memory(identity, data, p),
        )
    reused = io.BytesIO()
    measure(
        "ours encrypt, reused buffer, 1 MiB writes",
        lambda: encrypt_into_reused(identity, data, reused),
    )
    measure(
        "ours encrypt, no sink (cipher only)",
        lambda: encrypt_into(identity, data, 1 << 20, DiscardingSink()),
    )
    encrypted = encrypt_in_memory(identity, data, 1 << 20)
    measure(
        "ours decrypt, in memory, read() all",
        lambda: open_reader([identity], io.BytesIO(encrypted)).read(),
    )
    measure(
        "ours decrypt, streaming 1 MiB readinto", lambda: decrypt_streaming(identity, encrypted)
    )

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "key").write_text(f"{identity}\n")
        (tmp / "in").write_bytes(data)
        measure(
            "ours encrypt, to a file, 1 MiB writes",
            lambda: encrypt_to_file(identity, data, tmp / "ours.age"),
        )
        encrypt_cmd = [
            "age",
            "-r",
            str(identity.recipient),
            "-o",
            str(tmp / "in.age"),
            str(tmp / "in"),
        ]
        decrypt_cmd = [
            "age",
            "-d",
            "-i",
            str(tmp / "key"),
            "-o",
            str(tmp / "out"),
            str(tmp / "in.age"),
        ]
        measure("age -r, file to file", lambda: subprocess.run(encrypt_cmd, check=True))
        measure("age -d, file to file", lambda: subprocess.run(decrypt_cmd, check=True))
        assert (tmp / "out").read_bytes() == data

    print(f"{'what':42} {'best MB/s':>10} {'median MB/s':>12}")
    for name, (best, median) in rows.items():
        print(f"{name:42} {best:10.0f} {median:12.0f}")
    age_encrypt = rows["age -r, file to file"][0]
    age_decrypt = rows["age -d, file to file"][0]
    ratios = {
        "encrypt in memory": rows["ours encrypt, in memory, 1048576 B writes"][0] / age_encrypt,
        "encrypt to a file": rows["ours encrypt, to a file, 1 MiB writes"][0] / age_encrypt,
        "decrypt read() all": rows["ours decrypt, in memory, read() all"][0] / age_decrypt,
        "decrypt streaming": rows["ours decrypt, streaming 1 MiB readinto"][0] / age_decrypt,
    }
    print("ratio ours/age (best): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
