"""Measure what hybrid post-quantum (mlkem768x25519) recipients cost, and `doorbell decrypt`
as a whole process against `age -d`.

1. Header cost per segment: the time to start an age file (fresh file key, wrap to the
   recipient, header MAC) for one hybrid and one classic X25519 recipient, on one core
   in this process, and the header bytes each adds to every file. The anchor is the time
   to encrypt a typical 2 s segment (`--segment-kb`, default 384) in the same run.
2. `doorbell decrypt FILE -i KEY` against `age -d -i KEY FILE`, to stdout (/dev/null)
   and to a file (`-o OUT`), on the same `--decrypt-mb` file (random bytes, encrypted by
   `age` to a classic key so both tools can open it), start-up included, alternating,
   best / median of `--repeat` and the ratios pair by pair; also the decrypt loop alone
   and the bare start-up. `doorbell` is the installed console script (`--doorbell`,
   default the one beside this interpreter), as a user runs it: install the checkout
   into a virtualenv first (`python3 -m venv V && V/bin/pip install .`).
3. With `--replay-runs N`: `doorbell replay` of the pipeline bench's clip with a hybrid
   owner recipient and with a classic one, alternating, fps of each run.

    V/bin/python scripts/bench_pq.py [--repeat 5] [--decrypt-mb 200] [--replay-runs 0]
        [--cpu 0] [--doorbell V/bin/doorbell]

Parts 1 and 3 run this checkout (it is put first on sys.path); part 2 the installed copy.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge.core.vault import (  # noqa: E402  (the checkout first, before an installed copy)
    MLKEM768X25519Identity,
    Recipient,
    X25519Identity,
    encrypt_bytes,
    open_writer,
)


class DiscardingSink:
    """Drops what it gets, so only the vault's own work is timed."""

    def write(self, data: bytes | memoryview) -> None:
        pass


def per_call_us(run: Callable[[], object], calls: int, repeat: int) -> tuple[float, float]:
    """Best and median over `repeat` rounds of the mean time of one call, in microseconds.

    On a shared machine the best round is the one least disturbed by other work."""
    rounds = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return min(rounds), statistics.median(rounds)


def start_file(recipient: Recipient) -> None:
    """Open a writer (the whole header) and finish an empty file."""
    with open_writer([recipient], DiscardingSink()):
        pass


def header_cost(repeat: int, segment_kb: int) -> None:
    hybrid = MLKEM768X25519Identity.generate().recipient
    classic = X25519Identity.generate().recipient
    payload = os.urandom(segment_kb * 1024)

    def segment() -> None:
        with open_writer([classic], DiscardingSink()) as writer:
            writer.write(payload)

    print(f"1. header cost per file (one core; best / median of {repeat} rounds)")
    anchor, anchor_median = per_call_us(segment, 20, repeat)
    print(
        f"   encrypt a {segment_kb} KiB segment (classic), anchor: "
        f"{anchor:7.1f} / {anchor_median:7.1f} us"
    )
    sizes = {}
    for name, recipient in (("classic X25519", classic), ("hybrid mlkem768x25519", hybrid)):
        wrap, wrap_median = per_call_us(lambda r=recipient: r.wrap(bytes(16)), 300, repeat)
        whole, whole_median = per_call_us(lambda r=recipient: start_file(r), 300, repeat)
        sizes[name] = len(encrypt_bytes([recipient], b"")) - 16 - 16  # minus nonce and tag
        print(
            f"   {name:22}: wrap {wrap:6.1f} / {wrap_median:6.1f} us, header+empty file "
            f"{whole:6.1f} / {whole_median:6.1f} us (best {whole / anchor:.1%} of the anchor's), "
            f"header {sizes[name]} bytes"
        )
    added = sizes["hybrid mlkem768x25519"] - sizes["classic X25519"]
    share = added / (segment_kb * 1024)
    print(f"   hybrid adds {added} bytes per file ({share:.2%} of the segment)")


def process_seconds(command: list[str], before: Callable[[], None]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `command` as a child process (its own environment)."""
    before()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return wall, cpu


def doorbell_command(given: str | None) -> list[str]:
    """The installed `doorbell` console script, as a user runs it: `--doorbell`, else the one
    beside this interpreter (a virtualenv's). Never a version manager's shim, whose own
    start-up (a shell script) would be timed too."""
    script = Path(given) if given else Path(sys.executable).parent / "doorbell"
    if not script.is_file():
        raise SystemExit(
            f"no doorbell console script at {script}: install the checkout into a virtualenv "
            "(python3 -m venv V && V/bin/pip install .) and run this with V/bin/python"
        )
    return [str(script)]


def decrypt_in_process(encrypted: Path, key: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of the decrypt command's streaming loop, without start-up."""
    from edge.commands.decrypt_cmd import _copy_plaintext
    from edge.core.vault import parse_identities

    identities = parse_identities(key.read_text())
    out.unlink(missing_ok=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with encrypted.open("rb", buffering=0) as source, out.open("wb") as sink:
        _copy_plaintext(identities, source, sink)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime


def _summary(name: str, results: list[tuple[float, float]]) -> str:
    walls, cpus = [r[0] for r in results], [r[1] for r in results]
    return (
        f"   {name:34}: wall {min(walls):.3f} / {statistics.median(walls):.3f} s, "
        f"cpu {min(cpus):.3f} / {statistics.median(cpus):.3f} s"
    )


def _ratios(ours: list[tuple[float, float]], theirs: list[tuple[float, float]]) -> str:
    """Median of the ratios doorbell / age pair by pair (each pair ran back to back)."""
    wall = [a[0] / b[0] for a, b in zip(ours, theirs, strict=True)]
    cpu = [a[1] / b[1] for a, b in zip(ours, theirs, strict=True)]
    return (
        f"   ratio doorbell / age pair by pair: wall {statistics.median(wall):.2f} "
        f"({min(wall):.2f}-{max(wall):.2f}), cpu {statistics.median(cpu):.2f} "
        f"({min(cpu):.2f}-{max(cpu):.2f})"
    )


def decrypt_processes(repeat: int, size_mb: int, doorbell: list[str]) -> None:
    if shutil.which("age") is None or shutil.which("age-keygen") is None:
        print("2. skipped: the age CLI is not installed")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = root / "key.txt"
        subprocess.run(["age-keygen", "-o", str(key)], check=True, capture_output=True)
        public = subprocess.run(
            ["age-keygen", "-y", str(key)], check=True, capture_output=True, text=True
        ).stdout.strip()
        plain = root / "plain.bin"
        with plain.open("wb") as out:
            for _ in range(size_mb):
                out.write(os.urandom(1 << 20))
        encrypted = root / "file.age"
        subprocess.run(["age", "-r", public, "-o", str(encrypted), str(plain)], check=True)
        ours_out, age_out = root / "ours.bin", root / "age.bin"
        ours = [*doorbell, "decrypt", str(encrypted), "-i", str(key)]
        theirs = ["age", "-d", "-i", str(key), str(encrypted)]
        cases = {
            "to stdout (/dev/null)": (ours, theirs),
            "to a file (-o)": (
                [*ours, "-o", str(ours_out)],
                [*theirs[:-1], "-o", str(age_out), theirs[-1]],
            ),
        }

        def clear() -> None:
            ours_out.unlink(missing_ok=True)
            age_out.unlink(missing_ok=True)

        def keep() -> None:
            pass

        print(f"2. decrypt a {size_mb} MB file, whole processes, best / median of {repeat}")
        print(f"   doorbell = {' '.join(doorbell)}")
        for case, (our_command, their_command) in cases.items():
            process_seconds(our_command, clear)  # warm-up: page cache, .pyc files
            process_seconds(their_command, clear)
            runs: dict[str, list[tuple[float, float]]] = {"doorbell": [], "age": []}
            for _ in range(repeat):
                runs["doorbell"].append(process_seconds(our_command, clear))
                runs["age"].append(process_seconds(their_command, clear))
            print(_summary(f"doorbell decrypt, {case}", runs["doorbell"]))
            print(_summary(f"age -d, {case}", runs["age"]))
            print(_ratios(runs["doorbell"], runs["age"]))
        process_seconds([*ours, "-o", str(ours_out)], clear)
        if ours_out.read_bytes() != plain.read_bytes():
            raise SystemExit("doorbell decrypt produced the wrong plaintext")
        in_process = [decrypt_in_process(encrypted, key, ours_out) for _ in range(repeat)]
        print(_summary("the decrypt loop alone, in here", in_process))
        for name, command in (
            ("start-up, doorbell decrypt --help", [*doorbell, "decrypt", "--help"]),
            ("start-up, bare python", [sys.executable, "-c", "pass"]),
        ):
            print(_summary(name, [process_seconds(command, keep) for _ in range(repeat)]))


def replay_fps(runs: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from bench_pipeline import DEV_CLIP, replay_once
    from daemon_support import make_device, write_scene_video

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        video = DEV_CLIP if DEV_CLIP.is_file() else write_scene_video(root / "scene.mp4", 22.0)
        print(f"3. replay {video.name} with a hybrid vs a classic owner recipient")
        results: dict[str, list[float]] = {"hybrid": [], "classic": []}
        cpu_ms: dict[str, list[float]] = {"hybrid": [], "classic": []}
        for run in range(runs):
            # Alternate which goes first, so neither always runs on a warmer machine.
            for kind in list(results) if run % 2 == 0 else list(results)[::-1]:
                (root / f"{kind}{run}").mkdir()
                device = make_device(root / f"{kind}{run}")
                if kind == "hybrid":
                    recipient = str(MLKEM768X25519Identity.generate().recipient)
                    text = device.config_path.read_text()
                    device.config_path.write_text(text.replace(device.owner.recipient, recipient))
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                summary, _ = replay_once(video, device.config_path)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
                ms_per_frame = cpu / summary["frames_processed"] * 1000
                results[kind].append(summary["fps"])
                cpu_ms[kind].append(ms_per_frame)
                print(
                    f"   run {run + 1} {kind:7}: {summary['fps']:.2f} fps, "
                    f"CPU {ms_per_frame:.1f} ms/frame"
                )
        for kind, fps in results.items():
            print(
                f"   {kind:7} median {statistics.median(fps):.2f} fps, "
                f"CPU {statistics.median(cpu_ms[kind]):.1f} ms/frame"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    # 2 s of 720p H.264 at the ~1.5 Mbit/s the encoder section of PERFORMANCE.md measured.
    parser.add_argument("--segment-kb", type=int, default=384)
    parser.add_argument("--decrypt-mb", type=int, default=200)
    parser.add_argument("--replay-runs", type=int, default=0)
    parser.add_argument("--doorbell", help="the doorbell console script to time (see part 2)")
    parser.add_argument("--cpu", type=int, help="run everything on this one processor")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})  # child processes inherit it
    where = f"pinned to cpu {args.cpu}" if args.cpu is not None else "not pinned"
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, {where}")
    header_cost(args.repeat, args.segment_kb)
    decrypt_processes(args.repeat, args.decrypt_mb, doorbell_command(args.doorbell))
    if args.replay_runs:
        sys.path.insert(0, str(ROOT / "scripts"))
        replay_fps(args.replay_runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
